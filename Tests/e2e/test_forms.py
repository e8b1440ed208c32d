"""Forms that behave: every violation at its field at once, errors cleared on each attempt, the focus
on the first invalid field, create warnings shown, an edit conflict offering reload or overwrite, and a
save without changes making no new version."""
from playwright.sync_api import expect

from browser import assert_accessible, sign_in


def field_error(page, label):
    return page.locator(".field", has=page.get_by_label(label, exact=True)).locator(".field-error")


def test_every_violation_shows_at_its_field_and_clears_on_the_next_attempt(page, stack):
    page.trouble.allow(400, r"/api/v1/agents$")
    sign_in(page, stack)
    page.get_by_role("button", name="New agent").click()
    page.get_by_label("Name", exact=True).fill(" ")
    page.get_by_label("Language").fill("!!")
    page.get_by_label("Resume after (seconds, 0 = by hand)").fill("-5")
    page.get_by_role("button", name="Create agent").click()
    # All three at once, each at its field; the focus on the first.
    expect(field_error(page, "Name")).to_have_text("must not be empty")
    expect(field_error(page, "Language")).to_contain_text("language tag")
    expect(field_error(page, "Resume after (seconds, 0 = by hand)")).to_contain_text("between 0 and")
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    assert_accessible(page, "the agent form with errors")
    page.get_by_label("Name", exact=True).fill("Clara")
    page.get_by_label("Resume after (seconds, 0 = by hand)").fill("3600")
    page.get_by_role("button", name="Create agent").click()
    expect(field_error(page, "Language")).to_contain_text("language tag")
    expect(field_error(page, "Name")).to_have_text("")
    expect(field_error(page, "Resume after (seconds, 0 = by hand)")).to_have_text("")
    expect(page.get_by_label("Language")).to_be_focused()
    page.get_by_label("Language").fill("es")
    page.get_by_role("button", name="Create agent").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Clara")


def test_a_create_shows_the_servers_warnings(page, stack):
    agent = stack.api("POST", "/api/v1/agents", "acme", {"name": "Warned"})
    sign_in(page, stack, path=f"#/agents/{agent['id']}/scripts")
    page.get_by_role("button", name="New script").click()
    page.get_by_label("Name", exact=True).fill("Undeclared")
    page.get_by_label("Text").fill("Hi {{promo}}!")
    page.get_by_role("button", name="Create script").click()
    expect(page.get_by_role("heading", name="Edit script")).to_be_visible()
    expect(page.get_by_text("Created.")).to_be_visible()
    # The warning is shown at the field it names.
    expect(page.locator(".field[data-field=body] .field-warning")).to_contain_text("Warning: unknown variable {{promo}}")


def test_an_edit_conflict_offers_reload_or_overwrite(page, stack):
    page.trouble.allow(412, r"/api/v1/agents/agt_")
    agent = stack.api("POST", "/api/v1/agents", "acme", {"name": "Contested", "persona": "Mine"})
    sign_in(page, stack, path=f"#/agents/{agent['id']}")
    expect(page.get_by_label("Persona")).to_have_value("Mine")
    # Someone else saves meanwhile.
    stack.api("PATCH", f"/api/v1/agents/{agent['id']}", "acme", {"persona": "Theirs"})
    page.get_by_label("Persona").fill("Mine, edited")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Changed elsewhere meanwhile.")).to_be_visible()
    expect(page.get_by_role("button", name="Reload (lose my edits)")).to_be_focused()
    page.get_by_role("button", name="Overwrite with my version").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    assert stack.api("GET", f"/api/v1/agents/{agent['id']}")["persona"] == "Mine, edited"
    # And reload shows what is stored.
    stack.api("PATCH", f"/api/v1/agents/{agent['id']}", "acme", {"persona": "Theirs again"})
    page.get_by_label("Persona").fill("Lost edit")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("button", name="Reload (lose my edits)").click()
    expect(page.get_by_label("Persona")).to_have_value("Theirs again")


def test_a_save_without_changes_makes_no_new_version(page, stack):
    agent = stack.api("POST", "/api/v1/agents", "acme", {"name": "Still"})
    script = stack.api("POST", f"/api/v1/agents/{agent['id']}/scripts", "acme",
                       {"name": "Same", "type": "greeting", "body": "Hi {{lead.name|there}}!"})
    sign_in(page, stack, path=f"#/agents/{agent['id']}/scripts/{script['id']}")
    page.get_by_role("button", name="Save (new version)").click()
    expect(page.get_by_text("Nothing changed: nothing was saved and no new version was made.")).to_be_visible()
    assert stack.api("GET", f"/api/v1/agents/{agent['id']}/scripts/{script['id']}")["version"] == 1
    versions = page.locator("section", has=page.get_by_role("heading", name="Versions"))
    expect(versions.get_by_role("row")).to_have_count(2)  # the header and version 1
