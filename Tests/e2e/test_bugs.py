"""Bugs found by using the UI, each pinned by what a user saw."""
import re

from playwright.sync_api import expect

from browser import allow_missing_catalog, assert_accessible, sign_in
from harness import http
from test_flows import agent_with_task_rule, new_lead, stage_change


def test_the_agent_header_badge_follows_pause_and_resume(page, stack):
    agent = stack.api("POST", "/api/v1/agents", "acme", {"name": "Pausable"})
    sign_in(page, stack, path=f"#/agents/{agent['id']}")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("active")
    page.get_by_role("button", name="Pause agent").click()
    expect(page.get_by_role("button", name="Resume agent")).to_be_visible()
    expect(heading).to_contain_text("paused")
    expect(heading).not_to_contain_text("active")
    page.get_by_role("button", name="Resume agent").click()
    expect(heading).to_contain_text("active")


def test_an_opened_delivery_body_is_readable_and_the_reparse_error_shows_whole(page, stack):
    page.trouble.allow(412, r"/reparse$")
    # A body that authenticates but names no Kommo entity: kept as unparsed.
    form = "&".join(f"nothing%5Bhere%5D%5B0%5D%5B{key}%5D={value}" for key, value in
                    [("id", "4410022"), ("name", "Instagram+inquiry+with+a+rather+long+name"), ("price", "0"), ("status_id", "61234501")])
    answer = http("POST", stack.tenants["acme"].webhook_url, None, form.encode(), "application/x-www-form-urlencoded")
    delivery = answer["delivery_id"]
    sign_in(page, stack, path="#/webhooks/deliveries?status=unparsed")
    row = page.get_by_role("row").filter(has_text=delivery)
    row.get_by_role("button", name="Show body").click()
    body = page.locator("tr.detail-row:visible pre.json").first
    expect(body).to_be_visible()
    expect(body).to_contain_text("nothing[here][0][id] = 4410022")
    box = body.bounding_box()
    assert box["width"] > 600, f"the body is {box['width']} px wide"
    row.get_by_role("button", name="Reparse").click()
    error = page.locator("tr.detail-row:visible .reparse-result .notice").first
    expect(error).to_contain_text("412")
    # Whole: inside the window and not clipped by its table.
    shown = error.bounding_box()
    assert shown["width"] > 300 and shown["x"] >= 0 and shown["x"] + shown["width"] <= 1280, shown
    assert error.evaluate("e => e.scrollWidth <= e.clientWidth + 1 && e.scrollHeight <= e.clientHeight + 1")
    assert_accessible(page, "the deliveries with a body and a reparse error open")


def test_the_rule_statistics_show_numbers_and_a_chart(page, stack):
    allow_missing_catalog(page)
    agent, rule = agent_with_task_rule(stack, "Counted")
    for _ in range(2):
        stage_change(stack, new_lead())
    stack.wait_for(lambda: stack.api("GET", f"/api/v1/agents/{agent['id']}/rules/{rule['id']}/stats")["rules"][0]["fired"] >= 2,
                   what="two firings in the statistics")
    sign_in(page, stack, path=f"#/agents/{agent['id']}/rules/{rule['id']}")
    card = page.locator("section", has=page.get_by_role("heading", name="Statistics"))
    fired = card.locator(".stat", has_text="fired").first
    expect(fired.locator(".value")).to_have_text("2")
    canvas = card.locator("canvas")
    expect(canvas).to_have_attribute("aria-label", re.compile(r"fired 2"))
    page.wait_for_function("() => window.Chart && Chart.getChart(document.querySelector('section canvas'))")
    assert_accessible(page, "the rule page with its statistics")


def test_the_script_effectiveness_version_tile_follows_a_save(page, stack):
    agent = stack.api("POST", "/api/v1/agents", "acme", {"name": "Versioned"})
    script = stack.api("POST", f"/api/v1/agents/{agent['id']}/scripts", "acme",
                       {"name": "Greeting", "type": "greeting", "body": "Hi {{lead.name|there}}!"})
    sign_in(page, stack, path=f"#/agents/{agent['id']}/scripts/{script['id']}")
    card = page.locator("section", has=page.get_by_role("heading", name="Effectiveness"))
    version = card.locator(".stat", has_text="current version").locator(".value")
    expect(version).to_have_text("1")
    page.get_by_label("Text").fill("Hello {{lead.name|there}}!")
    page.get_by_role("button", name="Save (new version)").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    expect(version).to_have_text("2")


def test_a_key_created_without_a_name_is_named_by_when_it_was_made(page, stack):
    sign_in(page, stack, path="#/keys")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_text("Copy this key now")).to_be_visible()
    keys = page.locator("section", has=page.get_by_role("heading", name="Keys"))
    expect(keys.get_by_role("cell", name=re.compile(r"^key created \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")).first).to_be_visible()
    expect(keys.get_by_role("cell", name="api key", exact=True)).to_have_count(0)


def test_the_overview_draws_usage_and_the_agent_form_edits_json_with_codemirror(page, stack):
    sign_in(page, stack)
    page.goto(f"{stack.base_url}/admin/#/")
    usage = page.locator("section", has=page.get_by_role("heading", name="Usage"))
    expect(usage.locator(".stat", has_text="messages sent")).to_be_visible()
    assert_accessible(page, "the overview")
    agent = stack.api("POST", "/api/v1/agents", "acme", {"name": "Hours"})
    page.goto(f"{stack.base_url}/admin/#/agents/{agent['id']}")
    editor = page.locator(".field", has_text="Working hours (JSON)").locator(".CodeMirror")
    expect(editor).to_be_visible()
    editor.click()
    page.keyboard.type('{"time_zone": "Europe/Madrid", "days": ["mon"], "start": "09:00", "end": "18:00"')
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    stored = stack.api("GET", f"/api/v1/agents/{agent['id']}")
    assert stored["working_hours"]["time_zone"] == "Europe/Madrid", stored
    assert_accessible(page, "the agent form with CodeMirror")


def test_without_chart_js_the_page_keeps_its_numbers_and_says_what_to_install(page, stack):
    allow_missing_catalog(page)
    # As on a machine without Debian's libjs-chart.js: the gateway has no such file.
    page.trouble.allow(404, r"/admin/vendor/chart\.js/")
    page.route("**/admin/vendor/chart.js/**", lambda route: route.fulfill(status=404, body="no such file"))
    agent, rule = agent_with_task_rule(stack, "Chartless")
    stage_change(stack, new_lead())
    stack.wait_for(lambda: stack.api("GET", f"/api/v1/agents/{agent['id']}/rules/{rule['id']}/stats")["rules"][0]["fired"] >= 1,
                   what="a firing in the statistics")
    sign_in(page, stack, path=f"#/agents/{agent['id']}/rules/{rule['id']}")
    card = page.locator("section", has=page.get_by_role("heading", name="Statistics"))
    expect(card.locator(".stat", has_text="fired").first.locator(".value")).to_have_text("1")
    expect(card).to_contain_text("install Debian's libjs-chart.js")
    card.get_by_text("Numbers").click()
    expect(card.get_by_role("cell", name="1", exact=True).first).to_be_visible()
