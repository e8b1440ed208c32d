"""The knowledge base page: a document uploaded from a file, the question preview naming the chunk that
answers, an edit making a new version, and a document's removal."""
from playwright.sync_api import expect

from browser import assert_accessible, sign_in


def test_upload_a_file_preview_a_question_edit_and_delete(page, stack, tmp_path):
    agent = stack.api("POST", "/api/v1/agents", "acme", {"name": "Knows things"})
    faq = tmp_path / "Delivery FAQ.md"
    faq.write_text("# Delivery\nWe deliver to Valencia every Tuesday.\n\n# Warranty\nEvery oven has a two-year warranty.\n")
    sign_in(page, stack, path=f"#/agents/{agent['id']}/knowledge")
    expect(page.get_by_text("No documents yet")).to_be_visible()
    assert_accessible(page, "the empty knowledge base")

    page.get_by_role("button", name="New document").click()
    page.get_by_label("Upload a file").set_input_files(str(faq))
    expect(page.get_by_label("Title")).to_have_value("Delivery FAQ")
    expect(page.get_by_label("Format")).to_have_value("markdown")
    page.get_by_role("button", name="Add document").click()
    expect(page.get_by_role("heading", name="Edit document")).to_be_visible()
    expect(page.get_by_text("Version 1, cut into 2 chunks.")).to_be_visible()
    assert_accessible(page, "a knowledge document")

    page.get_by_label("Question").fill("Do you deliver to Valencia?")
    page.get_by_role("button", name="Search").click()
    first = page.locator("table tbody tr").first
    expect(first).to_contain_text("Delivery FAQ v1 #0")
    expect(first).to_contain_text("We deliver to Valencia every Tuesday.")
    expect(first).to_contain_text("100%")

    page.get_by_label("Text").fill("# Delivery\nWe deliver to Valencia and Sevilla every Tuesday.")
    page.get_by_role("button", name="Save (new version)").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    expect(page.get_by_text("Version 2, cut into 1 chunk.")).to_be_visible()

    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete document").click()
    expect(page.get_by_text("No documents yet")).to_be_visible()
