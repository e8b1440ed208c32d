"""Pickers by name: with a connected Kommo account the builders offer pipelines, stages, users, task types
and a custom field's values by name and store their ids; the board names the pipelines and stages.

The catalog is the gateway's `GET /api/v1/kommo/catalog` (the shared contract), which the UI reads where
the gateway's API document lists it. Where this build of the gateway does not serve it yet, the page is
given a catalog in that contract's shape (and a document listing it) instead, so the pickers are tested
either way; with a real catalog the names of test_rule_builder's test are the account's.
"""
import json
import re

import pytest
from playwright.sync_api import expect

from browser import assert_accessible, sign_in
from builders import catalog, new_agent

CATALOG = {
    "connected": True, "account": {"id": 31000001, "subdomain": "acmesales", "name": "Acme Sales"},
    "refreshed_at": "2026-12-03T06:00:00Z",
    "pipelines": [{"id": 7100001, "name": "Sales", "is_main": True, "sort": 1, "stages": [
        {"id": 61234501, "name": "Incoming", "sort": 10, "color": "#99ccff", "kind": "unsorted"},
        {"id": 61234502, "name": "Qualified", "sort": 20, "color": "#ffcc66", "kind": "open"},
        {"id": 61234503, "name": "Proposal", "sort": 30, "color": None, "kind": "open"},
        {"id": 142, "name": "Won", "sort": 10000, "color": None, "kind": "won"},
        {"id": 143, "name": "Lost", "sort": 11000, "color": None, "kind": "lost"}]}],
    "users": [{"id": 42, "name": "Maria Lopez", "email": "maria@example.com"}, {"id": 43, "name": "Tom Berg", "email": None}],
    "custom_fields": {"leads": [{"id": 512345, "name": "Budget", "type": "select", "code": None,
                                 "enums": [{"id": 1, "value": "2500-5000"}, {"id": 2, "value": "5000+"}]}],
                      "contacts": [], "companies": []},
    "tags": {"leads": [{"id": 1, "name": "hot"}], "contacts": [], "companies": []},
    "task_types": [{"id": 1, "name": "Follow-up call"}, {"id": 2, "name": "Meeting"}],
}


@pytest.fixture
def account(page, stack):
    real = catalog(stack)
    if real.get("connected"):
        pytest.skip("the gateway serves the account's own catalog: test_rule_builder picks its stages by name")
    page.route(re.compile(r"/api/v1/kommo/catalog$"), lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(CATALOG)))

    def document_with_catalog(route):
        # The UI asks for the catalog only where the gateway's API document lists it.
        answer = route.fetch()
        document = answer.json()
        document["paths"]["/api/v1/kommo/catalog"] = {"get": {"operationId": "kommoCatalog", "responses": {"200": {"description": "the catalog"}}}}
        route.fulfill(response=answer, body=json.dumps(document), content_type="application/json")
    page.route(re.compile(r"/api/v1/openapi\.json$"), document_with_catalog)
    return CATALOG


def test_pickers_by_name_store_ids_and_show_names_again(page, stack, account):
    agent = new_agent(stack)
    sign_in(page, stack, path=f"#/agents/{agent['id']}/rules")
    page.get_by_role("button", name="New rule").click()
    form = page.locator("form.rule-builder")
    expect(form.get_by_text("by name from the Kommo account Acme Sales")).to_be_visible()
    form.get_by_label("Name", exact=True).fill("Picked by name")
    form.get_by_label("Pipeline (optional)", exact=True).select_option(label="Sales")
    form.get_by_label("Stage (optional)", exact=True).select_option(label="Qualified")

    tree = form.locator(".tree")
    tree.get_by_label("Type of the new condition").select_option("field_value")
    tree.get_by_role("button", name="Add condition").click()
    leaf = tree.locator("[data-field='conditions.all[0]'][data-node=leaf]")
    leaf.get_by_label("Field", exact=True).fill("cf.Budget")
    leaf.get_by_label("Field", exact=True).press("Tab")
    leaf.get_by_label("Operator", exact=True).select_option("in")
    leaf.get_by_label("Values", exact=True).select_option(["2500-5000", "5000+"])
    add = tree.locator("[data-field='conditions'][data-node=all] > .tree-add")
    add.get_by_label("Type of the new condition").select_option("responsible_user_is")
    add.get_by_role("button", name="Add condition").click()
    tree.locator("[data-field='conditions.all[1]']").get_by_label("Users", exact=True).select_option(label=["Maria Lopez"])

    actions = form.locator(".action-list")
    task = actions.locator("[data-field='actions[0]'].action-card")
    task.get_by_label("Task type (optional)", exact=True).select_option(label="Meeting")
    task.get_by_label("Assign to (optional)", exact=True).select_option(label="Tom Berg")
    actions.get_by_label("Type of the new action").select_option("set_field")
    actions.get_by_role("button", name="Add action").click()
    set_field = actions.locator("[data-field='actions[1]'].action-card")
    set_field.get_by_label("Field", exact=True).fill("cf.Budget")
    set_field.get_by_label("Field", exact=True).press("Tab")
    set_field.get_by_label("Value", exact=True).select_option("5000+")
    actions.get_by_label("Type of the new action").select_option("change_stage")
    actions.get_by_role("button", name="Add action").click()
    actions.locator("[data-field='actions[2]'].action-card").get_by_label("Stage", exact=True).select_option(label="Proposal")
    assert_accessible(page, "the rule builder with the catalog")
    form.get_by_role("button", name="Create rule").click()
    expect(page).to_have_url(re.compile(r"/rules/[^/]+$"))
    rule_id = page.url.rsplit("/", 1)[1]

    stored = stack.api("GET", f"/api/v1/agents/{agent['id']}/rules/{rule_id}")
    assert stored["trigger"] == {"type": "stage_changed", "pipeline_id": 7100001, "stage_id": 61234502}
    assert stored["conditions"] == {"all": [
        {"type": "field_value", "field": "cf.Budget", "operator": "in", "values": ["2500-5000", "5000+"]},
        {"type": "responsible_user_is", "user_ids": [42]}]}
    assert stored["actions"][0]["task_type"] == 2 and stored["actions"][0]["responsible_user_id"] == 43
    assert stored["actions"][1] == {"type": "set_field", "field": "cf.Budget", "value": "5000+"}
    assert stored["actions"][2] == {"type": "change_stage", "stage_id": 61234503}

    form = page.locator("form.rule-builder")
    expect(form.get_by_label("Stage (optional)", exact=True).locator("option:checked")).to_have_text("Qualified")
    expect(form.locator("[data-field='conditions.all[1]']").get_by_label("Users", exact=True).locator("option:checked")).to_have_text("Maria Lopez")

    page.goto(f"{stack.base_url}/admin/#/board")
    board = page.locator("section.card[data-pipeline='7100001']")
    expect(board.get_by_role("heading", name="Sales")).to_be_visible()
    qualified = board.locator(".board-column[data-stage='61234502']")
    expect(qualified.get_by_role("heading", name="Qualified")).to_be_visible()
    expect(qualified.get_by_role("link", name="Picked by name")).to_be_visible()
    expect(board.locator(".board-column[data-stage='61234503']").get_by_role("link", name="Picked by name")).to_be_visible()
    assert_accessible(page, "the board with the catalog")


def test_a_late_catalog_keeps_what_is_being_typed(page, stack):
    """The catalog arrives while the user is typing in a step: the builder redraws with names, and the
    text typed before and after, the caret and the focus all stay where they were."""
    if catalog(stack).get("connected"):
        pytest.skip("the gateway serves the account's own catalog")
    held = []
    page.route(re.compile(r"/api/v1/kommo/catalog$"), lambda route: held.append(route))

    def document_with_catalog(route):
        answer = route.fetch()
        document = answer.json()
        document["paths"]["/api/v1/kommo/catalog"] = {"get": {"operationId": "kommoCatalog", "responses": {"200": {"description": "the catalog"}}}}
        route.fulfill(response=answer, body=json.dumps(document), content_type="application/json")
    page.route(re.compile(r"/api/v1/openapi\.json$"), document_with_catalog)
    agent = new_agent(stack)
    sequence = stack.api("POST", f"/api/v1/agents/{agent['id']}/sequences", body={
        "name": "Typing", "trigger": {"type": "manual"},
        "steps": [{"id": "a", "action": {"type": "create_task", "text": "Call", "due_in_seconds": 3600}}]})
    sign_in(page, stack, path=f"#/agents/{agent['id']}/sequences/{sequence['id']}")
    task = page.locator("form.sequence-builder li.step-row").nth(0).get_by_label("Task text", exact=True)
    task.click()
    page.keyboard.press("End")
    page.keyboard.type(" the lead")
    for _ in range(50):  # the held request reaches the route while the test waits
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the builder asked for the catalog"
    held[0].fulfill(status=200, content_type="application/json", body=json.dumps(CATALOG))
    # The redraw offers the account's users by name …
    expect(page.locator("form.sequence-builder li.step-row").nth(0).locator("option", has_text="Maria Lopez")).to_have_count(1)
    # … and the typing goes on in the same field, at the same place.
    page.keyboard.type(" today")
    expect(task).to_have_value("Call the lead today")
    expect(task).to_be_focused()


def _hold_catalog(page):
    """Holds the builders' catalog read until the test lets it through with `CATALOG`."""
    held = []
    page.route(re.compile(r"/api/v1/kommo/catalog$"), lambda route: held.append(route))

    def document_with_catalog(route):
        answer = route.fetch()
        document = answer.json()
        document["paths"]["/api/v1/kommo/catalog"] = {"get": {"operationId": "kommoCatalog", "responses": {"200": {"description": "the catalog"}}}}
        route.fulfill(response=answer, body=json.dumps(document), content_type="application/json")
    page.route(re.compile(r"/api/v1/openapi\.json$"), document_with_catalog)

    def release():
        for _ in range(50):  # the held request reaches the route while the test waits
            if held:
                break
            page.wait_for_timeout(100)
        assert held, "the builder asked for the catalog"
        for route in held:
            route.fulfill(status=200, content_type="application/json", body=json.dumps(CATALOG))
    return release


def test_a_late_catalog_keeps_the_picked_type_of_the_next_step(page, stack):
    """The type picked for the next step, action or condition is still the one picked after the catalog
    arrives and redraws the builder, so "Add" adds what the user chose."""
    release = _hold_catalog(page)
    agent = new_agent(stack)
    sequence = stack.api("POST", f"/api/v1/agents/{agent['id']}/sequences", body={
        "name": "Late catalog", "trigger": {"type": "manual"},
        "steps": [{"id": "a", "action": {"type": "create_task", "text": "Call", "due_in_seconds": 3600}}]})
    sign_in(page, stack, path=f"#/agents/{agent['id']}/sequences/{sequence['id']}")
    form = page.locator("form.sequence-builder")
    form.get_by_label("Action of the new step").select_option("add_note")
    release()
    steps = form.locator("li.step-row")
    expect(steps.nth(0).locator("option", has_text="Maria Lopez")).to_have_count(1)  # redrawn with the account's users
    expect(form.get_by_label("Action of the new step")).to_have_value("add_note")
    form.get_by_role("button", name="Add step").click()
    expect(steps.nth(1).get_by_label("Note", exact=True)).to_be_visible()


def test_a_late_catalog_keeps_the_picked_type_of_the_next_rule_action(page, stack):
    release = _hold_catalog(page)
    agent = new_agent(stack)
    sign_in(page, stack, path=f"#/agents/{agent['id']}/rules")
    page.get_by_role("button", name="New rule").click()
    form = page.locator("form.rule-builder")
    form.get_by_label("Type of the new action").select_option("add_note")
    form.get_by_label("Type of the new condition").first.select_option("stage_is")
    release()
    expect(form.get_by_text("by name from the Kommo account Acme Sales")).to_be_visible()
    expect(form.get_by_label("Type of the new action")).to_have_value("add_note")
    expect(form.get_by_label("Type of the new condition").first).to_have_value("stage_is")
    before = form.get_by_label("Note", exact=True).count()
    form.get_by_role("button", name="Add action").click()
    expect(form.get_by_label("Note", exact=True)).to_have_count(before + 1)
