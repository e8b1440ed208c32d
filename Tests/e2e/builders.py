"""What the builder tests share: an agent to put rules and sequences in, and a stage to pick.

The stage comes from the tenant's Kommo catalog when the account is connected (picked by its name in
the builder), else it is a fixture stage entered by id. Either way the test says which it did.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from harness import HTTPError

FIXTURE_PIPELINE = 7100001  # the pipeline and stages of Tests/Fixtures/kommo/lead_status_changed.form
FIXTURE_STAGE = 61234502
FIXTURE_OTHER_STAGE = 61234503


@dataclass
class Stage:
    pipeline_id: int
    stage_id: int
    other_stage_id: int
    name: str | None  # set when the catalog is connected: the builder picks by this name
    pipeline_name: str | None


def new_agent(stack, tenant: str = "acme") -> dict:
    return stack.api("POST", "/api/v1/agents", tenant, {"name": f"Builder agent {secrets.token_hex(3)}"})


def catalog(stack, tenant: str = "acme") -> dict:
    """The Kommo catalog the UI reads, or the disconnected one when the gateway has none to give. An account
    connected by a pasted token whose catalog was not read yet counts as not connected, as in the UI: it has
    no names to offer."""
    try:
        found = stack.api("GET", "/api/v1/kommo/catalog", tenant)
    except HTTPError as error:
        if error.status == 404:
            return {"connected": False, "pipelines": []}
        raise
    return found if found.get("refreshed_at") else {**found, "connected": False}


def stage_to_pick(stack, tenant: str = "acme") -> Stage:
    found = catalog(stack, tenant)
    if found.get("connected"):
        for pipeline in found.get("pipelines", []):
            stages = [s for s in pipeline.get("stages", []) if s.get("kind") == "open"]
            if len(stages) >= 2:
                return Stage(pipeline["id"], stages[0]["id"], stages[1]["id"], stages[0]["name"], pipeline["name"])
    return Stage(FIXTURE_PIPELINE, FIXTURE_STAGE, FIXTURE_OTHER_STAGE, None, None)


def allow_missing_catalog(page):
    """The builders read /api/v1/kommo/catalog only where the gateway's API document lists it, so no
    answer is allowed here: a 404 on it fails the test like any other error answer."""


def json_text(form) -> str:
    """The text of a builder's JSON tab (the textarea CodeMirror keeps in step, or the plain one)."""
    return form.locator("[data-field=json] textarea.code").input_value()


def set_json(form, text: str):
    """Replaces the text of a builder's JSON tab, through CodeMirror where it is installed."""
    form.locator("[data-field=json]").evaluate("""(field, text) => {
        const mirror = field.querySelector('.CodeMirror');
        if (mirror) { mirror.CodeMirror.setValue(text); return; }
        const area = field.querySelector('textarea.code');
        area.value = text;
        area.dispatchEvent(new Event('input', { bubbles: true }));
    }""", text)
