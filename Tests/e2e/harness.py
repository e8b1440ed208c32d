"""The system the browser tests run against, and what every test uses.

`Stack` starts the four debug binaries and the Kommo emulator on loopback, each on a free port with a fresh
data folder and its own certificate authority, waits until the gateway is ready, creates two tenants
through the admin API (`acme`, connected to the emulator with a pasted token, and `globex`, not connected)
and stops all of it at the end. The emulator is also the consent page of a Kommo OAuth integration the
gateway and sequence-service are configured with, so a tenant can connect through the install flow. Everything a test needs to reach it — the gateway URL, the admin token, each tenant's API key
and webhook URL, the emulator's URL — is on the object.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("KOMMO_FIXTURES", ROOT / "Tests" / "Fixtures" / "kommo"))
OUTPUT = Path(os.environ.get("E2E_OUTPUT", ROOT / ".build" / "e2e-output"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HTTPError(Exception):
    def __init__(self, method, url, status, body):
        super().__init__(f"{method} {url} answered {status}: {body[:500]}")
        self.status = status
        self.body = body


def http(method: str, url: str, token: str | None = None, body=None, content_type: str = "application/json",
         headers: dict | None = None, timeout: float = 20):
    """One request; the decoded JSON answer (None for an empty one). Raises HTTPError on a status ≥ 400."""
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    if data is not None:
        request.add_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raise HTTPError(method, url, error.code, error.read().decode(errors="replace")) from None


@dataclass
class Tenant:
    name: str
    id: str
    key: str
    webhook_url: str


@dataclass
class Stack:
    base_url: str
    admin_token: str
    emulator_url: str
    emulator_token: str
    data: Path
    oauth_client_id: str = ""
    oauth_redirect_uri: str = ""
    tenants: dict[str, Tenant] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    # MARK: - calls

    def add_tenant(self, name: str) -> Tenant:
        """Creates another tenant through the admin API (not connected to Kommo) and returns it."""
        created = http("POST", self.base_url + "/api/v1/tenants", self.admin_token, {"name": name})
        tenant = Tenant(name=name, id=created["tenant"]["id"], key=created["api_key"], webhook_url=created["webhook_url"])
        self.tenants[name] = tenant
        return tenant

    def api(self, method: str, path: str, tenant: str | None = "acme", body=None, **kwargs):
        """A REST call as a tenant (by name), or with the admin token when `tenant` is "admin"."""
        token = self.admin_token if tenant == "admin" else (self.tenants[tenant].key if tenant else None)
        return http(method, self.base_url + path, token, body, **kwargs)

    def connect_kommo(self, tenant: str) -> dict:
        """Connects the tenant's Kommo account (the emulator) through the install flow without a browser:
        the install URL, the emulator's consent page, its redirect to our callback. The connection after."""
        authorize = self.api("POST", "/api/v1/integrations/kommo/install", tenant, {"mode": "popup"})["authorize_url"]
        # urllib follows the consent page's redirect to the callback and the callback's to the admin page.
        with urllib.request.urlopen(authorize, timeout=60) as response:
            response.read()
        connection = self.api("GET", "/api/v1/integrations", tenant).get("kommo_connection")
        if not connection:
            raise AssertionError(f"{tenant} is not connected after the install flow")
        return connection

    def post_fixture(self, name: str, tenant: str = "acme", replace: dict[str, str] | None = None) -> dict:
        """Posts a Kommo webhook fixture (`Tests/Fixtures/kommo/NAME`) to the tenant's webhook URL, as Kommo does.
        `replace` substitutes text in the body first (another lead id, say)."""
        body = (FIXTURES / name).read_bytes()
        for old, new in (replace or {}).items():
            body = body.replace(old.encode(), new.encode())
        content_type = "application/json" if name.endswith(".json") else "application/x-www-form-urlencoded"
        return http("POST", self.tenants[tenant].webhook_url, None, body, content_type)

    def emulator(self, path: str):
        """What the emulator received: `/_emulator/tasks`, `/_emulator/requests`, `/_emulator/violations`."""
        return http("GET", self.emulator_url + path)

    def wait_for(self, probe, timeout: float = 15, interval: float = 0.1, what: str = "condition"):
        """Calls `probe` until it returns something truthy; that value. Fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = probe()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"{what} did not happen within {timeout} s (last: {last!r})")

    # MARK: - lifecycle

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def dead(self) -> list[str]:
        """The processes that exited before the end."""
        return [name for name, process in self.processes.items() if process.poll() is not None]

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.data / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def start_stack(bin_dir: Path | None = None) -> Stack:
    bin_dir = Path(bin_dir or os.environ.get("BIN_DIR", ROOT / ".build" / "debug"))
    names = ["ingest-service", "rules-service", "sequence-service", "gateway", "kommo-emulator"]
    missing = [n for n in names if not (bin_dir / n).exists()]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} missing in {bin_dir}: run `swift build` first")
    data = Path(tempfile.mkdtemp(prefix="kommo-agents-e2e."))
    subprocess.run([str(ROOT / "scripts" / "pki"), str(data / "pki")], check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, PKI_DIR=str(data / "pki"), LOG_LEVEL=os.environ.get("LOG_LEVEL", "warning"))
    ingest, rules, sequence, port = free_port(), free_port(), free_port(), free_port()
    admin = "e2e-admin-" + secrets.token_hex(24)
    emulator_token = "e2e-kommo-" + secrets.token_hex(8)
    base = f"http://127.0.0.1:{port}"
    # The Kommo integration registered at the emulator: connecting through OAuth goes gateway → emulator's
    # consent page → the gateway's callback, which has sequence-service exchange the code at the emulator.
    client_id, client_secret = "e2e-client-" + secrets.token_hex(8), "e2e-secret-" + secrets.token_hex(16)
    redirect_uri = base + "/oauth/kommo/callback"
    processes: dict[str, subprocess.Popen] = {}

    def start(name, *args, extra_env=None):
        log = open(data / f"{name}.log", "wb")
        processes[name] = subprocess.Popen([str(bin_dir / name), *args], stdout=log, stderr=subprocess.STDOUT,
                                           env=dict(env, **(extra_env or {})), cwd=ROOT)

    stack = None
    try:
        # The emulator picks its own port and says which on its first line.
        emulator = subprocess.Popen([str(bin_dir / "kommo-emulator"), "--port", "0", "--token", emulator_token,
                                     "--oauth-client-id", client_id, "--oauth-client-secret", client_secret,
                                     "--oauth-redirect-uri", redirect_uri],
                                    stdout=subprocess.PIPE, stderr=open(data / "kommo-emulator.log", "wb"), cwd=ROOT)
        processes["kommo-emulator"] = emulator
        line = emulator.stdout.readline().decode()
        found = re.search(r"(http://\S+)", line)
        if not found:
            raise RuntimeError(f"the Kommo emulator did not start: {line!r}")
        emulator_url = found.group(1)

        start("ingest-service", "--rpc-port", str(ingest), "--data-dir", str(data / "ingest"),
              "--rules-address", f"127.0.0.1:{rules}", "--sequence-address", f"127.0.0.1:{sequence}")
        start("rules-service", "--rpc-port", str(rules), "--data-dir", str(data / "rules"))
        # Outbound calls may reach loopback here: the Kommo account is the emulator on 127.0.0.1.
        start("sequence-service", "--rpc-port", str(sequence), "--data-dir", str(data / "sequence"),
              "--ingest-address", f"127.0.0.1:{ingest}", "--rules-address", f"127.0.0.1:{rules}",
              "--egress-allow-private", "--egress-allowed-hosts", "127.0.0.1",
              "--kommo-client-id", client_id, "--kommo-redirect-uri", redirect_uri, "--kommo-referer-scheme", "http",
              extra_env={"KOMMO_CLIENT_SECRET": client_secret})
        # The admin token goes by environment, never on a command line.
        start("gateway", "--http-port", str(port), "--data-dir", str(data / "gateway"), "--no-demo",
              "--public-base-url", base, "--rate-limit", "100000", "--tenant-rate-limit", "100000",
              "--auth-failure-limit", "100000",
              "--ingest-address", f"127.0.0.1:{ingest}", "--rules-address", f"127.0.0.1:{rules}",
              "--sequence-address", f"127.0.0.1:{sequence}",
              "--kommo-client-id", client_id, "--kommo-authorize-url", emulator_url + "/oauth", extra_env={"ADMIN_TOKEN": admin})
        stack = Stack(base_url=base, admin_token=admin, emulator_url=emulator_url, emulator_token=emulator_token,
                      data=data, oauth_client_id=client_id, oauth_redirect_uri=redirect_uri, processes=processes)

        deadline = time.monotonic() + 60
        while True:
            try:
                http("GET", base + "/readyz", timeout=2)
                break
            except (HTTPError, OSError):
                if stack.dead() or time.monotonic() > deadline:
                    logs = "\n".join(f"--- {n}\n{stack.log_tail(n)}" for n in names)
                    raise RuntimeError(f"the system did not become ready (exited: {stack.dead()})\n{logs}")
                time.sleep(0.2)

        for name in ("acme", "globex"):
            created = http("POST", base + "/api/v1/tenants", admin, {"name": name})
            stack.tenants[name] = Tenant(name=name, id=created["tenant"]["id"], key=created["api_key"],
                                         webhook_url=created["webhook_url"])
        # acme's Kommo account is the emulator.
        stack.api("PATCH", "/api/v1/integrations", "acme",
                  {"kommo": {"base_url": emulator_url, "access_token": emulator_token}})
        # Its catalog is read now, not by sequence-service's next scheduled pass in the middle of a test:
        # every test sees acme with its account's names.
        stack.api("POST", "/api/v1/kommo/catalog/refresh", "acme")
        return stack
    except BaseException:
        if stack is not None:
            stack.stop()
        else:
            for process in processes.values():
                process.kill()
        raise
