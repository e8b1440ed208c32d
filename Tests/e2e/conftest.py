"""Fixtures of the browser tests.

- `stack` (session): the four real processes and the Kommo emulator on loopback (see harness.py).
- `browser` (session): Debian's Chromium, launched by its path (CHROMIUM, default /usr/bin/chromium).
- `page` (function): a fresh browser context at 1280×800 whose page records console errors, uncaught
  exceptions, failed requests and error answers; the test fails on any (`page.trouble.allow(400, "/rules")`
  lets a test provoke one). On failure a screenshot and the page's console log are written to
  `.build/e2e-output/` (or E2E_OUTPUT).
- helpers for tests: `assert_accessible(page)`, `sign_in(page, stack, tenant)` from browser.py.
"""
from __future__ import annotations

import os
import re
import shutil

import pytest
from playwright.sync_api import sync_playwright

from browser import assert_accessible, sign_in, watch  # noqa: F401  (re-exported for tests)
from harness import CHROMIUM, OUTPUT, start_stack


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def pytest_sessionstart(session):
    if OUTPUT.exists():
        shutil.rmtree(OUTPUT)
    OUTPUT.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def stack():
    system = start_stack()
    try:
        yield system
    finally:
        dead = system.dead()
        system.stop()
        if dead:
            for name in dead:
                print(f"--- {name} exited early:\n{system.log_tail(name)}")
        keep = os.environ.get("E2E_KEEP_DATA") == "1" or dead
        if keep:
            print(f"data and logs kept in {system.data}")
        else:
            shutil.rmtree(system.data, ignore_errors=True)
        assert not dead, f"processes exited during the run: {dead}"


@pytest.fixture(scope="session")
def playwright_instance():
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance):
    if not os.path.exists(CHROMIUM):
        pytest.exit(f"{CHROMIUM} is missing: scripts/install-deps installs Debian's chromium", returncode=3)
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                  args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
    yield browser
    browser.close()


def _artifact_name(item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid.split("::", 1)[-1])[:120]


@pytest.fixture
def viewport():
    """The page's size; a test overrides it with `@pytest.mark.parametrize("viewport", [...], indirect=True)`
    or by its own fixture of this name."""
    return {"width": 1280, "height": 800}


@pytest.fixture
def page(request, browser, stack, viewport):
    context = browser.new_context(viewport=viewport, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(10_000)
    page = context.new_page()
    trouble = watch(page)
    page.trouble = trouble
    yield page
    call = getattr(request.node, "report_call", None)
    failed = call is None or call.failed
    problems = trouble.problems()
    if failed or problems:
        name = _artifact_name(request.node)
        try:
            page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)
        except Exception as error:  # a crashed page still gets its log written
            trouble.log.append(f"[screenshot failed] {error}")
        (OUTPUT / f"{name}.console.txt").write_text(
            f"url: {page.url}\n" + "\n".join(trouble.log) + ("\n\nproblems:\n" + "\n".join(problems) if problems else "") + "\n")
    context.close()
    if problems and not failed:
        pytest.fail("the page reported problems:\n" + "\n".join(problems), pytrace=False)
