"""The sequence builder: a three-step sequence made with the builder, reordered by keyboard and by drag
without losing unsaved edits (each step keeps its own wait), with the send window and exits as controls."""
import json
import re

from playwright.sync_api import expect

from browser import assert_accessible, sign_in
from builders import allow_missing_catalog, json_text, new_agent, set_json


def rows(page):
    return page.locator("form.sequence-builder li.step-row")


def test_three_step_sequence_reordered_keeps_unsaved_edits(page, stack):
    agent = new_agent(stack)
    allow_missing_catalog(page)
    sign_in(page, stack, path=f"#/agents/{agent['id']}/sequences")
    page.get_by_role("button", name="New sequence").click()
    form = page.locator("form.sequence-builder")
    form.get_by_label("Name", exact=True).fill("Three steps")
    first = rows(page).nth(0)
    first.get_by_label("Message", exact=True).fill("Hello {{contact.first_name|there}}")
    form.get_by_label("Action of the new step").select_option("create_task")
    form.get_by_role("button", name="Add step").click()
    second = rows(page).nth(1)
    second.get_by_label("Task text", exact=True).fill("Call the lead")
    second.get_by_label("Wait after the previous step", exact=True).fill("2")
    second.get_by_label("Wait after the previous step: unit").select_option(label="days")
    form.get_by_label("Action of the new step").select_option("add_note")
    form.get_by_role("button", name="Add step").click()
    third = rows(page).nth(2)
    third.get_by_label("Note", exact=True).fill("Followed up")
    third.get_by_label("Wait after the previous step", exact=True).fill("3")
    third.get_by_label("Wait after the previous step: unit").select_option(label="hours")
    form.get_by_label("Send only within a window", exact=True).check()
    form.get_by_label("Time zone", exact=True).fill("Europe/Madrid")
    form.get_by_label("Sat", exact=True).check()
    form.get_by_role("button", name="Add exit condition").click()
    form.get_by_label("Exit 2: when", exact=True).select_option("stage_changed")
    form.get_by_label("To", exact=True).select_option("won")
    expect(form.get_by_role("button", name="Move step 1 up")).to_be_disabled()
    expect(form.get_by_role("button", name="Move step 3 down")).to_be_disabled()
    assert_accessible(page, "the sequence builder")
    form.get_by_role("button", name="Create sequence").click()
    expect(page).to_have_url(re.compile(r"/sequences/[^/]+$"))
    sequence_id = page.url.rsplit("/", 1)[1]
    stored = stack.api("GET", f"/api/v1/agents/{agent['id']}/sequences/{sequence_id}")
    assert [s["action"]["type"] for s in stored["steps"]] == ["send_message", "create_task", "add_note"]
    assert [s["delay_seconds"] for s in stored["steps"]] == [0, 2 * 86400, 3 * 3600]
    assert stored["send_window"]["time_zone"] == "Europe/Madrid"
    assert stored["send_window"]["days"] == ["mon", "tue", "wed", "thu", "fri", "sat"]
    assert stored["exit_conditions"] == [{"type": "lead_replied"}, {"type": "stage_changed", "to": "won"}]

    # An unsaved edit, then the last step moved up twice by keyboard: the edit stays, the waits move with their steps.
    form = page.locator("form.sequence-builder")
    rows(page).nth(0).get_by_label("Message", exact=True).fill("Hello again, {{contact.first_name|there}}")
    move = form.get_by_role("button", name="Move step 3 up")
    move.focus()
    page.keyboard.press("Enter")
    expect(form.get_by_role("button", name="Move step 2 up")).to_be_focused()
    page.keyboard.press("Enter")
    expect(rows(page).nth(0).get_by_label("Note", exact=True)).to_have_value("Followed up")
    expect(rows(page).nth(1).get_by_label("Message", exact=True)).to_have_value("Hello again, {{contact.first_name|there}}")
    expect(rows(page).nth(0).get_by_label("Wait after enrolling", exact=True)).to_have_value("3")
    expect(form.get_by_role("button", name="Move step 1 up")).to_be_disabled()
    assert stack.api("GET", f"/api/v1/agents/{agent['id']}/sequences/{sequence_id}")["steps"] == stored["steps"], "nothing is saved before Save"
    form.get_by_role("button", name="Save").click()
    expect(page.locator("form.sequence-builder .notice.ok")).to_contain_text("Saved")
    saved = stack.api("GET", f"/api/v1/agents/{agent['id']}/sequences/{sequence_id}")
    assert [s["action"]["type"] for s in saved["steps"]] == ["add_note", "send_message", "create_task"]
    assert [s["delay_seconds"] for s in saved["steps"]] == [3 * 3600, 0, 2 * 86400]
    assert saved["steps"][1]["action"]["text"] == "Hello again, {{contact.first_name|there}}"


def test_drag_reorders_and_status_change_keeps_edits(page, stack):
    # Tall enough for the three rows at once: a drag needs its source and its target on screen.
    page.set_viewport_size({"width": 1280, "height": 2000})
    agent = new_agent(stack)
    sequence = stack.api("POST", f"/api/v1/agents/{agent['id']}/sequences", body={
        "name": "Drag me", "trigger": {"type": "manual"},
        "steps": [{"id": "a", "action": {"type": "add_note", "text": "A"}},
                  {"id": "b", "delay_hours": 1, "action": {"type": "add_note", "text": "B"}},
                  {"id": "c", "delay_days": 1, "action": {"type": "add_note", "text": "C"}}]})
    allow_missing_catalog(page)
    sign_in(page, stack, path=f"#/agents/{agent['id']}/sequences/{sequence['id']}")
    rows(page).nth(1).get_by_label("Note", exact=True).fill("B, edited")
    page.get_by_role("button", name="Set active").click()
    expect(page.locator(".actions .badge").first).to_have_text("active")
    expect(rows(page).nth(1).get_by_label("Note", exact=True)).to_have_value("B, edited")
    rows(page).nth(2).locator(".drag-handle").drag_to(rows(page).nth(0).locator(".drag-handle"))
    expect(rows(page).nth(0)).to_have_attribute("data-step", "c")
    page.locator("form.sequence-builder").get_by_role("button", name="Save").click()
    expect(page.locator("form.sequence-builder .notice.ok")).to_contain_text("Saved")
    saved = stack.api("GET", f"/api/v1/agents/{agent['id']}/sequences/{sequence['id']}")
    assert [s["id"] for s in saved["steps"]] == ["c", "a", "b"]
    assert saved["steps"][2]["action"]["text"] == "B, edited"
    assert saved["status"] == "active"


def test_json_tab_edits_show_in_the_rows(page, stack):
    agent = new_agent(stack)
    allow_missing_catalog(page)
    sign_in(page, stack, path=f"#/agents/{agent['id']}/sequences")
    page.get_by_role("button", name="New sequence").click()
    form = page.locator("form.sequence-builder")
    form.get_by_role("tab", name="JSON (advanced)").click()
    document = json.loads(json_text(form))
    document["steps"].append({"id": "later", "delay_hours": 5, "action": {"type": "add_tags", "tags": ["warm"]}})
    set_json(form, json.dumps(document))
    form.get_by_role("tab", name="Builder").click()
    expect(rows(page)).to_have_count(2)
    later = rows(page).nth(1)
    expect(later.get_by_label("Step id", exact=True)).to_have_value("later")
    expect(later.get_by_label("Wait after the previous step", exact=True)).to_have_value("5")
    expect(later.get_by_label("Wait after the previous step: unit").locator("option:checked")).to_have_text("hours")
    expect(later.get_by_label("Tags", exact=True)).to_have_value("warm")
    form.get_by_role("tab", name="JSON (advanced)").click()
    steps = json.loads(json_text(form))["steps"]
    assert steps[1] == {"id": "later", "delay_seconds": 5 * 3600, "action": {"type": "add_tags", "tags": ["warm"]}}


def test_server_error_is_shown_at_the_step_control(page, stack):
    agent = new_agent(stack)
    sequence = stack.api("POST", f"/api/v1/agents/{agent['id']}/sequences", body={
        "name": "Errors", "trigger": {"type": "manual"},
        "steps": [{"id": "a", "action": {"type": "add_note", "text": "A"}},
                  {"id": "b", "delay_days": 1, "action": {"type": "create_task", "text": "Call", "due_in_seconds": 3600}}]})
    allow_missing_catalog(page)
    page.trouble.allow(400, r"/sequences/")
    sign_in(page, stack, path=f"#/agents/{agent['id']}/sequences/{sequence['id']}")
    second = rows(page).nth(1)
    second.get_by_label("Task text", exact=True).fill("")
    rows(page).nth(0).get_by_label("Step id", exact=True).fill("b")
    page.locator("form.sequence-builder").get_by_role("button", name="Save").click()
    expect(second.locator(".field[data-field='steps[1].action.text'] > .field-error")).not_to_be_empty()
    expect(second.locator(".field[data-field='steps[1].id'] > .field-error")).to_contain_text("used by another step")
    assert stack.api("GET", f"/api/v1/agents/{agent['id']}/sequences/{sequence['id']}")["steps"] == sequence["steps"]
