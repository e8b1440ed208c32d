"""The rule builder: a rule made only with the builder is stored as built; the trigger picker shows what
the rule holds; a server error lands at the control of its path; the dry run explains, without a link
to its unstored test event; the heading of a real event's decision says what was planned."""
import json
import re

from playwright.sync_api import expect

from browser import assert_accessible, sign_in
from builders import allow_missing_catalog, json_text, new_agent, set_json, stage_to_pick


def pick(control, stage):
    """Picks the stage by its name from the catalog when it is connected, else types two stage ids."""
    if stage.name:
        control.select_option(label=[stage.name])
    else:
        control.fill(f"{stage.stage_id}, {stage.other_stage_id}")


def open_rules(page, stack, agent):
    allow_missing_catalog(page)
    sign_in(page, stack, path=f"#/agents/{agent['id']}/rules")
    expect(page.get_by_role("heading", name="Rules")).to_be_visible()


def test_nested_rule_built_without_json_is_stored_as_built(page, stack):
    agent = new_agent(stack)
    stage = stage_to_pick(stack)
    open_rules(page, stack, agent)
    page.get_by_role("button", name="New rule").click()
    form = page.locator("form.rule-builder")
    expect(form.get_by_text("Pipelines, stages, users and fields by name" if stage.name else "No Kommo account is connected")).to_be_visible()
    form.get_by_label("Name", exact=True).fill("Hot budget in the qualified stage")
    form.get_by_label("When", exact=True).select_option("stage_changed")
    if stage.name:
        form.get_by_label("Stage (optional)", exact=True).select_option(label=stage.name)
    else:
        form.get_by_label("Stage (optional)", exact=True).fill(str(stage.stage_id))

    tree = form.locator(".tree")
    tree.get_by_label("Type of the new condition").select_option("field_value")
    tree.get_by_role("button", name="Add condition").click()
    first = tree.locator("[data-field='conditions.all[0]'][data-node=leaf]")
    first.get_by_label("Field", exact=True).fill("cf.Budget")
    first.get_by_label("Operator", exact=True).select_option("in")
    first.get_by_label("Values", exact=True).fill("2500-5000, 5000+")
    root_add = tree.locator("[data-field='conditions'][data-node=all] > .tree-add")
    root_add.get_by_label("Type of the new condition").select_option("stage_is")
    root_add.get_by_role("button", name="Add “any” group").click()
    group = tree.locator("[data-field='conditions.all[1]'][data-node=any]")
    stages = group.locator("[data-field='conditions.all[1].any[0]']").get_by_label("Stages", exact=True)
    pick(stages, stage)
    group_add = group.locator(":scope > .tree-add")
    group_add.get_by_label("Type of the new condition").select_option("message_origin")
    group_add.get_by_role("button", name="Add condition").click()
    group.locator("[data-field='conditions.all[1].any[1]']").get_by_label("Channels", exact=True).fill("waba, telegram")
    group.locator("[data-field='conditions.all[1].any[1]']").get_by_role("button", name=re.compile("^Wrap in “not”")).click()
    expect(tree.locator("[data-field='conditions.all[1].any[1]'][data-node=not]")).to_be_visible()

    actions = form.locator(".action-list")
    actions.locator("[data-field='actions[0]'].action-card").get_by_label("Task text", exact=True).fill("Call {{lead.name}}")
    actions.get_by_label("Type of the new action").select_option("add_note")
    actions.get_by_role("button", name="Add action").click()
    note = actions.locator("[data-field='actions[1]'].action-card")
    note.get_by_label("Note", exact=True).fill("Hot budget: ")
    note.get_by_label("Note: variable to insert").select_option("contact.first_name")
    note.get_by_role("button", name="Insert variable").click()
    expect(note.locator(".template-preview")).to_have_text("Hot budget: Ana")
    assert_accessible(page, "the rule builder")

    form.get_by_role("tab", name="JSON (advanced)").click()
    built = json.loads(json_text(form))
    form.get_by_role("tab", name="Builder").click()
    form.get_by_role("button", name="Create rule").click()
    expect(page).to_have_url(re.compile(r"/rules/[^/]+$"))
    rule_id = page.url.rsplit("/", 1)[1]
    stored = stack.api("GET", f"/api/v1/agents/{agent['id']}/rules/{rule_id}")
    for key in ("name", "trigger", "conditions", "actions"):
        assert stored[key] == built[key], key
    assert stored["conditions"]["all"][1]["any"][1] == {"not": {"type": "message_origin", "origins": ["waba", "telegram"]}}
    assert stored["trigger"] == {"type": "stage_changed", "stage_id": stage.stage_id}
    assert [a["type"] for a in stored["actions"]] == ["create_task", "add_note"]
    assert stored["actions"][1]["text"] == "Hot budget: {{contact.first_name}}"


def test_json_tab_and_builder_stay_in_sync(page, stack):
    agent = new_agent(stack)
    open_rules(page, stack, agent)
    page.get_by_role("button", name="New rule").click()
    form = page.locator("form.rule-builder")
    form.get_by_role("tab", name="JSON (advanced)").click()
    document = json.loads(json_text(form))
    document["name"] = "From the JSON tab"
    document["trigger"] = {"type": "time_based", "anchor": "last_outbound", "after_seconds": 7200, "cancel_on": ["inbound_message"]}
    set_json(form, json.dumps(document))
    form.get_by_role("tab", name="Builder").click()
    expect(form.get_by_label("Name", exact=True)).to_have_value("From the JSON tab")
    expect(form.get_by_label("When", exact=True)).to_have_value("time_based")
    expect(form.get_by_label("After", exact=True)).to_have_value("last_outbound")
    expect(form.get_by_label("Wait", exact=True)).to_have_value("2")
    form.get_by_label("Wait: unit").select_option(label="days")
    form.get_by_role("tab", name="JSON (advanced)").click()
    assert json.loads(json_text(form))["trigger"]["after_seconds"] == 2 * 86400
    set_json(form, "{ not json")
    form.get_by_role("tab", name="Builder").click()
    expect(form.locator("[data-field=json] > .field-error")).to_contain_text("Not valid JSON")
    expect(form.locator("[data-field=json]")).to_be_visible()
    assert_accessible(page, "the rule's JSON tab")


def test_trigger_picker_shows_the_stored_trigger(page, stack):
    agent = new_agent(stack)
    rule = stack.api("POST", f"/api/v1/agents/{agent['id']}/rules", body={
        "name": "On the qualified stage", "trigger": {"type": "stage_changed", "pipeline_id": 7100001, "stage_id": 61234502},
        "actions": [{"type": "add_note", "text": "moved"}]})
    allow_missing_catalog(page)
    sign_in(page, stack, path=f"#/agents/{agent['id']}/rules/{rule['id']}")
    form = page.locator("form.rule-builder")
    expect(form.get_by_label("When", exact=True)).to_have_value("stage_changed")
    expect(form.get_by_label("When", exact=True).locator("option:checked")).to_contain_text("stage_changed")
    assert_accessible(page, "a stored rule")


def test_server_error_is_shown_at_the_leaf(page, stack):
    agent = new_agent(stack)
    rule = stack.api("POST", f"/api/v1/agents/{agent['id']}/rules", body={
        "name": "Nested", "trigger": {"type": "lead_updated"},
        "conditions": {"all": [{"type": "within_working_hours"},
                               {"any": [{"type": "stage_is", "stage_ids": [61234502]}, {"type": "pipeline_is", "pipeline_ids": [7100001]}]}]},
        "actions": [{"type": "add_note", "text": "x"}]})
    allow_missing_catalog(page)
    page.trouble.allow(400, r"/rules/")
    sign_in(page, stack, path=f"#/agents/{agent['id']}/rules/{rule['id']}")
    form = page.locator("form.rule-builder")
    leaf = form.locator("[data-field='conditions.all[1].any[0]'][data-node=leaf]")
    # acme's catalog may have been read by now (it is read on schedule): stages by name, else by id.
    expect(form.get_by_text(re.compile("No Kommo account is connected|by name from the Kommo account"))).to_be_visible()
    stages = leaf.get_by_label("Stages", exact=True)
    if stages.evaluate("element => element.tagName") == "SELECT":
        stages.select_option([])
    else:
        stages.fill("")
    form.get_by_role("button", name="Save").click()
    slot = leaf.locator(".field[data-field='conditions.all[1].any[0].stage_ids'] > .field-error")
    expect(slot).to_have_text("must name at least one stage")
    expect(leaf.get_by_label("Stages", exact=True)).to_be_focused()
    assert stack.api("GET", f"/api/v1/agents/{agent['id']}/rules/{rule['id']}")["conditions"] == rule["conditions"]


def test_dry_run_explains_without_linking_its_test_event(page, stack):
    agent = new_agent(stack)
    rule = stack.api("POST", f"/api/v1/agents/{agent['id']}/rules", body={
        "name": "Qualified", "trigger": {"type": "stage_changed", "stage_id": 61234502},
        "conditions": {"all": [{"type": "field_value", "field": "cf.Budget", "operator": "equals", "value": "5000+"}]},
        "actions": [{"type": "create_task", "text": "Call", "due_in_seconds": 3600}]})
    allow_missing_catalog(page)
    sign_in(page, stack, path=f"#/agents/{agent['id']}/rules/{rule['id']}")
    page.get_by_role("button", name="Run the test").click()
    decision = page.locator(".decision").first
    expect(decision).to_be_visible()
    expect(decision.get_by_role("cell", name="Qualified")).to_be_visible()
    expect(decision.get_by_role("heading", name="Actions it would plan")).to_be_visible()
    expect(decision.locator("h3")).to_contain_text("ev_test_")
    expect(decision.locator("h3")).to_contain_text("not stored")
    expect(decision.get_by_role("link", name=re.compile("ev_test_"))).to_have_count(0)
    assert_accessible(page, "the dry run's explanation")


def test_empty_stored_event_id_is_a_field_error(page, stack):
    agent = new_agent(stack)
    rule = stack.api("POST", f"/api/v1/agents/{agent['id']}/rules", body={
        "name": "Any update", "trigger": {"type": "lead_updated"}, "actions": [{"type": "add_note", "text": "x"}]})
    allow_missing_catalog(page)
    sign_in(page, stack, path=f"#/agents/{agent['id']}/rules/{rule['id']}")
    sent = []
    page.on("request", lambda request: sent.append(request.url) if request.url.endswith("/test") else None)
    page.get_by_label("Try it on").select_option("event_id")
    page.get_by_role("button", name="Run the test").click()
    expect(page.locator(".field[data-field=event_id] > .field-error")).to_contain_text("is required")
    assert sent == []


def test_real_event_decision_says_what_was_planned(page, stack):
    agent = new_agent(stack)
    stack.api("POST", f"/api/v1/agents/{agent['id']}/rules", body={
        "name": "Note on the qualified stage", "trigger": {"type": "stage_changed", "stage_id": 61234502},
        "actions": [{"type": "add_note", "text": "Qualified"}]})
    stack.post_fixture("lead_status_changed.form")

    def decided():
        for item in stack.api("GET", "/api/v1/webhooks/events").get("items", []):
            detail = stack.api("GET", f"/api/v1/webhooks/events/{item['id']}")
            decision = detail.get("decision") or {}
            if decision.get("actions"):
                return item["id"]
        return None
    event_id = stack.wait_for(decided, what="a decision with planned actions")
    allow_missing_catalog(page)
    sign_in(page, stack, path=f"#/webhooks/events/{event_id}")
    card = page.locator("section.card", has=page.get_by_role("heading", name="Decision"))
    expect(card.get_by_role("heading", name="Actions it planned")).to_be_visible()
    expect(card.get_by_role("heading", name="Actions it would plan")).to_have_count(0)


def test_template_preview_for_a_chosen_lead(page, stack):
    agent = new_agent(stack)
    stack.post_fixture("lead_status_changed.form")  # lead 4410021, "Website order #812"
    stack.wait_for(lambda: stack.api("POST", f"/api/v1/agents/{agent['id']}/templates/render",
                                     body={"template": "{{lead.name}}", "lead_id": 4410021})["text"] == "Website order #812",
                   what="the lead's facts reach the rules service")
    open_rules(page, stack, agent)
    page.get_by_role("button", name="New rule").click()
    form = page.locator("form.rule-builder")
    task = form.locator("[data-field='actions[0]'].action-card")
    task.get_by_label("Task text", exact=True).fill("Call about {{lead.name}} ({{contact.phone|no phone}})")
    expect(task.locator(".template-preview")).to_have_text("Call about Ana's order (no phone)")
    form.get_by_text("Preview values").click()
    form.get_by_label("Preview for lead", exact=True).fill("4410021")
    expect(task.locator(".template-preview")).to_contain_text("Call about Website order #812")


def test_conditions_move_by_keyboard_into_and_out_of_groups(page, stack):
    agent = new_agent(stack)
    rule = stack.api("POST", f"/api/v1/agents/{agent['id']}/rules", body={
        "name": "Moves", "trigger": {"type": "lead_updated"},
        "conditions": {"all": [{"type": "within_working_hours"}, {"any": [{"type": "pipeline_is", "pipeline_ids": [7100001]}]},
                               {"type": "message_origin", "origins": ["waba"]}]},
        "actions": [{"type": "add_note", "text": "x"}]})
    allow_missing_catalog(page)
    sign_in(page, stack, path=f"#/agents/{agent['id']}/rules/{rule['id']}")
    form = page.locator("form.rule-builder")
    form.get_by_role("button", name="Move up (Message channel conditions.all[2])").focus()
    page.keyboard.press("Enter")
    expect(form.get_by_role("button", name="Move up (Message channel conditions.all[1])")).to_be_focused()
    expect(form.get_by_role("button", name="Move into the group above (Message channel conditions.all[1])")).to_be_disabled()
    page.keyboard.press("Tab")  # to "Move down"
    expect(form.get_by_role("button", name="Move down (Message channel conditions.all[1])")).to_be_focused()
    page.keyboard.press("Enter")
    into = form.get_by_role("button", name="Move into the group above (Message channel conditions.all[2])")
    expect(into).to_be_enabled()
    into.press("Enter")
    expect(form.locator("[data-field='conditions.all[1].any[1]'][data-node=leaf]")).to_be_visible()
    expect(form.get_by_role("button", name="Move out of this group (Message channel conditions.all[1].any[1])")).to_be_focused()
    form.get_by_role("button", name="Save").click()
    expect(page.locator("form.rule-builder .notice.ok")).to_contain_text("Saved")
    stored = stack.api("GET", f"/api/v1/agents/{agent['id']}/rules/{rule['id']}")
    assert stored["conditions"] == {"all": [{"type": "within_working_hours"}, {"any": [
        {"type": "pipeline_is", "pipeline_ids": [7100001]}, {"type": "message_origin", "origins": ["waba"]}]}]}


def test_working_hours_condition_has_its_own_controls_and_round_trips_with_the_json_tab(page, stack):
    page.trouble.allow(400, r"/rules$")
    agent = new_agent(stack)
    open_rules(page, stack, agent)
    page.get_by_role("button", name="New rule").click()
    form = page.locator("form.rule-builder")
    form.get_by_label("Name", exact=True).fill("Only in office hours")
    tree = form.locator(".tree")
    tree.get_by_label("Type of the new condition").select_option("within_working_hours")
    tree.get_by_role("button", name="Add condition").click()
    leaf = tree.locator("[data-field='conditions.all[0]'][data-node=leaf]")
    own = leaf.get_by_label("Its own hours", exact=True)
    expect(own).not_to_be_checked()
    expect(leaf.get_by_label("Time zone", exact=True)).to_have_count(0)  # the agent's hours: nothing to set
    own.check()
    expect(own).to_be_focused()
    leaf.get_by_label("Time zone", exact=True).fill("America/Sao_Paulo")
    leaf.get_by_label("From", exact=True).fill("08:30")
    leaf.get_by_label("Until", exact=True).fill("17:00")
    leaf.get_by_label("Fri", exact=True).uncheck()
    leaf.get_by_label("Sat", exact=True).check()
    assert_accessible(page, "the working-hours condition")

    # The JSON tab holds what the controls say; an edit there comes back to the controls.
    form.get_by_role("tab", name="JSON (advanced)").click()
    document = json.loads(json_text(form))
    assert document["conditions"]["all"][0] == {"type": "within_working_hours", "hours": {
        "time_zone": "America/Sao_Paulo", "days": ["mon", "tue", "wed", "thu", "sat"], "start": "08:30", "end": "17:00"}}
    document["conditions"]["all"][0]["hours"].update(days=["mon", "wed"], start="10:00", time_zone="Mars/Olympus")
    set_json(form, json.dumps(document))
    form.get_by_role("tab", name="Builder").click()
    leaf = form.locator(".tree [data-field='conditions.all[0]'][data-node=leaf]")
    expect(leaf.get_by_label("From", exact=True)).to_have_value("10:00")
    expect(leaf.get_by_label("Mon", exact=True)).to_be_checked()
    expect(leaf.get_by_label("Tue", exact=True)).not_to_be_checked()
    expect(leaf.get_by_label("Sat", exact=True)).not_to_be_checked()

    # The server's refusal of the zone lands at its control; fixed, the rule stores what was built.
    form.get_by_role("button", name="Create rule").click()
    zone = leaf.get_by_label("Time zone", exact=True)
    expect(leaf.locator("[data-field='conditions.all[0].hours.time_zone'] > .field-error")).to_contain_text("unknown time zone")
    expect(zone).to_be_focused()
    zone.fill("Europe/Madrid")
    form.get_by_role("button", name="Create rule").click()
    expect(page).to_have_url(re.compile(r"/rules/[^/]+$"))
    stored = stack.api("GET", f"/api/v1/agents/{agent['id']}/rules/{page.url.rsplit('/', 1)[1]}")
    assert stored["conditions"] == {"all": [{"type": "within_working_hours", "hours": {
        "time_zone": "Europe/Madrid", "days": ["mon", "wed"], "start": "10:00", "end": "17:00"}}]}
    # Opened again, the controls show the stored hours; unticking goes back to the agent's.
    leaf = page.locator("form.rule-builder .tree [data-field='conditions.all[0]'][data-node=leaf]")
    expect(leaf.get_by_label("Time zone", exact=True)).to_have_value("Europe/Madrid")
    expect(leaf.get_by_label("Until", exact=True)).to_have_value("17:00")
    leaf.get_by_label("Its own hours", exact=True).uncheck()
    page.locator("form.rule-builder").get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("form.rule-builder").get_by_text("Saved.")).to_be_visible()
    stored = stack.api("GET", f"/api/v1/agents/{agent['id']}/rules/{stored['id']}")
    assert stored["conditions"] == {"all": [{"type": "within_working_hours"}]}
