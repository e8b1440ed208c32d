"""Seeds a live gateway for scripts/api-test and writes the schemathesis configuration that points path
parameters at what it created, so generated requests reach real resources and not only 404s.

usage: api_test_seed.py BASE_URL ADMIN_TOKEN FIXTURES_FOLDER CONFIG_OUT
Prints the tenant's API key.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

base, admin, fixtures, config_out = sys.argv[1:5]
# "-": the admin token comes from the environment, so it never shows on a command line.
if admin == "-":
    admin = os.environ["API_TEST_ADMIN_TOKEN"]


def call(method, path, token, body=None, content_type="application/json"):
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    if data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        sys.exit(f"seeding failed: {method} {path} answered {error.code}: {error.read().decode(errors='replace')}")


tenant = call("POST", "/api/v1/tenants", admin, {"name": "api-test"})
key = tenant["api_key"]
spare_tenant = call("POST", "/api/v1/tenants", admin, {"name": "api-test spare"})["tenant"]["id"]
spare_key = call("POST", "/api/v1/api-keys", key, {"name": "spare"})["id"]

agent = call("POST", "/api/v1/agents", key, {"name": "Sofia"})["id"]
rule = call("POST", f"/api/v1/agents/{agent}/rules", key, {
    "name": "Note new leads", "trigger": {"type": "lead_created"}, "actions": [{"type": "add_note", "text": "New lead"}]})["id"]
script = call("POST", f"/api/v1/agents/{agent}/scripts", key, {
    "name": "Greeting", "type": "greeting", "body": "Hi {{lead.name|there}}!"})["id"]
call("PATCH", f"/api/v1/agents/{agent}/scripts/{script}", key, {"body": "Hello {{lead.name|there}}!"})
document = call("POST", f"/api/v1/agents/{agent}/knowledge", key, {
    "title": "Delivery", "format": "markdown", "content": "# Delivery\nWe deliver to Valencia within 48 hours."})["id"]
sequence = call("POST", f"/api/v1/agents/{agent}/sequences", key, {
    "name": "Follow up", "status": "active", "trigger": {"type": "manual"},
    "steps": [{"delay_days": 1, "action": {"type": "add_note", "text": "Follow up"}}]})["id"]
enrollment = call("POST", f"/api/v1/agents/{agent}/sequences/{sequence}/enrollments", key, {"lead_id": 4410022})["id"]

secret = call("GET", "/api/v1/integrations/kommo/webhook", key)["url"].rsplit("/", 1)[1]
with open(f"{fixtures}/lead_added.form", "rb") as form:
    call("POST", f"/webhooks/kommo/{secret}", None, form.read(), "application/x-www-form-urlencoded")
unparsed = call("POST", f"/webhooks/kommo/{secret}", None, b"not=kommo", "application/x-www-form-urlencoded")["delivery_id"]
event = None
for _ in range(100):
    events = call("GET", "/api/v1/webhooks/events?origin=kommo", key)["items"]
    if events:
        event = events[0]["id"]
        break
    time.sleep(0.1)
if event is None:
    sys.exit("seeding failed: the webhook's event did not show up")


def operations(path_regex, parameters):
    members = ", ".join(f'"{name}" = "{value}"' for name, value in parameters.items())
    return f'[[operations]]\ninclude-path-regex = "{path_regex}"\nparameters = {{ {members} }}\n'


# One entry per operation family; an operation takes the first entry that matches its path.
ids = {"path.ruleId": rule, "path.scriptId": script, "path.docId": document, "path.sequenceId": sequence, "path.enrollmentId": enrollment}
with open(config_out, "w") as config:
    # No state left behind in the working tree between runs.
    config.write("[cache]\nenabled = false\n\n")
    # Unknown query parameters are ignored, as HTTP APIs commonly do; unknown body members are refused.
    config.write("[generation]\ndatabase = \"none\"\nallow-extra-parameters = false\n\n")
    # A request the document rules out must be refused: 400, or what the route answers before it looks at
    # the body (a stale If-Match, an unknown id, an enrollment in the wrong state).
    config.write('[checks.negative_data_rejection]\nexpected-statuses = ["400", "401", "404", "409", "412", "413", "422"]\n\n')
    config.write(operations("^/api/v1/agents/", {"path.id": agent, **ids}))
    config.write(operations("^/api/v1/webhooks/events/", {"path.id": event}))
    config.write(operations("^/api/v1/webhooks/deliveries/", {"path.id": unparsed}))
    config.write(operations("^/api/v1/tenants/", {"path.id": spare_tenant}))
    config.write(operations("^/api/v1/api-keys/", {"path.id": spare_key}))
    config.write(operations("^/api/v1/leads/", {"path.leadId": "4410022"}))
    config.write(operations("^/webhooks/kommo/", {"path.secret": secret}))

print(key)
