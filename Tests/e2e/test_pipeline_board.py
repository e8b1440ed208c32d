"""The pipeline board: a rule shows under the stage entering which triggers it, with a link to its
editor; sequences and scripts under the stages they start at, end at or are bound to."""
from playwright.sync_api import expect

from browser import assert_accessible, sign_in
from builders import allow_missing_catalog, new_agent, stage_to_pick


def test_board_shows_the_rule_under_its_stage(page, stack):
    agent = new_agent(stack)
    stage = stage_to_pick(stack)
    rule = stack.api("POST", f"/api/v1/agents/{agent['id']}/rules", body={
        "name": "Board rule", "trigger": {"type": "stage_changed", "pipeline_id": stage.pipeline_id, "stage_id": stage.stage_id},
        "actions": [{"type": "change_stage", "stage_id": stage.other_stage_id}]})
    sequence = stack.api("POST", f"/api/v1/agents/{agent['id']}/sequences", body={
        "name": "Board sequence", "trigger": {"type": "stage_changed", "pipeline_id": stage.pipeline_id, "stage_id": stage.other_stage_id},
        "steps": [{"action": {"type": "add_note", "text": "hi"}}], "exit_conditions": [{"type": "stage_changed", "to": "won"}]})
    allow_missing_catalog(page)
    sign_in(page, stack, path="#/board")
    board = page.locator(f"section.card[data-pipeline='{stage.pipeline_id}']")
    column = board.locator(f".board-column[data-stage='{stage.stage_id}']")
    expect(column.get_by_role("heading", name="Rules on entering")).to_be_visible()
    link = column.get_by_role("link", name="Board rule")
    expect(link).to_have_attribute("href", f"#/agents/{agent['id']}/rules/{rule['id']}")
    other = board.locator(f".board-column[data-stage='{stage.other_stage_id}']")
    expect(other.locator("h4", has_text="Rules moving leads here")).to_be_visible()
    expect(other.get_by_role("link", name="Board sequence")).to_be_visible()
    won = board.locator(".board-column[data-stage='142']")
    expect(won.locator("h4", has_text="Sequences it ends")).to_be_visible()
    if stage.name:
        expect(column.get_by_role("heading", name=stage.name)).to_be_visible()
    assert_accessible(page, "the pipeline board")
    link.click()
    expect(page.locator("form.rule-builder")).to_be_visible()
    expect(page.locator("form.rule-builder").get_by_label("Name", exact=True)).to_have_value("Board rule")
