"""The dashboard: an agent's figures for a period as tiles and charts, a range picker that lives in the
address, field problems shown at the field, and no accessibility violations."""
import re

from playwright.sync_api import expect

from browser import assert_accessible, sign_in
from test_flows import agent_with_task_rule, new_lead, stage_change


def test_dashboard_shows_an_agents_figures_and_follows_the_range_picker(page, stack):
    agent, rule = agent_with_task_rule(stack, "Dashboard")
    stage_change(stack, new_lead())
    overview = f"/api/v1/analytics/overview?agent_id={agent['id']}"
    # The rule fired and its one action (a task) has an outcome.
    stack.wait_for(lambda: (lambda t: t["rule_fires"] == 1 and t["actions_succeeded"] + t["actions_failed"] + t["actions_other"] == 1)(
        stack.api("GET", overview)["totals"]), what="the rule's fire and its action counted")
    totals = stack.api("GET", overview)["totals"]

    sign_in(page, stack, path=f"#/dashboard?agent_id={agent['id']}")
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    nav = page.get_by_role("navigation", name="Pages")
    expect(nav.locator("[aria-current=page]")).to_have_text("Dashboard")
    def tile(label):
        return page.locator(".stat").filter(has=page.locator(".label", has_text=re.compile(f"^{re.escape(label)}$"))).locator(".value")
    expect(tile("rule fires")).to_have_text("1")
    expect(tile("actions succeeded")).to_have_text(str(totals["actions_succeeded"]))
    expect(tile("won")).to_have_text(str(totals["leads_won"]))
    # The agent is chosen in the picker; the charts are SVG drawn by the page, named by their title and
    # description; the day's fire is a bar; the top rule links to the rule.
    expect(page.locator("form.filters").get_by_label("Agent")).to_have_value(agent["id"])
    fires = page.get_by_role("img", name=re.compile("^Rule fires per day"))
    expect(fires).to_be_visible()
    assert fires.evaluate("e => e.tagName.toLowerCase()") == "svg"
    expect(fires.locator("desc")).to_contain_text("fired 1 in total")
    expect(fires.locator('rect[data-series="fired"][data-value="1"]')).to_have_count(1)
    expect(page.locator("figure.chart canvas")).to_have_count(0)
    expect(page.get_by_role("link", name="Call qualified leads")).to_have_attribute(
        "href", f"#/agents/{agent['id']}/rules/{rule['id']}")
    # Events are the tenant's: with an agent chosen the tile says so instead of a 0.
    events = page.locator(".stat").filter(has=page.locator(".label", has_text=re.compile("^events$")))
    expect(events).to_contain_text("per tenant, not per agent")
    expect(events.locator(".value")).to_have_text("—")
    assert_accessible(page, "the dashboard")

    # Every number leads to the list behind it: the action figures to the action log filtered by outcome.
    succeeded = page.locator("a.stat").filter(has=page.locator(".label", has_text=re.compile("^actions succeeded$")))
    expect(succeeded).to_have_attribute("href", "#/actions?outcome=succeeded")
    expect(page.locator("a.stat").filter(has=page.locator(".label", has_text=re.compile("^rule fires$")))).to_have_attribute(
        "href", f"#/agents/{agent['id']}/rules")
    if totals["actions_succeeded"]:
        succeeded.click()
        expect(page.get_by_role("heading", name="Action log", level=1)).to_be_visible()
        expect(page.get_by_label("Outcome")).to_have_value("succeeded")
        expect(page.locator("table tbody tr")).not_to_have_count(0)
        page.go_back()
        expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()

    # A period with nothing in it: the address keeps the range, and the figures are zero.
    form = page.locator("form.filters")
    form.get_by_label("From").fill("2020-01-01")
    form.get_by_label("To").fill("2020-01-31")
    form.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"#/dashboard\?from=2020-01-01&to=2020-01-31&tz=UTC&agent_id="))
    expect(tile("rule fires")).to_have_text("0")
    expect(page.get_by_text("No rule fired in this period.")).to_be_visible()

    # A time zone the server does not know is a problem at its field.
    page.trouble.allow(400, r"/api/v1/analytics/")
    form.get_by_label("Time zone").fill("Mars/Olympus")
    form.get_by_role("button", name="Show").click()
    expect(page.locator('[data-field="tz"] .field-error')).to_contain_text("IANA time zone")
    assert_accessible(page, "the dashboard with a field problem")
