"""Live monitoring: the history refreshes itself (not while the tab is hidden), its filters live in the
address, outcomes read in plain words with their code, sequences are shown by name."""
import re

from playwright.sync_api import expect

from browser import assert_accessible, sign_in
from test_flows import new_lead, stage_change

HIDE = """() => {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => window.__visibility });
  window.__visibility = 'hidden';
  document.dispatchEvent(new Event('visibilitychange'));
}"""
SHOW = """() => { window.__visibility = 'visible'; document.dispatchEvent(new Event('visibilitychange')); }"""


def test_history_asks_nothing_while_the_tab_is_hidden_and_catches_up_when_shown(page, stack):
    sign_in(page, stack, path="#/webhooks")
    status = page.locator(".live-status")
    expect(status).to_contain_text("every 3 s")
    page.evaluate(HIDE)
    expect(status).to_contain_text("paused while this tab is hidden")
    asked = []
    page.on("request", lambda request: asked.append(request.url) if "/api/v1/webhooks/events" in request.url else None)
    lead = new_lead()
    stage_change(stack, lead)
    page.wait_for_timeout(7000)
    assert asked == [], f"the hidden page asked for events: {asked}"
    expect(page.get_by_role("link", name=lead, exact=True)).to_have_count(0)
    page.evaluate(SHOW)
    # Shown again: it asks at once, not after another interval.
    expect(page.get_by_role("link", name=lead, exact=True)).to_be_visible(timeout=2500)


def test_history_filters_live_in_the_address(page, stack):
    lead, other = new_lead(), new_lead()
    stage_change(stack, lead)
    stage_change(stack, other)
    stack.wait_for(lambda: len(stack.api("GET", f"/api/v1/webhooks/events?lead_id={other}")["items"]) > 0, what="the events")
    sign_in(page, stack, path="#/webhooks")
    form = page.locator("form.filters")
    form.get_by_label("Lead id").fill(lead)
    form.get_by_label("Event type").fill("stage_changed")
    form.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(rf"#/webhooks\?type=stage_changed&lead_id={lead}$"))
    shared = page.url
    # The link, opened anew, restores the filters and the list they make.
    page.goto(f"{stack.base_url}/admin/#/")
    page.goto(shared)
    expect(page.locator("form.filters").get_by_label("Lead id")).to_have_value(lead)
    expect(page.locator("form.filters").get_by_label("Event type")).to_have_value("stage_changed")
    expect(page.get_by_role("link", name=lead, exact=True).first).to_be_visible()
    expect(page.get_by_role("link", name=other, exact=True)).to_have_count(0)
    assert_accessible(page, "the filtered history")


def test_outcomes_read_in_plain_words_with_their_code(page, stack):
    agent = stack.api("POST", "/api/v1/agents", "acme", {"name": "Words"})
    stack.api("POST", f"/api/v1/agents/{agent['id']}/rules", "acme", {
        "name": "Only on won", "trigger": {"type": "stage_changed", "stage_id": 142},
        "actions": [{"type": "add_note", "text": "Won"}]})
    lead = new_lead()
    stage_change(stack, lead)
    event = stack.wait_for(lambda: stack.api("GET", f"/api/v1/webhooks/events?lead_id={lead}")["items"], what="the event")[0]
    stack.wait_for(lambda: stack.api("GET", f"/api/v1/webhooks/events/{event['id']}").get("decision"), what="the decision")
    sign_in(page, stack, path=f"#/webhooks/events/{event['id']}")
    # The dry run explains every rule, the ones that did not fire too.
    page.get_by_role("button", name="Replay (dry run)").click()
    row = page.locator(".replay-result").get_by_role("row").filter(has_text="Only on won")
    expect(row).to_contain_text("waits for another trigger · trigger_mismatch")
    assert_accessible(page, "a dry run's explanations")


def test_the_lead_timeline_names_the_sequence(page, stack):
    agent = stack.api("POST", "/api/v1/agents", "acme", {"name": "Sequencer"})
    sequence = stack.api("POST", f"/api/v1/agents/{agent['id']}/sequences", "acme", {
        "name": "Welcome series", "status": "active", "trigger": {"type": "manual"},
        "steps": [{"delay_days": 1, "action": {"type": "add_note", "text": "Day one"}}]})
    lead = new_lead()
    stack.api("POST", f"/api/v1/agents/{agent['id']}/sequences/{sequence['id']}/enrollments", "acme", {"lead_id": int(lead)})
    sign_in(page, stack, path=f"#/leads/{lead}")
    timeline = page.locator("section", has=page.get_by_role("heading", name="Timeline"))
    link = timeline.get_by_role("link", name="Welcome series")
    expect(link).to_be_visible()
    link.click()
    expect(page).to_have_url(re.compile(re.escape(sequence["id"])))


def test_a_refresh_keeps_the_keyboard_focus_where_it_was(page, stack):
    lead = new_lead()
    stage_change(stack, lead)
    stack.wait_for(lambda: stack.api("GET", f"/api/v1/webhooks/events?lead_id={lead}")["items"], what="the event")
    sign_in(page, stack, path="#/webhooks")
    link = page.get_by_role("link", name=lead, exact=True).first
    link.focus()
    # A new event comes in and the list is redrawn around the focused link.
    newer = new_lead()
    stage_change(stack, newer)
    expect(page.get_by_role("link", name=newer, exact=True)).to_be_visible(timeout=10_000)
    focused = page.evaluate("() => document.activeElement && document.activeElement.textContent")
    assert focused == lead, f"the focus moved to {focused!r}"


def test_the_event_page_shows_actions_as_they_run(page, stack):
    from harness import http
    from test_flows import agent_with_task_rule
    # A stage of its own, so that only this test's rule fires (and only its task is late).
    agent_with_task_rule(stack, "Late actions", stage=61239001)
    # The Kommo account answers the task 6 s late: the page is open before the attempt is recorded.
    http("POST", stack.emulator_url + "/_emulator/stall", body={"ms": 6000, "times": 1})
    lead = new_lead()
    stage_change(stack, lead, stage=61239001)
    event = stack.wait_for(lambda: stack.api("GET", f"/api/v1/webhooks/events?lead_id={lead}")["items"], what="the event")[0]
    sign_in(page, stack, path=f"#/webhooks/events/{event['id']}")
    followed = page.locator("section", has=page.get_by_role("heading", name="Actions that followed"))
    expect(followed).to_contain_text("No action has run for this event (yet).")
    expect(followed).to_contain_text("create_task", timeout=15_000)
    expect(followed).to_contain_text("done · succeeded")
