"""The harness itself: the system is up, the emulator answers, the page watcher catches what it must."""
import pytest
from playwright.sync_api import expect

from browser import assert_accessible, sign_in
from harness import http


def test_system_ready_and_emulator_reachable(stack):
    assert http("GET", stack.base_url + "/readyz")["status"] == "ready"
    assert isinstance(stack.emulator("/_emulator/tasks")["tasks"], list)
    # acme is connected to the emulator: the connection test reads its account there.
    result = stack.api("POST", "/api/v1/integrations/kommo/test")
    assert result["ok"] is True
    assert result["account"]["subdomain"] == "acmesales"


def test_sign_in_shows_the_agents_page(page, stack):
    sign_in(page, stack)
    expect(page.get_by_role("heading", name="Agents", exact=True)).to_be_visible()
    assert_accessible(page)


def test_watcher_records_console_errors_and_error_answers(browser, stack):
    from browser import watch
    context = browser.new_context()
    page = context.new_page()
    trouble = watch(page)
    page.goto(stack.base_url + "/admin/")
    page.evaluate("console.error('boom')")
    page.evaluate("fetch('/api/v1/no-such-route').catch(() => {})")
    page.wait_for_timeout(300)
    context.close()
    assert any("boom" in line for line in trouble.console)
    assert any("/api/v1/no-such-route" in line for line in trouble.requests)
