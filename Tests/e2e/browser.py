"""Browser helpers: a page that records what went wrong, the accessibility check, signing in."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

_axe = Axe()


@dataclass
class Trouble:
    """What a page did wrong: console errors, uncaught exceptions, failed requests and error answers."""
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    # (status, url regex) pairs a test expects, e.g. a form whose server validation answers 400.
    allowed: list[tuple[int, re.Pattern]] = field(default_factory=list)

    def allow(self, status: int, url_pattern: str = ".*"):
        """Lets answers with `status` on URLs matching `url_pattern` pass (a test that provokes them)."""
        self.allowed.append((status, re.compile(url_pattern)))

    def is_allowed(self, status: int, url: str) -> bool:
        return any(status == s and p.search(url) for s, p in self.allowed)

    def problems(self) -> list[str]:
        return self.console + self.errors + self.requests


def watch(page: Page) -> Trouble:
    trouble = Trouble()

    def on_console(message):
        text = f"[{message.type}] {message.text}"
        location = message.location or {}
        if location.get("url"):
            text += f"  ({location['url']}:{location.get('lineNumber')})"
        trouble.log.append(text)
        # Chromium logs every answer ≥ 400 as "Failed to load resource"; those are judged by their
        # response below, where a test can allow the ones it provokes.
        if message.type == "error" and "Failed to load resource: the server responded with a status of" not in message.text:
            trouble.console.append(text)

    def on_page_error(error):
        trouble.log.append(f"[pageerror] {error}")
        trouble.errors.append(f"uncaught: {error}")

    def on_request_failed(request):
        failure = request.failure or ""
        # A navigation or a fetch the page itself cancelled (leaving a page, an aborted live stream).
        if "ERR_ABORTED" in failure:
            trouble.log.append(f"[aborted] {request.method} {request.url}")
            return
        trouble.log.append(f"[requestfailed] {request.method} {request.url}: {failure}")
        trouble.requests.append(f"failed request: {request.method} {request.url}: {failure}")

    def on_response(response):
        if response.status >= 400:
            line = f"{response.status} {response.request.method} {response.url}"
            trouble.log.append(f"[response] {line}")
            if not trouble.is_allowed(response.status, response.url):
                trouble.requests.append(f"error answer: {line}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    page.on("requestfailed", on_request_failed)
    page.on("response", on_response)
    return trouble


def allow_missing_catalog(page: Page):
    """The rule and sequence pages read the Kommo catalog (GET /api/v1/kommo/catalog) and fall back to ids
    without it; on a gateway that does not serve it yet that read answers 404, which is not a fault here."""
    page.trouble.allow(404, r"/api/v1/kommo/catalog")


def assert_accessible(page: Page, what: str | None = None, context=None):
    """Runs axe-core on the page as it is now; fails on any serious or critical violation."""
    results = _axe.run(page, context=context)
    bad = [v for v in results.response.get("violations", []) if v.get("impact") in ("serious", "critical")]
    if bad:
        lines = []
        for violation in bad:
            targets = [", ".join(node.get("target", [])) for node in violation.get("nodes", [])][:5]
            lines.append(f"{violation['impact']}: {violation['id']} — {violation['help']} — at {targets}")
        raise AssertionError(f"accessibility violations on {what or page.url}:\n" + "\n".join(lines))


def sign_in(page: Page, stack, tenant: str = "acme", path: str = "#/agents"):
    """Opens the admin UI at `path`, signs in with the tenant's API key (or the admin token for "admin")
    through the sign-in form, and waits until the form is gone."""
    page.goto(f"{stack.base_url}/admin/{path}")
    admin = tenant == "admin"
    token = stack.admin_token if admin else stack.tenants[tenant].key
    box = page.get_by_label("Admin token" if admin else "API key")
    expect(box).to_be_visible()
    box.fill(token)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(box).to_have_count(0)
