"""Starts the browser tests' system and keeps it running until Ctrl-C: `scripts/e2e-test --serve`.
Prints the gateway URL, the admin token, each tenant's key and the emulator's URL."""
import json
import signal
import sys
import time

from harness import start_stack

stack = start_stack()
print(json.dumps({"base_url": stack.base_url, "admin_token": stack.admin_token, "emulator_url": stack.emulator_url,
                  "tenants": {n: {"key": t.key, "webhook_url": t.webhook_url} for n, t in stack.tenants.items()},
                  "data": str(stack.data)}, indent=2), flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
try:
    while True:
        time.sleep(1)
except (KeyboardInterrupt, SystemExit):
    pass
finally:
    stack.stop()
