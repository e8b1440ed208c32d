"""Connecting Kommo through the install flow: the integrations page sends the user to Kommo's consent page
(the emulator), Kommo sends them back to our callback with a code, and the page shows the account connected
with our webhook registered at Kommo; disconnecting removes the webhook again."""
import re

from playwright.sync_api import expect

from browser import assert_accessible, sign_in


def registered(stack):
    return [hook["destination"] for hook in stack.emulator("/_emulator/webhooks")["webhooks"]]


def test_connect_kommo_through_the_install_flow_and_disconnect(page, stack):
    tenant = stack.add_tenant("initech")
    sign_in(page, stack, "initech")
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Integrations").click()
    card = page.locator("section.card", has=page.get_by_role("heading", name="Kommo account"))
    expect(card.get_by_role("button", name="Connect Kommo")).to_be_visible()
    assert_accessible(page, "the integrations page before connecting")

    # Our page → the emulator's consent page → our callback → back on the integrations page.
    with page.expect_navigation(url=f"{stack.base_url}/admin/#/integrations?kommo=connected"):
        card.get_by_role("button", name="Connect Kommo").click()
    expect(card.get_by_text("Kommo account connected.")).to_be_visible()
    expect(card.get_by_text("Acme Sales — acmesales (id 29012345)")).to_be_visible()
    expect(card.get_by_text("Webhook registered at Kommo.")).to_be_visible()
    expect(card.get_by_text(re.compile(r"Catalog: 1 pipelines, \d+ stages, 3 users"))).to_be_visible()
    assert_accessible(page, "the integrations page after connecting")

    # Kommo holds our webhook for this tenant, for every event family we parse.
    assert tenant.webhook_url in registered(stack)
    hook = next(h for h in stack.emulator("/_emulator/webhooks")["webhooks"] if h["destination"] == tenant.webhook_url)
    assert {"add_lead", "status_lead", "add_outgoing_message"} <= set(hook["settings"])
    # The code was exchanged with the integration's own id and redirect URI, and no request broke Kommo's rules.
    exchanges = [r for r in stack.emulator("/_emulator/requests")["requests"] if r["path"] == "/oauth2/access_token"]
    assert exchanges and exchanges[-1]["json"]["client_id"] == stack.oauth_client_id
    assert exchanges[-1]["json"]["redirect_uri"] == stack.oauth_redirect_uri
    assert stack.emulator("/_emulator/violations")["violations"] == []
    assert stack.api("GET", "/api/v1/integrations/kommo/webhook", "initech")["account_id"] == "29012345"

    # Disconnecting removes the webhook at Kommo and offers to connect again.
    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Disconnect").click()
    expect(card.get_by_role("button", name="Connect Kommo")).to_be_visible()
    assert tenant.webhook_url not in registered(stack)
