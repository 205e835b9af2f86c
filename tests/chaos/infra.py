"""Infrastructure for the reliability suite: real processes, a fresh PostgreSQL database, and a
TCP proxy that plays "the database restarted" without touching the shared server.

Used by the chaos runs, the database-outage tests, the load bench and the secrets scan. Not
collected by pytest (no ``test_`` prefix); importable from scripts run by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))

# The secrets every child process is configured with: the secrets scan looks for exactly
# these (and for the tokens the sandbox issues, "sbx-<system>-…").
SECRETS = {
    "SECRET_KEY": "chaos-django-secret-" + secrets.token_hex(12),
    "IDAAS_SECRET": "chaos-idaas-secret-" + secrets.token_hex(12),
    "WELINK_CLIENT_SECRET": "chaos-welink-secret-" + secrets.token_hex(12),
    "EMAIL_AUTH_TOKEN": "chaos-email-token-" + secrets.token_hex(12),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001 - any failure means "not available here"
        return False


def database_url(name: str, *, port: int = PG_PORT) -> str:
    return f"postgres://{PG_USER}@{PG_HOST}:{port}/{name}"


@contextlib.contextmanager
def fresh_database(prefix: str = "accountsync_chaos") -> Iterator[str]:
    """CREATE DATABASE <prefix>_<random> on the shared server; DROP it afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True)
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def connect(name: str) -> Any:
    """A direct psycopg connection (not through the proxy), for checks."""
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=name, autocommit=True)


class TcpProxy:
    """A TCP relay in threads. ``down()`` severs every connection and refuses new ones (the
    listening socket is closed, so connects get ECONNREFUSED); ``up()`` listens again on the
    same port. To the clients this looks like the database server restarting."""

    def __init__(self, target: tuple[str, int] = (PG_HOST, PG_PORT)) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.severed = 0
        self.outages = 0

    def start(self) -> TcpProxy:
        self._listen()
        return self

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True, name="proxy-accept").start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # listener closed by down()/stop()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                self._discard(sock)

    def _discard(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()

    def sever(self) -> int:
        with self._lock:
            victims = list(self._sockets)
        for sock in victims:
            self._discard(sock)
        self.severed += len(victims) // 2
        return len(victims) // 2

    def down(self) -> None:
        self.outages += 1
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                self._listener.close()
            self._listener = None
        self.sever()

    def up(self) -> None:
        if self._listener is None:
            for _ in range(50):
                try:
                    self._listen()
                    return
                except OSError:
                    time.sleep(0.1)
            raise RuntimeError(f"the proxy could not listen on port {self.port} again")

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        self.down()
        try:
            yield
        finally:
            self.up()

    def stop(self) -> None:
        self.down()


def product_env(database: str, *, db_port: int, log_dir: Path, sandbox_url: str = "", **extra: str) -> dict[str, str]:
    """The environment of a production-like child process (``accountsync.settings``)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("IDAAS_", "WELINK_", "EMAIL_", "ACCOUNT_CREATION_", "SANDBOX_", "API_"))
        and key not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE", "TEST_DATABASE_NAME", "LOG_DIR", "DEBUG"}
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "accountsync.settings",
            "ACCOUNTSYNC_ENV_FILE": "/nonexistent",
            "DATABASE_URL": database_url(database, port=db_port),
            "DEBUG": "false",
            "LOG_DIR": str(log_dir),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            "IDAAS_ACCOUNT": "chaos-idaas-account",
            "IDAAS_ENTERPRISE_ID": "chaos-enterprise",
            "WELINK_CLIENT_ID": "chaos-welink-client",
            "EMAIL_DOMAIN": "@corp.example.com",
            **SECRETS,
        }
    )
    if sandbox_url:
        env.update(IDAAS_BASE_URL=sandbox_url, WELINK_BASE_URL=sandbox_url, EMAIL_BASE_URL=sandbox_url)
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def manage_ok(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    done = manage(env, *args, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} exited {done.returncode}: {done.stderr[-3000:]}")
    return done.stdout


def prepare_database(env: dict[str, str], client: str = "chaos-oa") -> str:
    """Migrate, load the bundled department mappings, create an API client; return its token."""
    manage_ok(env, "migrate", "-v", "0")
    manage_ok(env, "load_department_mappings")
    return manage_ok(env, "create_api_token", client, "--origin-system", "oa").strip().splitlines()[-1]


def wait_http(url: str, *, timeout: float = 60, process: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited {process.returncode} before {url} answered")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException as exc:
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s: {last}")


class Service:
    """A child process whose output goes to a file (read later, e.g. by the secrets scan)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], out_dir: Path) -> None:
        self.name = name
        self.log_path = out_dir / f"{name}.out"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        self._log.close()

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")


def start_sandbox(env: dict[str, str], out_dir: Path) -> tuple[Service, str]:
    port = free_port()
    # The sandbox app is installed only on request (SANDBOX_ENABLED defaults to false).
    env = {**env, "SANDBOX_ENABLED": "true"}
    service = Service("sandbox", [PYTHON, "manage.py", "run_sandbox", "--port", str(port)], env, out_dir)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/_sandbox/health", process=service.process)
    return service, url


def start_gunicorn(env: dict[str, str], out_dir: Path, *, workers: int = 2, threads: int = 1) -> tuple[Service, str]:
    port = free_port()
    args = [
        GUNICORN, "accountsync.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--threads", str(threads), "--timeout", "60", "--graceful-timeout", "5", "--log-level", "warning",
    ]
    service = Service(f"gunicorn-{port}", args, env, out_dir)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthz", process=service.process)
    return service, url


def sandbox_call(url: str, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, url + path, json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def dump_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
