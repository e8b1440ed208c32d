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


def minimal_pdf(pages):
    """A PDF of one Helvetica line per page, with its cross-reference table."""
    font = 3 + 2 * len(pages)
    objects = ["<< /Type /Catalog /Pages 2 0 R >>",
               "<< /Type /Pages /Kids [%s] /Count %d >>" % (" ".join("%d 0 R" % (3 + 2 * i) for i in range(len(pages))), len(pages))]
    for i, text in enumerate(pages):
        stream = "BT /F1 12 Tf 72 720 Td (%s) Tj ET" % text
        objects.append("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>" % (font, 4 + 2 * i))
        objects.append("<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out, offsets = "%PDF-1.4\n", []
    for i, body in enumerate(objects):
        offsets.append(len(out))
        out += "%d 0 obj\n%s\nendobj\n" % (i + 1, body)
    xref = len(out)
    out += "xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1) + "".join("%010d 00000 n \n" % o for o in offsets)
    out += "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out.encode()


def test_upload_a_pdf(page, stack, tmp_path):
    agent = stack.api("POST", "/api/v1/agents", "acme", {"name": "Reads PDFs"})
    handbook = tmp_path / "Oven handbook.pdf"
    handbook.write_bytes(minimal_pdf(["Delivery to Valencia takes 48 hours.", "Warranty: three years on every oven."]))
    sign_in(page, stack, path=f"#/agents/{agent['id']}/knowledge")
    page.get_by_role("button", name="New document").click()
    page.get_by_label("Upload a file").set_input_files(str(handbook))
    expect(page.get_by_label("Title")).to_have_value("Oven handbook")
    expect(page.get_by_label("Format")).to_have_value("pdf")
    page.get_by_role("button", name="Add document").click()
    expect(page.get_by_text("Version 1, cut into 2 chunks.")).to_be_visible()
    expect(page.get_by_label("Text")).to_have_value("Delivery to Valencia takes 48 hours.\n\fWarranty: three years on every oven.\n\f")

    page.get_by_label("Question").fill("How long is the warranty?")
    page.get_by_role("button", name="Search").click()
    first = page.locator("table tbody tr").first
    expect(first).to_contain_text("Oven handbook v1 #1")
    expect(first).to_contain_text("three years")


def test_fetch_a_page_from_a_url(page, stack, tmp_path):
    import functools
    import http.server
    import threading

    (tmp_path / "faq.html").write_text("<html><head><title>Shop FAQ</title></head><body><h1>Delivery</h1>"
                                       "<p>We deliver to Valencia in 48 hours.</p></body></html>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        agent = stack.api("POST", "/api/v1/agents", "acme", {"name": "Reads pages"})
        sign_in(page, stack, path=f"#/agents/{agent['id']}/knowledge")
        page.get_by_role("button", name="New document").click()
        page.get_by_label("Fetch from a URL").fill(f"http://127.0.0.1:{server.server_port}/faq.html")
        page.get_by_role("button", name="Add document").click()
        expect(page.get_by_text("Version 1, cut into 1 chunk.")).to_be_visible()
        expect(page.get_by_label("Title")).to_have_value("Shop FAQ")
        expect(page.get_by_label("Format")).to_have_value("html")
        assert_accessible(page, "a document fetched from a URL")

        page.get_by_label("Question").fill("Do you deliver to Valencia?")
        page.get_by_role("button", name="Search").click()
        expect(page.locator("table tbody tr").first).to_contain_text("We deliver to Valencia in 48 hours.")
    finally:
        server.shutdown()
