"""Kommo ids by name in the agent and script forms, custom fields by name in a dry run, and the gateway's
warnings about ids the account does not have shown at their fields.

- The agent form picks its pipelines (each with its stages) and the stages that resume it by name from the
  connected account's catalog; the script form its pipeline and stages. The API stores the ids.
- Without a connected account the same controls take ids.
- A `field_value` condition on `cf.<id>` and a `set_field` of `cf.<id>` show the field's name beside its
  id in a dry run's explanation and planned actions.
- A rule, agent or script saved with an id the account does not have is saved (the warnings do not
  block), and each warning is shown at the control of the path it names.
"""
import json
import re

import pytest
from playwright.sync_api import expect

from browser import assert_accessible, sign_in
from builders import set_json

SALES, NEW, QUALIFIED, WON, BUDGET, SOURCE = 7010001, 61234501, 61234502, 142, 512301, 512302  # the emulator's account


@pytest.fixture(scope="module")
def hooli(stack):
    """A tenant connected to the emulator's account, with its catalog read."""
    stack.add_tenant("hooli")
    stack.connect_kommo("hooli")
    stack.wait_for(lambda: (lambda c: c.get("connected") and c.get("refreshed_at"))(stack.api("GET", "/api/v1/kommo/catalog", "hooli")),
                   what="the catalog of hooli's account")
    return "hooli"


def new_agent(stack, tenant, **members):
    return stack.api("POST", "/api/v1/agents", tenant, {"name": "Picker agent", **members})


def settings_form(page):
    return page.locator("form.card", has=page.get_by_role("heading", name="Settings"))


def test_the_agent_form_picks_pipelines_stages_and_resume_stages_by_name(page, stack, hooli):
    agent = new_agent(stack, hooli)
    sign_in(page, stack, hooli, f"#/agents/{agent['id']}")
    form = settings_form(page)
    form.get_by_role("button", name="Add a pipeline").click()
    row = form.locator(".pipeline-row[data-field='pipelines[0]']")
    row.get_by_label("Pipeline", exact=True).select_option(label="Sales")
    row.get_by_label("Stages", exact=True).select_option(label=["New", "Qualified"])
    form.get_by_label("Resume on entering stages").select_option(label=["Closed - won"])
    assert_accessible(page, "the agent form with the catalog")
    form.get_by_role("button", name="Save", exact=True).click()
    expect(form.get_by_text("Saved.")).to_be_visible()

    stored = stack.api("GET", f"/api/v1/agents/{agent['id']}", hooli)
    assert stored["pipelines"] == [{"pipeline_id": SALES, "stage_ids": [NEW, QUALIFIED]}]
    assert stored["pause_on_human_reply"]["resume_stage_ids"] == [WON]

    page.reload()
    form = settings_form(page)
    row = form.locator(".pipeline-row[data-field='pipelines[0]']")
    expect(row.get_by_label("Pipeline", exact=True).locator("option:checked")).to_have_text("Sales")
    expect(row.get_by_label("Stages", exact=True).locator("option:checked")).to_have_text(["New", "Qualified"])
    expect(form.get_by_label("Resume on entering stages").locator("option:checked")).to_have_text(["Closed - won"])
    # Removing the pipeline leaves the agent on every pipeline.
    form.get_by_role("button", name="Remove pipeline 1 (Sales)").click()
    form.get_by_role("button", name="Save", exact=True).click()
    expect(form.get_by_text("Saved.")).to_be_visible()
    assert stack.api("GET", f"/api/v1/agents/{agent['id']}", hooli)["pipelines"] == []


def test_without_an_account_the_agent_form_takes_ids(page, stack):
    agent = new_agent(stack, "globex")
    sign_in(page, stack, "globex", f"#/agents/{agent['id']}")
    form = settings_form(page)
    form.get_by_role("button", name="Add a pipeline").click()
    row = form.locator(".pipeline-row[data-field='pipelines[0]']")
    row.get_by_label("Pipeline", exact=True).fill("7100001")
    row.get_by_label("Stages", exact=True).fill("61234501, x")
    form.get_by_label("Resume on entering stages").fill("142")
    form.get_by_role("button", name="Save", exact=True).click()
    expect(row.locator(".field[data-field='pipelines[0].stage_ids'] > .field-error")).to_contain_text("is not a list of ids")
    row.get_by_label("Stages", exact=True).fill("61234501, 61234502")
    form.get_by_role("button", name="Save", exact=True).click()
    expect(form.get_by_text("Saved.")).to_be_visible()
    stored = stack.api("GET", f"/api/v1/agents/{agent['id']}", "globex")
    assert stored["pipelines"] == [{"pipeline_id": 7100001, "stage_ids": [61234501, 61234502]}]
    assert stored["pause_on_human_reply"]["resume_stage_ids"] == [142]
    assert_accessible(page, "the agent form without an account")


def test_the_script_form_picks_its_pipeline_and_stages_by_name(page, stack, hooli):
    agent = new_agent(stack, hooli)
    sign_in(page, stack, hooli, f"#/agents/{agent['id']}/scripts")
    page.get_by_role("button", name="New script").click()
    form = page.locator("form.card", has=page.get_by_role("heading", name="New script"))
    form.get_by_label("Name", exact=True).fill("Qualifying by name")
    form.get_by_label("Pipeline", exact=True).select_option(label="Sales")
    form.get_by_label("Stages", exact=True).select_option(label=["Qualified"])
    assert_accessible(page, "the script form with the catalog")
    form.get_by_role("button", name="Create script").click()
    expect(page.get_by_role("heading", name="Edit script")).to_be_visible()
    script_id = page.url.rsplit("/", 1)[1]
    stored = stack.api("GET", f"/api/v1/agents/{agent['id']}/scripts/{script_id}", hooli)
    assert stored["stage_ids"] == [QUALIFIED] and stored["pipeline_id"] == SALES
    form = page.locator("form.card", has=page.get_by_role("heading", name="Edit script"))
    expect(form.get_by_label("Stages", exact=True).locator("option:checked")).to_have_text(["Qualified"])
    # Any pipeline again: the script is bound to its stage alone.
    form.get_by_label("Pipeline", exact=True).select_option(label="any")
    form.get_by_role("button", name="Save (new version)").click()
    expect(form.get_by_text("Saved.")).to_be_visible()
    stored = stack.api("GET", f"/api/v1/agents/{agent['id']}/scripts/{script_id}", hooli)
    assert stored["stage_ids"] == [QUALIFIED] and stored.get("pipeline_id") is None


def test_without_an_account_the_script_form_takes_ids(page, stack):
    agent = new_agent(stack, "globex")
    sign_in(page, stack, "globex", f"#/agents/{agent['id']}/scripts")
    page.get_by_role("button", name="New script").click()
    form = page.locator("form.card", has=page.get_by_role("heading", name="New script"))
    form.get_by_label("Name", exact=True).fill("Qualifying by id")
    form.get_by_label("Pipeline", exact=True).fill("7100001")
    form.get_by_label("Stages", exact=True).fill("61234502, 61234503")
    form.get_by_role("button", name="Create script").click()
    expect(page.get_by_role("heading", name="Edit script")).to_be_visible()
    stored = stack.api("GET", f"/api/v1/agents/{agent['id']}/scripts/{page.url.rsplit('/', 1)[1]}", "globex")
    assert stored["stage_ids"] == [61234502, 61234503] and stored["pipeline_id"] == 7100001


def dry_run(page, event):
    card = page.locator("form.card", has=page.get_by_role("heading", name="Test (dry run)"))
    card.get_by_label("Event (JSON)").fill(json.dumps(event))
    card.get_by_role("button", name="Run the test").click()
    return card


def test_custom_fields_are_named_beside_their_ids(page, stack, hooli):
    agent = new_agent(stack, hooli)
    base = f"/api/v1/agents/{agent['id']}/rules"
    budget = stack.api("POST", base, hooli, {
        "name": "Needs a budget", "trigger": {"type": "stage_changed", "stage_id": QUALIFIED},
        "conditions": {"all": [{"type": "field_value", "field": f"cf.{BUDGET}", "operator": "is_not_empty"}]},
        "actions": [{"type": "add_note", "text": "budget known"}]})
    source = stack.api("POST", base, hooli, {
        "name": "Mark the source", "trigger": {"type": "stage_changed", "stage_id": QUALIFIED},
        "actions": [{"type": "set_field", "field": f"cf.{SOURCE}", "value": "Website"}]})
    event = {"type": "stage_changed", "lead_id": "1001", "pipeline_id": str(SALES), "status_id": str(QUALIFIED), "old_status_id": str(NEW)}

    sign_in(page, stack, hooli, f"#/agents/{agent['id']}/rules/{budget['id']}")
    card = dry_run(page, event)
    why = card.get_by_role("row").filter(has_text="Needs a budget").get_by_role("cell").nth(2)
    # "cf.512301 is not set; expected is_not_empty"
    expect(why).to_contain_text(f"cf.Budget ({BUDGET}) is not set")
    assert_accessible(page, "a dry run naming a custom field")

    page.goto(f"{stack.base_url}/admin/#/agents/{agent['id']}/rules/{source['id']}")
    card = dry_run(page, event)
    planned = card.get_by_role("row").filter(has_text="set_field")
    expect(planned).to_contain_text(f"Field: Source ({SOURCE})")

    page.goto(f"{stack.base_url}/admin/#/agents/{agent['id']}/rules")
    expect(page.get_by_role("row").filter(has_text="Mark the source")).to_contain_text(f"set_field cf.Source ({SOURCE})")
    assert_accessible(page, "the rule list naming a custom field")


def test_warnings_about_unknown_ids_are_shown_at_their_fields(page, stack, hooli):
    agent = new_agent(stack, hooli)
    sign_in(page, stack, hooli, f"#/agents/{agent['id']}/rules")
    # A rule created through the JSON tab with a stage the account does not have: created, warned at the trigger's stage.
    page.get_by_role("button", name="New rule").click()
    form = page.locator("form.rule-builder")
    form.get_by_role("tab", name="JSON (advanced)").click()
    set_json(form, json.dumps({"name": "Unknown stage", "trigger": {"type": "stage_changed", "stage_id": 99999999},
                               "conditions": {"all": [{"type": "stage_is", "stage_ids": [NEW, 99999998]}]},
                               "actions": [{"type": "add_note", "text": "x"}]}))
    form.get_by_role("button", name="Create rule").click()
    expect(page).to_have_url(re.compile(r"/rules/[^/]+$"))
    form = page.locator("form.rule-builder")
    expect(form.get_by_text("Created.")).to_be_visible()
    expect(form.locator("[data-field='trigger.stage_id'] .field-warning")).to_contain_text("no stage 99999999")
    expect(form.locator("[data-field='conditions.all[0].stage_ids'] .field-warning")).to_contain_text("no stage 99999998")
    expect(form.locator(".field.invalid")).to_have_count(0)
    assert_accessible(page, "a rule with warnings")
    rule = stack.api("GET", f"/api/v1/agents/{agent['id']}/rules/{page.url.rsplit('/', 1)[1]}", hooli)
    assert rule["trigger"]["stage_id"] == 99999999

    # An agent saved with a resume stage the account does not have: saved, warned at that control.
    other = new_agent(stack, hooli, pause_on_human_reply={"enabled": True, "resume_after_seconds": 3600, "resume_stage_ids": [99999997]})
    page.goto(f"{stack.base_url}/admin/#/agents/{other['id']}")
    form = settings_form(page)
    form.get_by_label("Name", exact=True).fill("Renamed with a warning")
    form.get_by_role("button", name="Save", exact=True).click()
    expect(form.get_by_text("Saved.")).to_be_visible()
    expect(form.locator("[data-field='pause_on_human_reply.resume_stage_ids'] .field-warning")).to_contain_text("no stage 99999997")
    assert_accessible(page, "an agent with a warning")
    assert stack.api("GET", f"/api/v1/agents/{other['id']}", hooli)["name"] == "Renamed with a warning"

    # A script saved with a stage the account does not have: a new version, warned at its stages.
    script = stack.api("POST", f"/api/v1/agents/{agent['id']}/scripts", hooli,
                       {"name": "Stale stage", "type": "greeting", "body": "Hi!", "stage_ids": [99999996]})
    page.goto(f"{stack.base_url}/admin/#/agents/{agent['id']}/scripts/{script['id']}")
    form = page.locator("form.card", has=page.get_by_role("heading", name="Edit script"))
    form.get_by_label("Name", exact=True).fill("Stale stage, renamed")
    form.get_by_role("button", name="Save (new version)").click()
    expect(form.get_by_text("Saved.")).to_be_visible()
    expect(form.locator("[data-field='stage_ids'] .field-warning")).to_contain_text("no stage 99999996")
    assert stack.api("GET", f"/api/v1/agents/{agent['id']}/scripts/{script['id']}", hooli)["name"] == "Stale stage, renamed"

    # A sequence created through the JSON tab with a trigger stage the account does not have: created, warned at
    # the trigger's stage. (An edit is sent as a merge patch: only the members it changes are checked.)
    page.goto(f"{stack.base_url}/admin/#/agents/{agent['id']}/sequences")
    page.get_by_role("button", name="New sequence").click()
    form = page.locator("form.sequence-builder")
    form.get_by_role("tab", name="JSON (advanced)").click()
    set_json(form, json.dumps({"name": "Stale trigger", "trigger": {"type": "stage_changed", "stage_id": 99999995},
                               "steps": [{"delay_seconds": 86400, "action": {"type": "add_note", "text": "One"}}]}))
    form.get_by_role("button", name="Create sequence").click()
    expect(page).to_have_url(re.compile(r"/sequences/[^/]+$"))
    form = page.locator("form.sequence-builder")
    expect(form.get_by_text("Created.")).to_be_visible()
    expect(form.locator("[data-field='trigger.stage_id'] .field-warning")).to_contain_text("no stage 99999995")
    assert_accessible(page, "a sequence with a warning")
    stored = stack.api("GET", f"/api/v1/agents/{agent['id']}/sequences/{page.url.rsplit('/', 1)[1]}", hooli)
    assert stored["trigger"]["stage_id"] == 99999995
