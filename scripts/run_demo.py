#!/usr/bin/env python
"""`make run`: set AccountSync up on this machine and start everything it needs.

Creates `.env` on first start (random SECRET_KEY), migrates, loads the bundled department
mappings, creates a demo API token, then starts the API server, the engine in loop mode
and — unless real credentials are configured — the sandbox that imitates IDaaS, WeLink
and Exchange. Ctrl-C stops every process it started.

Every registered account type (``account_creation.account_types.registry``) takes part: its
``*_BASE_URL`` settings point at the sandbox, its other settings get the demo values of
:data:`DEMO_SETTINGS` (or ``demo-…`` values when it has none there), and the sample request
asks for all of them.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from account_creation.account_types import AccountTypeSpec

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
API_HOST = os.environ.get("ACCOUNTSYNC_HOST", "127.0.0.1")
API_PORT = int(os.environ.get("ACCOUNTSYNC_PORT", "8000"))
SANDBOX_PORT = int(os.environ.get("SANDBOX_PORT", "8900"))

# The one place for per-system demo settings: what `make run` sets, per account type, when it
# starts the sandbox (its *_BASE_URL settings are pointed at the sandbox in any case). The
# sandbox accepts what the app is configured with (run_sandbox reads these same settings), so
# the two always match. A registered type missing here gets "demo-<setting>" values. When every
# one of these is configured (.env or environment), `make run` talks to the real systems.
DEMO_SETTINGS: dict[str, dict[str, str]] = {
    "idaas": {
        "IDAAS_ACCOUNT": "demo-idaas-account",
        "IDAAS_SECRET": "demo-idaas-secret-" + "0" * 8,
        "IDAAS_ENTERPRISE_ID": "demo-enterprise",
    },
    "welink": {
        "WELINK_CLIENT_ID": "demo-welink-client",
        "WELINK_CLIENT_SECRET": "demo-welink-secret-" + "0" * 8,
    },
    "email": {
        "EMAIL_AUTH_TOKEN": "demo-email-token-" + "0" * 8,
    },
}


def account_types() -> list[AccountTypeSpec]:
    """The registered account types, in run order (importable without Django settings)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # `python scripts/run_demo.py` puts only scripts/ there
    from account_creation.account_types import registry

    return list(registry)


def _is_base_url(setting: str) -> bool:
    return setting.endswith("_BASE_URL")


def demo_credentials(spec: AccountTypeSpec) -> dict[str, str]:
    """The demo values of ``spec``'s settings other than its base URLs."""
    if spec.value in DEMO_SETTINGS:
        return dict(DEMO_SETTINGS[spec.value])
    return {name: "demo-" + name.lower().replace("_", "-") for name in spec.settings if not _is_base_url(name)}


def real_credentials() -> list[str]:
    """The settings that, all configured, mean real systems (and no sandbox)."""
    return [name for spec in account_types() for name in demo_credentials(spec)]


def sandbox_settings(sandbox_url: str) -> dict[str, str]:
    """Every registered type's settings for a demo against the sandbox at ``sandbox_url``."""
    values: dict[str, str] = {}
    for spec in account_types():
        values.update({name: sandbox_url for name in spec.settings if _is_base_url(name)})
        values.update(demo_credentials(spec))
    return values


def say(text: str) -> None:
    print(f"[make run] {text}", flush=True)


def ensure_env_file() -> None:
    env_file = ROOT / ".env"
    if env_file.exists():
        return
    template = (ROOT / ".env.example").read_text(encoding="utf-8")
    template = template.replace("SECRET_KEY=\n", f"SECRET_KEY={secrets.token_urlsafe(50)}\n", 1)
    env_file.write_text(template, encoding="utf-8")
    say("created .env from .env.example with a random SECRET_KEY")


def read_env_file() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (ROOT / ".env").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def child_environment() -> tuple[dict[str, str], bool]:
    configured = {**read_env_file(), **os.environ}
    use_sandbox = not all(configured.get(name) for name in real_credentials())
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    if use_sandbox:
        env.update(sandbox_settings(f"http://127.0.0.1:{SANDBOX_PORT}"), SANDBOX_ENABLED="true")
        # Quick retries and runs, so the demo shows progress within seconds.
        env.setdefault("ACCOUNT_CREATION_BACKOFF_BASE_SECONDS", "2")
        env.setdefault("ACCOUNT_CREATION_BACKOFF_MAX_SECONDS", "30")
        env.setdefault("ACCOUNT_CREATION_RUN_INTERVAL_SECONDS", "3")
        env.setdefault("ACCOUNT_CREATION_HTTP_TIMEOUT", "5")
    return env, use_sandbox


def write_demo_env(env: dict[str, str]) -> Path:
    """The settings make run adds to .env (the sandbox's URLs and credentials, quick retries), for
    commands run by hand in another terminal against the same demo: ``set -a; . .run/demo.env``."""
    added = {key: value for key, value in env.items() if os.environ.get(key) != value and key != "PYTHONUNBUFFERED"}
    path = ROOT / ".run" / "demo.env"
    path.parent.mkdir(exist_ok=True)
    lines = ["# Written by make run: source it to run manage.py commands against the running demo."]
    lines += [f"{key}={shlex.quote(value)}" for key, value in sorted(added.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"`python manage.py {' '.join(args)}` failed; see the message above.")
    return done.stdout


def requests_post(url: str, body: dict[str, str]) -> bool:
    """POST JSON with the standard library (the demo script runs before any venv import)."""
    request = urllib.request.Request(  # noqa: S310 - a fixed loopback URL
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return bool(200 <= answer.status < 300)
    except OSError:
        return False


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own local URL
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.3)
    return False


def python_as_typed() -> str:
    """This interpreter as an operator types it in the repository (relative when inside it)."""
    try:
        return str(Path(PYTHON).relative_to(ROOT))
    except ValueError:
        return PYTHON


def superuser_command(*, username: str = "admin", password: str | None = None) -> str:
    """One line that creates an admin login, without questions, in the database `make run` uses."""
    password = password or secrets.token_urlsafe(12)
    return (
        f"DJANGO_SUPERUSER_PASSWORD={shlex.quote(password)} {shlex.quote(python_as_typed())} manage.py "
        f"createsuperuser --noinput --username {shlex.quote(username)} --email {shlex.quote(username + '@example.com')}"
    )


def sample_request(base: str, token: str) -> str:
    """A curl command creating one person's accounts in every registered system."""
    body = {
        "originSystem": "oa",
        "businessKey": "65090",
        "accountType": "personal",
        "employeeType": "W",
        "systemList": [str(spec.value) for spec in account_types()],
        "userList": [
            {
                "employeeNumber": "P000126",
                "employeeName": "张三",
                "departmentCode": "120000",
                "phoneNumber": "1234567890",
                "partnerCompany": "ABC",
                "country": "cn",
            }
        ],
    }
    return (
        f"curl -s -X POST {base}/account-creation/create_accounts/ \\\n"
        f"    -H 'Authorization: Token {token}' -H 'Content-Type: application/json' \\\n"
        f"    -d '{json.dumps(body, ensure_ascii=False, separators=(',', ':'))}'"
    )


def main() -> int:
    os.chdir(ROOT)
    ensure_env_file()
    env, use_sandbox = child_environment()
    for port, what, variable in ((API_PORT, "API", "ACCOUNTSYNC_PORT"), (SANDBOX_PORT, "sandbox", "SANDBOX_PORT")):
        if (what == "API" or use_sandbox) and not port_free(port):
            raise SystemExit(
                f"Port {port} for the {what} is in use (another `make run`?). Stop that process or "
                f"choose another port: {variable}=<port> make run"
            )
    demo_env = write_demo_env(env)
    say("migrating the database")
    manage(env, "migrate", "--noinput", "-v", "0")
    say("loading department mappings")
    print("  " + manage(env, "load_department_mappings").strip().splitlines()[-1])
    # The OA demo client: bound to originSystem oa, the default scopes (intake, read, retry).
    token = manage(env, "create_api_token", "demo-oa", "--origin-system", "oa").strip().splitlines()[-1]

    processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(name: str, *args: str) -> None:
        processes.append((name, subprocess.Popen([PYTHON, "manage.py", *args], cwd=ROOT, env=env)))

    if use_sandbox:
        say(f"no real credentials in .env: starting the sandbox on port {SANDBOX_PORT}")
        start("sandbox", "run_sandbox", "--port", str(SANDBOX_PORT))
        if not wait_for(f"http://127.0.0.1:{SANDBOX_PORT}/_sandbox/state", 20):
            raise SystemExit("The sandbox did not start; see its messages above.")
        # The sandbox's OA receives the demo client's completion callbacks and checks their
        # signatures with the secret configure_callback prints last.
        callback_url = f"http://127.0.0.1:{SANDBOX_PORT}/_sandbox/oa/callback"
        secret = manage(env, "configure_callback", "demo-oa", "--url", callback_url).strip().splitlines()[-1]
        configured = requests_post(f"http://127.0.0.1:{SANDBOX_PORT}/_sandbox/oa/config", {"secret": secret})
        say(f"completion callbacks of demo-oa go to {callback_url}" + ("" if configured else " (not configured!)"))
    else:
        say("real credentials found in .env: talking to the real IDaaS, WeLink and Exchange (no sandbox)")
    start("api", "runserver", f"{API_HOST}:{API_PORT}", "--noreload", "--insecure")
    interval = env.get("ACCOUNT_CREATION_RUN_INTERVAL_SECONDS", "300")
    start(
        "engine",
        "process_account_creation_tasks", "--loop", "--interval", interval, "--concurrency", "4",
        "--max-tasks", "1000", "--no-progress",
    )
    base = f"http://{API_HOST}:{API_PORT}"
    if not wait_for(base + "/healthz", 30):
        for _, process in processes:
            process.terminate()
        raise SystemExit("The API server did not start; see its messages above.")

    example = sample_request(base, token)
    sandbox_var = f" ACCOUNTSYNC_SANDBOX_URL=http://127.0.0.1:{SANDBOX_PORT}" if use_sandbox else ""
    by_hand = (
        f"set -a && . {demo_env.relative_to(ROOT)} && set +a && "
        ".venv/bin/python manage.py process_account_creation_tasks --employee-number P000126"
    )
    print(
        f"""
==============================================================================
 AccountSync is running.
   API          {base}/account-creation/
   API docs     {base}/api/docs/        (Authorize: paste the API token below; OpenAPI: {base}/api/schema/)
   Health       {base}/healthz
   Dashboard    {base}/admin/status/    (staff: what needs attention, requests, people; {base}/ leads there)
   Admin        {base}/admin/           (log in as a staff user; create one below)
   Engine       process_account_creation_tasks --loop every {interval} s, 4 threads
   Downstream   {"sandbox on http://127.0.0.1:" + str(SANDBOX_PORT) + " (state: /_sandbox/state)" if use_sandbox
                 else "the real systems configured in .env"}
   Callbacks    {"the sandbox OA receives demo-oa's events: http://127.0.0.1:" + str(SANDBOX_PORT)
                 + "/_sandbox/oa/events" if use_sandbox else "none configured (python manage.py configure_callback)"}
   API token    {token}

 Try it:
   {example}

 Create an admin login (user admin, the password as shown), then open the dashboard:
   {superuser_command()}

 Check the whole flow:
   ACCOUNTSYNC_URL={base} ACCOUNTSYNC_TOKEN={token}{sandbox_var} .venv/bin/python test_api.py

 Run a command by hand against this demo (another terminal), e.g. one person now:
   {by_hand}

 Logs: logs/hr_sync.log. Press Ctrl-C to stop everything.
==============================================================================
""",
        flush=True,
    )

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, process in processes:
            if process.poll() is not None:
                say(f"the {name} process exited with code {process.returncode}; stopping the others")
                stopping, exit_code = True, 1
                break
        time.sleep(0.5)
    say("stopping")
    for _, process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for _, process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
