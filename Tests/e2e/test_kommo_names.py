"""Names beside ids: with the Kommo account connected, the rule and sequence lists, a dry run's
explanation, an event's decision and parsed event, the lead timeline and the action log show pipelines,
stages, users and task types as "Name (id)" from the account's catalog; an id the catalog does not know,
and a tenant without a connected account, keep the bare id."""
import re

import pytest
from playwright.sync_api import expect

from browser import assert_accessible, sign_in
from test_flows import new_lead

SALES, NEW, QUALIFIED, MANAGER = 7010001, 61234501, 61234502, 8812001  # the emulator's account catalog


@pytest.fixture(scope="module")
def umbrella(stack):
    """A tenant connected to the emulator's account through the install flow, with two rules on entering
    Qualified (one moves the lead back to New, one waits for a stage the lead is not in) and a sequence."""
    stack.add_tenant("umbrella")
    stack.connect_kommo("umbrella")
    agent = stack.api("POST", "/api/v1/agents", "umbrella", {"name": "Namer"})
    base = f"/api/v1/agents/{agent['id']}"
    mover = stack.api("POST", base + "/rules", "umbrella", {
        "name": "Back to new", "priority": 10, "trigger": {"type": "stage_changed", "stage_id": QUALIFIED, "pipeline_id": SALES},
        "actions": [{"type": "change_stage", "stage_id": NEW, "pipeline_id": SALES},
                    {"type": "create_task", "text": "Call {{lead.id}}", "due_in_seconds": 3600, "task_type": 2,
                     "responsible_user_id": MANAGER}]})
    waiting = stack.api("POST", base + "/rules", "umbrella", {
        "name": "Only from proposal", "trigger": {"type": "stage_changed", "stage_id": QUALIFIED},
        "conditions": {"all": [{"type": "stage_is", "stage_ids": [NEW, 99999999]}]},
        "actions": [{"type": "add_note", "text": "never"}]})
    sequence = stack.api("POST", base + "/sequences", "umbrella", {
        "name": "Nurture qualified", "trigger": {"type": "stage_changed", "stage_id": QUALIFIED},
        "steps": [{"delay_days": 1, "action": {"type": "add_note", "text": "One"}}]})
    stack.api("POST", base + "/scripts", "umbrella", {"name": "Qualifying", "type": "qualification", "body": "Hi!",
                                                      "stage_ids": [NEW, QUALIFIED]})
    return {"agent": agent, "mover": mover, "waiting": waiting, "sequence": sequence}


def test_lists_and_a_dry_run_name_the_accounts_stages(page, stack, umbrella):
    agent = umbrella["agent"]["id"]
    sign_in(page, stack, "umbrella", f"#/agents/{agent}/rules")
    row = page.get_by_role("row").filter(has_text="Back to new")
    expect(row.get_by_text("Qualified (61234502)")).to_be_visible()
    expect(row.get_by_text("Sales (7010001)")).to_be_visible()
    assert_accessible(page, "the rule list with names")

    page.goto(f"{stack.base_url}/admin/#/agents/{agent}/sequences")
    expect(page.get_by_role("row").filter(has_text="Nurture qualified").get_by_text("Qualified (61234502)")).to_be_visible()

    page.goto(f"{stack.base_url}/admin/#/agents/{agent}/scripts")
    expect(page.get_by_role("row").filter(has_text="Qualifying").get_by_role("cell").nth(3)).to_have_text("New (61234501), Qualified (61234502)")

    page.goto(f"{stack.base_url}/admin/#/agents/{agent}/rules/{umbrella['waiting']['id']}")
    card = page.locator("form.card", has=page.get_by_role("heading", name="Test (dry run)"))
    card.get_by_label("Event (JSON)").fill(
        f'{{"type": "stage_changed", "lead_id": "1001", "pipeline_id": "{SALES}", "status_id": "{QUALIFIED}", "old_status_id": "{NEW}"}}')
    card.get_by_role("button", name="Run the test").click()
    why = card.get_by_role("cell").filter(has_text="expected stage")
    # "the lead is in stage Qualified (61234502) of pipeline Sales (7010001); expected stage New (61234501), 99999999"
    expect(why).to_contain_text("Qualified (61234502)")
    expect(why).to_contain_text("Sales (7010001)")
    expect(why).to_contain_text("New (61234501), 99999999")  # an id the account does not know stays bare
    assert_accessible(page, "a dry run with names")


def test_a_decision_the_timeline_and_the_action_log_name_the_ids(page, stack, umbrella):
    lead = new_lead()
    stack.post_fixture("lead_status_changed.form", "umbrella", replace={"4410021": lead, "7100001": str(SALES)})
    stack.wait_for(lambda: [a for a in stack.api("GET", f"/api/v1/actions?lead_id={lead}", "umbrella")["items"]
                            if a.get("action_type") == "change_stage" and a.get("outcome") == "succeeded"],
                   what="the stage change at Kommo")
    event = stack.api("GET", f"/api/v1/webhooks/events?lead_id={lead}", "umbrella")["items"][0]
    sign_in(page, stack, "umbrella", f"#/webhooks/events/{event['id']}")
    decision = page.locator("section.card", has=page.get_by_role("heading", name="Decision"))
    planned = decision.get_by_role("row").filter(has_text="change_stage")
    expect(planned.get_by_text("Stage: New (61234501)")).to_be_visible()
    task = decision.get_by_role("row").filter(has_text="create_task")
    expect(task).to_contain_text("Responsible user: Manager 1 (8812001)")
    expect(task).to_contain_text("Task type: Meeting (2)")
    expect(decision.get_by_role("cell").filter(has_text="expected stage")).to_contain_text("New (61234501)")
    followed = page.locator("section.card", has=page.get_by_role("heading", name="Actions that followed"))
    expect(followed.get_by_role("cell").filter(has_text="PATCH")).to_have_count(1)
    expect(followed.get_by_role("cell").filter(has_text=": status ")).to_have_text(
        f"lead {lead}: status New (61234501) in pipeline Sales (7010001)")
    expect(followed.get_by_role("cell").filter(has_text="task on lead")).to_contain_text("type Meeting (2)")
    parsed = page.locator("section.card", has=page.get_by_role("heading", name="Parsed event"))
    expect(parsed).to_contain_text("Pipeline: Sales (7010001) · Stage: Qualified (61234502) · Responsible user: Manager 1 (8812001)")
    assert_accessible(page, "an event with names")

    page.goto(f"{stack.base_url}/admin/#/leads/{lead}")
    attempts = page.locator("section.card", has=page.get_by_role("heading", name="Action attempts"))
    expect(attempts.get_by_text("status New (61234501) in pipeline Sales (7010001)")).to_be_visible()
    timeline = page.locator("section.card", has=page.get_by_role("heading", name="Timeline"))
    expect(timeline.get_by_text("New (61234501)").first).to_be_visible()
    assert_accessible(page, "a lead timeline with names")


def test_without_a_connected_account_the_bare_ids_stay(page, stack):
    agent = stack.api("POST", "/api/v1/agents", "globex", {"name": "Unnamed"})
    stack.api("POST", f"/api/v1/agents/{agent['id']}/rules", "globex", {
        "name": "By id", "trigger": {"type": "stage_changed", "stage_id": QUALIFIED},
        "actions": [{"type": "add_note", "text": "x"}]})
    sign_in(page, stack, "globex", f"#/agents/{agent['id']}/rules")
    row = page.get_by_role("row").filter(has_text="By id")
    expect(row).to_contain_text(f"stage_changed → {QUALIFIED}")
    page.wait_for_load_state("networkidle")
    expect(row).not_to_contain_text("Qualified")
