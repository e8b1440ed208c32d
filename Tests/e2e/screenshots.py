"""`make screenshots`: every page of the admin UI at 1280×800, with a seeded tenant, into docs/screenshots/.
Also the history at 390×844 (the folded navigation)."""
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from harness import CHROMIUM, ROOT, start_stack

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"


def seed(stack):
    agent = stack.api("POST", "/api/v1/agents", "acme", {"name": "Sofia", "persona": "Warm, brief, Spanish first."})
    a = agent["id"]
    rule = stack.api("POST", f"/api/v1/agents/{a}/rules", "acme", {
        "name": "Qualified lead: call within the hour", "priority": 10,
        "trigger": {"type": "stage_changed", "stage_id": 61234502},
        "conditions": {"all": [{"type": "field_value", "field": "cf.Budget", "operator": "in", "values": ["2500-5000", "5000+"]}]},
        "actions": [{"type": "create_task", "text": "Call {{lead.name}}", "due_in_seconds": 3600}]})
    stack.api("POST", f"/api/v1/agents/{a}/rules", "acme", {
        "name": "Note on won", "trigger": {"type": "stage_changed", "stage_id": 142},
        "actions": [{"type": "add_note", "text": "Won: {{lead.name}}"}]})
    sequence = stack.api("POST", f"/api/v1/agents/{a}/sequences", "acme", {
        "name": "New lead follow-up", "status": "active", "trigger": {"type": "manual"},
        "steps": [{"delay_days": 1, "action": {"type": "add_note", "text": "Day one: say hello"}},
                  {"delay_days": 3, "action": {"type": "create_task", "text": "Call {{lead.name}}", "due_in_seconds": 3600}}]})
    script = stack.api("POST", f"/api/v1/agents/{a}/scripts", "acme", {
        "name": "Spring greeting", "type": "greeting", "body": "Hi {{contact.first_name|there}}! Your code is {{promo_code}}.",
        "variables": ["promo_code"]})
    stack.api("POST", f"/api/v1/agents/{a}/knowledge", "acme", {
        "title": "Delivery", "format": "markdown",
        "content": "# Delivery\n\nWe deliver across Spain in 3 to 5 working days; to the islands in 7.\n\n## Cost\n\nFree above 150 EUR."})
    for n, name in enumerate(["lead_status_changed.form", "lead_added.form", "message_incoming_whatsapp.form", "task_completed.form"]):
        stack.post_fixture(name)
    for lead in ("5100001", "5100002", "5100003"):
        stack.post_fixture("lead_status_changed.form", replace={"4410021": lead})
    stack.api("POST", f"/api/v1/agents/{a}/sequences/{sequence['id']}/enrollments", "acme", {"lead_id": 4410021})
    time.sleep(2)
    event = stack.api("GET", "/api/v1/webhooks/events?lead_id=4410021&type=stage_changed")["items"][0]
    return {
        "overview": "#/", "agents": "#/agents", "agent": f"#/agents/{a}", "rules": f"#/agents/{a}/rules",
        "rule": f"#/agents/{a}/rules/{rule['id']}", "sequences": f"#/agents/{a}/sequences",
        "sequence": f"#/agents/{a}/sequences/{sequence['id']}", "scripts": f"#/agents/{a}/scripts",
        "script": f"#/agents/{a}/scripts/{script['id']}", "webhook-history": "#/webhooks",
        "event": f"#/webhooks/events/{event['id']}", "deliveries": "#/webhooks/deliveries",
        "lead-timeline": "#/leads/4410021", "integrations": "#/integrations", "api-keys": "#/keys", "board": "#/board",
        "dashboard": "#/dashboard", "knowledge": f"#/agents/{a}/knowledge", "actions": "#/actions",
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    stack = start_stack()
    try:
        pages = seed(stack)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
            for width, height, only in ((1280, 800, None), (390, 844, {"webhook-history", "agent"})):
                context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US", timezone_id="UTC")
                page = context.new_page()
                page.goto(f"{stack.base_url}/admin/#/agents")
                page.get_by_label("API key").fill(stack.tenants["acme"].key)
                page.get_by_role("button", name="Continue").click()
                page.get_by_role("button", name="Sign out").wait_for()
                for name, path in pages.items():
                    if only and name not in only:
                        continue
                    page.goto(f"{stack.base_url}/admin/{path}")
                    page.wait_for_load_state("networkidle")
                    page.wait_for_timeout(300)
                    suffix = "" if width == 1280 else f"-{width}"
                    page.screenshot(path=str(OUT / f"{name}{suffix}.png"))
                    print(f"{OUT / f'{name}{suffix}.png'}")
                context.close()
            browser.close()
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
