"""The rule and sequence builders save like every other form: an edit conflict (412) offers reload or
overwrite, a save without changes sends nothing and makes no new version, and a refusal shows at its field
with the focus on it, cleared on the next attempt."""
import re

import pytest
from playwright.sync_api import expect

from browser import assert_accessible, sign_in
from builders import new_agent


def a_rule(stack, agent, name="Contested rule"):
    return stack.api("POST", f"/api/v1/agents/{agent['id']}/rules", "acme", {
        "name": name, "trigger": {"type": "lead_created"}, "conditions": {"all": [{"type": "stage_is", "stage_ids": [61234502]}]},
        "actions": [{"type": "add_note", "text": "Mine"}]})


def a_sequence(stack, agent, name="Contested sequence"):
    return stack.api("POST", f"/api/v1/agents/{agent['id']}/sequences", "acme", {
        "name": name, "trigger": {"type": "manual"},
        "steps": [{"delay_days": 1, "action": {"type": "add_note", "text": "One"}}]})


KINDS = {
    "rule": ("rules", a_rule, "form.rule-builder"),
    "sequence": ("sequences", a_sequence, "form.sequence-builder"),
}


def writes(page, kind):
    """The PATCH requests the page sends for this kind of resource, as they happen."""
    sent = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "PATCH" and f"/{KINDS[kind][0]}/" in r.url else None)
    return sent


@pytest.mark.parametrize("kind", ["rule", "sequence"])
def test_an_edit_conflict_in_a_builder_offers_reload_or_overwrite(page, stack, kind):
    plural, make, selector = KINDS[kind]
    page.trouble.allow(412, rf"/{plural}/")
    agent = new_agent(stack)
    item = make(stack, agent)
    path = f"/api/v1/agents/{agent['id']}/{plural}/{item['id']}"
    sign_in(page, stack, path=f"#/agents/{agent['id']}/{plural}/{item['id']}")
    form = page.locator(selector)
    name = form.get_by_label("Name", exact=True)
    expect(name).to_have_value(item["name"])

    # Someone else saves meanwhile; ours is refused and the choice is offered, the focus on reload.
    stack.api("PATCH", path, "acme", {"name": "Theirs"})
    name.fill("Mine, edited")
    form.get_by_role("button", name="Save", exact=True).click()
    expect(form.get_by_text("Changed elsewhere meanwhile.")).to_be_visible()
    expect(form.get_by_role("button", name="Reload (lose my edits)")).to_be_focused()
    assert_accessible(page, f"the {kind} builder's conflict")
    form.get_by_role("button", name="Overwrite with my version").click()
    expect(form.get_by_text("Saved.")).to_be_visible()
    assert stack.api("GET", path)["name"] == "Mine, edited"

    # Reload shows what is stored and drops the edit.
    stack.api("PATCH", path, "acme", {"name": "Theirs again"})
    form.get_by_label("Name", exact=True).fill("Lost edit")
    form.get_by_role("button", name="Save", exact=True).click()
    form.get_by_role("button", name="Reload (lose my edits)").click()
    expect(page.locator(selector).get_by_label("Name", exact=True)).to_have_value("Theirs again")
    assert stack.api("GET", path)["name"] == "Theirs again"


@pytest.mark.parametrize("kind", ["rule", "sequence"])
def test_a_builder_save_without_changes_sends_nothing(page, stack, kind):
    plural, make, selector = KINDS[kind]
    agent = new_agent(stack)
    item = make(stack, agent, name="Unchanged")
    path = f"/api/v1/agents/{agent['id']}/{plural}/{item['id']}"
    before = stack.api("GET", path)
    sent = writes(page, kind)
    sign_in(page, stack, path=f"#/agents/{agent['id']}/{plural}/{item['id']}")
    form = page.locator(selector)
    expect(form.get_by_label("Name", exact=True)).to_have_value("Unchanged")
    page.wait_for_load_state("networkidle")  # the Kommo catalog has arrived and redrawn what it names
    form.get_by_role("button", name="Save", exact=True).click()
    expect(form.get_by_text("Nothing changed: nothing was saved and no new version was made.")).to_be_visible()
    # Through the JSON tab too: the same document is no change.
    form.get_by_role("tab", name="JSON (advanced)").click()
    form.get_by_role("button", name="Save", exact=True).click()
    expect(form.get_by_text("Nothing changed: nothing was saved and no new version was made.")).to_be_visible()
    assert sent == []
    after = stack.api("GET", path)
    assert after.get("version") == before.get("version") and after["updated_at"] == before["updated_at"]

    # An edit and a change back is no change either; a real edit is saved.
    form.get_by_role("tab", name="Builder").click()
    form.get_by_label("Name", exact=True).fill("Changed")
    form.get_by_label("Name", exact=True).fill("Unchanged")
    form.get_by_role("button", name="Save", exact=True).click()
    expect(form.get_by_text("Nothing changed: nothing was saved and no new version was made.")).to_be_visible()
    assert sent == []
    form.get_by_label("Name", exact=True).fill("Changed")
    form.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(selector).get_by_text("Saved.")).to_be_visible()
    assert len(sent) == 1 and stack.api("GET", path)["name"] == "Changed"


@pytest.mark.parametrize("kind", ["rule", "sequence"])
def test_a_builder_refusal_shows_at_its_field_and_clears_on_the_next_attempt(page, stack, kind):
    plural, make, selector = KINDS[kind]
    page.trouble.allow(400, rf"/{plural}/")
    agent = new_agent(stack)
    item = make(stack, agent, name="Refused")
    sign_in(page, stack, path=f"#/agents/{agent['id']}/{plural}/{item['id']}")
    form = page.locator(selector)
    name = form.get_by_label("Name", exact=True)
    error = form.locator("[data-field=name] > .field-error")
    name.fill(" ")
    form.get_by_role("button", name="Save", exact=True).click()
    expect(error).to_have_text(re.compile(r"must not be empty|is required"))
    expect(name).to_be_focused()
    name.fill("Accepted")
    form.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(selector).get_by_text("Saved.")).to_be_visible()
    expect(page.locator(selector).locator(".field-error:not(:empty)")).to_have_count(0)
    expect(page.locator(selector).locator(".form-errors")).not_to_contain_text(re.compile(r"must not be empty|is required"))
