"""What a new user does in the admin UI, in a real browser against the real system. Every page visited
is checked for accessibility, and the page fixture fails the test on any console error or failed request."""
import itertools
import json
import re
import secrets

from playwright.sync_api import expect

from browser import assert_accessible, sign_in

# Every test works on its own leads, so tests sharing the one system do not see each other's events.
_leads = itertools.count(5_500_000 + secrets.randbelow(100_000) * 10)


def new_lead() -> str:
    return str(next(_leads))


def stage_change(stack, lead: str, tenant: str = "acme", stage: int = 61234502):
    """Kommo's stage-change webhook (to stage 61234502, or `stage`) for `lead`."""
    return stack.post_fixture("lead_status_changed.form", tenant, replace={"4410021": lead, "61234502": str(stage)})


def agent_with_task_rule(stack, name: str, tenant: str = "acme", stage: int = 61234502):
    agent = stack.api("POST", "/api/v1/agents", tenant, {"name": name})
    rule = stack.api("POST", f"/api/v1/agents/{agent['id']}/rules", tenant, {
        "name": "Call qualified leads", "trigger": {"type": "stage_changed", "stage_id": stage},
        "actions": [{"type": "create_task", "text": "Call {{lead.name}} ({{lead.id}})", "due_in_seconds": 3600}]})
    return agent, rule


def test_sign_in_refuses_a_wrong_key_then_accepts_the_right_one(page, stack):
    page.trouble.allow(401, r"/api/v1/api-keys$")
    page.goto(f"{stack.base_url}/admin/#/agents")
    assert_accessible(page, "the sign-in form")
    page.get_by_label("API key").fill("ka_wrong")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert").filter(has_text="was refused")).to_be_visible()
    sign_in(page, stack)
    expect(page.get_by_role("heading", name="Agents", exact=True)).to_be_visible()


def test_create_an_agent(page, stack):
    sign_in(page, stack)
    page.get_by_role("button", name="New agent").click()
    name = page.get_by_label("Name", exact=True)
    expect(name).to_be_focused()
    assert_accessible(page, "the new-agent form")
    name.fill("Marta")
    page.get_by_role("button", name="Create agent").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Marta")
    expect(page).to_have_url(re.compile(r"#/agents/agt_"))
    assert_accessible(page, "the agent page")
    page.get_by_role("link", name="Agents", exact=True).first.click()
    expect(page.get_by_role("link", name="Marta")).to_be_visible()


def test_create_a_script_with_a_variable_and_preview_it(page, stack):
    agent = stack.api("POST", "/api/v1/agents", "acme", {"name": "Script writer"})
    sign_in(page, stack, path=f"#/agents/{agent['id']}/scripts")
    page.get_by_role("button", name="New script").click()
    page.get_by_label("Name", exact=True).fill("Spring promo")
    page.get_by_label("Text").fill("Hi {{contact.first_name|there}}, your code is {{promo_code}}.")
    page.get_by_label("Own variables").fill("promo_code")
    assert_accessible(page, "the new-script form")
    page.get_by_role("button", name="Create script").click()
    expect(page.get_by_role("heading", name="Edit script")).to_be_visible()
    preview = page.locator("form", has=page.get_by_role("heading", name="Preview"))
    preview.get_by_label("Sample values (JSON)").fill(json.dumps({"promo_code": "SPRING25"}))
    preview.get_by_role("button", name="Render").click()
    expect(preview.locator("pre.preview")).to_have_text("Hi there, your code is SPRING25.")
    assert_accessible(page, "the script page with a preview")


def test_webhooks_appear_in_history_without_reloading(page, stack):
    sign_in(page, stack, path="#/webhooks")
    expect(page.get_by_role("heading", name="Webhook history")).to_be_visible()
    lead = new_lead()
    page.evaluate("window.__sameDocument = true")
    stage_change(stack, lead)
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=lead, exact=True))
    expect(row.first).to_be_visible(timeout=15_000)
    expect(row.first).to_contain_text("stage_changed")
    # The page was not reloaded: what was set on it is still there.
    assert page.evaluate("window.__sameDocument") is True
    assert_accessible(page, "the webhook history")


def test_an_event_shows_the_actions_that_followed_and_the_task_reaches_kommo(page, stack):
    agent_with_task_rule(stack, "Task maker")
    lead = new_lead()
    stage_change(stack, lead)
    stack.wait_for(lambda: [t for t in stack.emulator("/_emulator/tasks")["tasks"] if t.get("entity_id") == int(lead)],
                   what=f"the task for lead {lead} at the Kommo emulator")
    sign_in(page, stack, path=f"#/webhooks?lead_id={lead}")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=lead, exact=True))
    row.get_by_role("link", name="stage_changed").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("stage_changed")
    decision = page.locator("section", has=page.get_by_role("heading", name="Decision"))
    expect(decision).to_contain_text("Call qualified leads")
    expect(decision).to_contain_text("fired")
    followed = page.locator("section", has=page.get_by_role("heading", name="Actions that followed"))
    expect(followed).to_contain_text("create_task")
    expect(followed).to_contain_text("succeeded")
    expect(followed).to_contain_text(f"Call Website order #812 ({lead})")
    assert_accessible(page, "the event page")


def test_replay_an_event_in_dry_run_and_live(page, stack):
    agent_with_task_rule(stack, "Replayer")
    lead = new_lead()
    stage_change(stack, lead)
    event = stack.wait_for(lambda: stack.api("GET", f"/api/v1/webhooks/events?lead_id={lead}")["items"], what="the event")[0]
    # Every action the event's decision planned has run (other tests' rules fire on it too).
    planned = len(stack.wait_for(lambda: stack.api("GET", f"/api/v1/webhooks/events/{event['id']}").get("decision"), what="the decision")["actions"])
    stack.wait_for(lambda: len([a for a in stack.api("GET", f"/api/v1/actions?lead_id={lead}")["items"] if a["event_id"] == event["id"]]) >= planned,
                   what="the planned actions")

    def lead_tasks():
        return len([t for t in stack.emulator("/_emulator/tasks")["tasks"] if t.get("entity_id") == int(lead)])
    tasks_before = lead_tasks()
    sign_in(page, stack, path=f"#/webhooks/events/{event['id']}")
    page.get_by_role("button", name="Replay (dry run)").click()
    result = page.locator(".replay-result")
    expect(result).to_contain_text("Dry run")
    expect(result).to_contain_text("Call qualified leads")
    expect(result).to_contain_text("fired")
    # Nothing more reached Kommo for this lead.
    page.wait_for_timeout(1000)
    assert lead_tasks() == tasks_before, "a dry run created a task"
    assert_accessible(page, "the event page after a dry run")
    # A live replay is a new journey: the page says so and links the new event.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Replay live").click()
    expect(result).not_to_contain_text("No event to evaluate")
    expect(result).to_contain_text("new journey")
    new_event = result.get_by_role("link", name=re.compile(r"^ev_"))
    expect(new_event).to_be_visible()
    new_id = new_event.inner_text()
    new_event.click()
    expect(page).to_have_url(re.compile(re.escape(new_id)))
    expect(page.locator("dl.facts").first).to_contain_text("replay")
    assert_accessible(page, "the replayed event's page")


def test_lead_timeline_from_a_lead_link_and_from_the_search_box(page, stack):
    agent_with_task_rule(stack, "Timeline")
    lead = new_lead()
    stage_change(stack, lead)
    stack.wait_for(lambda: stack.api("GET", f"/api/v1/actions?lead_id={lead}")["items"], what="the action")
    sign_in(page, stack, path="#/webhooks")
    page.get_by_role("link", name=lead, exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Lead {lead}")
    timeline = page.locator("section", has=page.get_by_role("heading", name="Timeline"))
    expect(timeline).to_contain_text("stage_changed")
    expect(timeline).to_contain_text("Call qualified leads")
    assert_accessible(page, "the lead timeline")
    page.goto(f"{stack.base_url}/admin/#/")
    search = page.get_by_role("searchbox", name="Lead id")
    search.fill(lead)
    search.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Lead {lead}")
    expect(timeline).to_contain_text("stage_changed")


def test_a_second_tenant_sees_none_of_the_first_tenants_data(page, stack):
    agent, _ = agent_with_task_rule(stack, "Acme only agent")
    lead = new_lead()
    stage_change(stack, lead)
    event = stack.wait_for(lambda: stack.api("GET", f"/api/v1/webhooks/events?lead_id={lead}")["items"], what="the event")[0]
    page.trouble.allow(404, r"/api/v1/(agents|webhooks/events)/")
    sign_in(page, stack, tenant="globex")
    expect(page.get_by_text("No agents yet.")).to_be_visible()
    expect(page.get_by_text("Acme only agent")).to_have_count(0)
    page.goto(f"{stack.base_url}/admin/#/webhooks")
    expect(page.get_by_text("No events match.")).to_be_visible()
    page.goto(f"{stack.base_url}/admin/#/leads/{lead}")
    expect(page.get_by_text("Nothing recorded for this lead.")).to_be_visible()
    page.goto(f"{stack.base_url}/admin/#/webhooks/events/{event['id']}")
    expect(page.get_by_role("alert")).to_contain_text("404")
    page.goto(f"{stack.base_url}/admin/#/agents/{agent['id']}")
    expect(page.get_by_role("alert")).to_contain_text("404")
