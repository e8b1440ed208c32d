"""Every page passes axe-core (no serious or critical violation) with data on it, at 1280×800 and at
390×844; the navigation marks where you are; at 390 px it folds behind a menu button and row actions
stay reachable."""
import pytest
from playwright.sync_api import expect

from browser import allow_missing_catalog, assert_accessible, sign_in
from test_flows import agent_with_task_rule, new_lead, stage_change


@pytest.fixture(scope="module")
def seeded(stack):
    """An agent with a rule, a sequence and a script, and an event of a lead, for the pages to show."""
    agent, rule = agent_with_task_rule(stack, "Everywhere")
    sequence = stack.api("POST", f"/api/v1/agents/{agent['id']}/sequences", "acme", {
        "name": "Follow-up", "status": "active", "trigger": {"type": "manual"},
        "steps": [{"delay_days": 1, "action": {"type": "add_note", "text": "One"}},
                  {"delay_days": 2, "action": {"type": "add_note", "text": "Two"}}]})
    script = stack.api("POST", f"/api/v1/agents/{agent['id']}/scripts", "acme",
                       {"name": "Greeting", "type": "greeting", "body": "Hi {{lead.name|there}}!"})
    lead = new_lead()
    stage_change(stack, lead)
    event = stack.wait_for(lambda: stack.api("GET", f"/api/v1/webhooks/events?lead_id={lead}")["items"], what="the event")[0]
    a = agent["id"]
    return {
        "Overview": "#/", "Dashboard": "#/dashboard", "Agents": "#/agents", "Agent": f"#/agents/{a}", "Rules": f"#/agents/{a}/rules",
        "Rule": f"#/agents/{a}/rules/{rule['id']}", "Sequences": f"#/agents/{a}/sequences",
        "Sequence": f"#/agents/{a}/sequences/{sequence['id']}", "Scripts": f"#/agents/{a}/scripts",
        "Script": f"#/agents/{a}/scripts/{script['id']}", "Webhook history": "#/webhooks",
        "Event": f"#/webhooks/events/{event['id']}", "Deliveries": "#/webhooks/deliveries",
        "Lead timeline": f"#/leads/{lead}", "Integrations": "#/integrations", "API keys": "#/keys",
        "Action log": "#/actions?outcome=succeeded",
    }


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}],
                         ids=["1280x800", "390x844"])
def test_every_page_is_accessible(page, stack, seeded, viewport):
    allow_missing_catalog(page)
    sign_in(page, stack)
    for name, path in seeded.items():
        page.goto(f"{stack.base_url}/admin/{path}")
        expect(page.locator("main .page")).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert_accessible(page, f"{name} at {viewport['width']} px")
    page.goto(f"{stack.base_url}/admin/#/tenants")
    sign_in(page, stack, tenant="admin", path="#/tenants")
    page.wait_for_load_state("networkidle")
    assert_accessible(page, "Tenants")


def test_the_navigation_marks_the_current_page_and_tab(page, stack, seeded):
    sign_in(page, stack, path=seeded["Rules"])
    nav = page.get_by_role("navigation", name="Pages")
    expect(nav.locator("[aria-current=page]")).to_have_text("Agents")
    expect(page.locator(".tabs [aria-current=page]")).to_have_text("Rules")
    page.goto(f"{stack.base_url}/admin/#/webhooks/deliveries")
    expect(nav.locator("[aria-current=page]")).to_have_text("Deliveries")


def test_the_skip_link_and_the_focus_ring_on_the_top_bar(page, stack):
    sign_in(page, stack)
    page.goto(f"{stack.base_url}/admin/#/agents")
    page.reload()
    expect(page.get_by_role("heading", name="Agents", exact=True)).to_be_visible()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    # The focus ring is drawn on the dark top bar too.
    page.get_by_role("searchbox", name="Lead id").focus()
    page.keyboard.press("Shift+Tab")
    outline = page.evaluate("() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth, s.outlineColor]; }")
    assert outline[0] != "none" and outline[1] != "0px", outline


def test_every_control_has_a_label(page, stack, seeded):
    allow_missing_catalog(page)
    sign_in(page, stack)
    for name in ("Rules", "Sequence", "Agent", "Webhook history", "Deliveries", "API keys", "Script"):
        page.goto(f"{stack.base_url}/admin/{seeded[name]}")
        page.wait_for_load_state("networkidle")
        unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button')]
          .filter((e) => e.type !== 'hidden' && !e.closest('.CodeMirror'))
          .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby') && !/[A-Za-z]/.test(e.textContent || ''))
          .map((e) => e.outerHTML.slice(0, 120))""")
        assert unlabelled == [], f"{name}: controls without a label: {unlabelled}"


@pytest.mark.parametrize("viewport", [{"width": 390, "height": 844}], ids=["390x844"])
def test_at_390_px_the_navigation_folds_and_row_actions_stay_reachable(page, stack, seeded, viewport):
    sign_in(page, stack, path="#/keys")
    menu = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Pages")
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    header = page.locator("header.topbar").bounding_box()
    assert header["height"] < 120, f"the top bar is {header['height']} px high"
    # The page starts near the top, not under rows of navigation.
    assert page.get_by_role("heading", name="API keys").bounding_box()["y"] < 200
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Agents")).to_be_visible()
    nav.get_by_role("link", name="Agents").click()
    expect(nav).to_be_hidden()
    expect(page.get_by_role("heading", name="Agents", exact=True)).to_be_visible()
    # Row actions: the links of the agent's row, and a key's Revoke button, can be reached and used.
    # Rows stack into "column: value" lines: the row's links are on screen without scrolling sideways.
    row = page.locator("tbody tr").filter(has=page.get_by_role("link", name="Everywhere"))
    rules = row.get_by_role("link", name="Rules")
    box = rules.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    rules.click()
    expect(page.locator(".tabs [aria-current=page]")).to_have_text("Rules")
    enable = page.get_by_role("checkbox", name="Enabled: Call qualified leads")
    enable.scroll_into_view_if_needed()
    expect(enable).to_be_in_viewport()
    page.goto(f"{stack.base_url}/admin/#/keys")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_text("Copy this key now")).to_be_visible()
    page.wait_for_load_state("networkidle")
    revoke = page.get_by_role("button", name="Revoke").first
    revoke.scroll_into_view_if_needed()
    expect(revoke).to_be_in_viewport()
    # No page is wider than the screen: wide tables scroll inside their box.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
