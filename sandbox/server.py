"""The sandbox HTTP server: the paths of every simulated system (IDaaS, WeLink, Exchange)
plus ``/_sandbox/*`` controls, all on one port, one thread per request (injected latency
sleeps per request). What each system's paths, token header and fault answers are comes from
its declaration in :mod:`sandbox.systems`; nothing here names a system.

Plain Python, usable without Django settings::

    server = start_sandbox(port=0)          # background thread, random free port
    requests.post(server.url + "/api/auth/v2/tickets", json={...})
    server.state                            # same as GET /_sandbox/state
    server.stop()

``python manage.py run_sandbox`` wraps this for a terminal.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sandbox.faults import FaultConfigError, faults_from_payload
from sandbox.oa_receiver import OaReceiver, ReceiverConfigError, parse_body
from sandbox.systems import Credentials, SimulatedRoute, SimulatedSystem, simulated_systems
from sandbox.world import Plan, Reply, World, kv

logger = logging.getLogger("sandbox")

MAX_BODY_BYTES = 1024 * 1024


class _InvalidJson(Exception):
    pass


_Routes = list[tuple[SimulatedSystem, SimulatedRoute]]


def _routes(systems: tuple[SimulatedSystem, ...]) -> _Routes:
    """Every POST route of the simulated systems, in declaration order."""
    return [(system, route) for system in systems for route in system.routes]


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # bursts of parallel clients must not be refused at accept
    world: World
    routes: _Routes
    oa: OaReceiver


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the connectors' pooled sessions expect
    server_version = "AccountSyncSandbox/1.0"
    timeout = 120  # an idle keep-alive connection frees its thread after this long
    # Headers and body go out in two writes; without this, Nagle plus the client's delayed
    # ACK add ~40 ms to every keep-alive answer.
    disable_nagle_algorithm = True
    server: _HTTPServer

    # --- plumbing ----------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        logger.debug("sandbox request %s", kv(client=self.client_address[0], line=format % args))

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise _InvalidJson(f"body larger than {MAX_BODY_BYTES} bytes")
        raw = self.rfile.read(length) if length > 0 else b""
        if not raw.strip():
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _InvalidJson(str(exc)) from exc

    def _send(self, reply: Reply) -> None:
        payload = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            # The client gave up (e.g. it timed out during a timeout fault): nothing to tell it.
            self.close_connection = True

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    # --- verbs -------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        world = self.server.world
        path = self._path()
        if path == "/_sandbox/state":
            self._send(Reply(200, world.snapshot()))
        elif path == "/_sandbox/faults":
            self._send(Reply(200, world.faults.as_dict()))
        elif path == "/_sandbox/health":
            self._send(Reply(200, {"status": "ok"}))
        elif path == "/_sandbox/oa/events":
            self._send(Reply(200, self.server.oa.snapshot()))
        else:
            self._not_found(path)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        path = self._path()
        try:
            if path.startswith("/_sandbox/oa/"):
                self._oa(path)
            elif path.startswith("/_sandbox/"):
                self._control(path)
            else:
                self._system(path)
        except Exception:
            logger.exception("sandbox handler failed %s", kv(path=path))
            self._send(Reply(500, {"message": "sandbox internal error, see its log"}))

    def _not_found(self, path: str) -> None:
        self._send(Reply(404, {"message": f"no such path in the sandbox: {path}"}))

    def _oa(self, path: str) -> None:
        """The sandbox's OA: receives callbacks (signature checked), and its controls."""
        oa = self.server.oa
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(length, MAX_BODY_BYTES)) if length > 0 else b""
        if path == "/_sandbox/oa/callback":
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, body = oa.receive(raw, headers, self.server.world.wait)
            self._send(Reply(status, body))
        elif path == "/_sandbox/oa/config":
            try:
                self._send(Reply(200, oa.configure(parse_body(raw))))
            except (ReceiverConfigError, ValueError) as exc:
                self._send(Reply(400, {"message": str(exc)}))
        elif path == "/_sandbox/oa/reset":
            oa.reset()
            self._send(Reply(200, {"reset": True}))
        else:
            self._not_found(path)

    def _control(self, path: str) -> None:
        world = self.server.world
        try:
            body = self._read_json()
        except _InvalidJson as exc:
            self._send(Reply(400, {"message": f"the body is not valid JSON: {exc}"}))
            return
        if path == "/_sandbox/faults":
            try:
                faults = faults_from_payload({} if body is None else body)
            except FaultConfigError as exc:
                self._send(Reply(400, {"message": str(exc)}))
                return
            world.set_faults(faults)
            self._send(Reply(200, {"faults": faults.as_dict()}))
        elif path == "/_sandbox/reset":
            world.reset()
            self._send(Reply(200, {"reset": True}))
        elif path == "/_sandbox/expire_tokens":
            self._send(Reply(200, {"expired": world.expire_tokens()}))
        else:
            self._not_found(path)

    def _route(self, path: str) -> tuple[re.Match[str], SimulatedSystem, SimulatedRoute] | None:
        for system, route in self.server.routes:
            match = route.pattern.match(path)
            if match:
                return match, system, route
        return None

    def _system(self, path: str) -> None:
        world = self.server.world
        found = self._route(path)
        if found is None:
            self._not_found(path)
            return
        match, system, route = found
        try:
            body = self._read_json()
        except _InvalidJson:
            self._send(system.invalid_json_reply)
            return
        plan: Plan = world.plan(system.name, data_call=route.data_call)
        if plan.rate_limited:
            self._send(system.rate_limited_reply)
            return
        world.wait(plan.latency_s)
        if plan.error_status is not None:
            self._send(system.error_reply(plan.error_status))
            return
        authorization = self.headers.get(system.auth_header, "").strip()
        reply = route.call(world, match.groupdict(), authorization, body)
        if plan.hold_s:
            # The work is done (the account exists); only the answer comes too late.
            world.wait(plan.hold_s)
        self._send(reply)


class SandboxServer:
    """A sandbox bound to a port. ``start()`` serves in a background thread;
    ``serve_forever()`` serves in the calling thread (the command).

    It simulates the systems of :data:`sandbox.systems.simulated_systems` at construction."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, credentials: Credentials | None = None):
        self.systems: tuple[SimulatedSystem, ...] = tuple(simulated_systems)
        self.world = World(credentials, systems=tuple(system.name for system in self.systems))
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.world = self.world
        self._httpd.routes = _routes(self.systems)
        self.oa = OaReceiver()
        self._httpd.oa = self.oa
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()
        self._stopped = False
        bound_host, bound_port = self._httpd.server_address[:2]
        self.host = str(bound_host)
        self.port = int(bound_port)

    @property
    def url(self) -> str:
        """Where clients on this machine reach it (a wildcard bind is reached via loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)  # noqa: S104 - comparison only
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def credentials(self) -> Credentials:
        return self.world.credentials

    @property
    def state(self) -> dict[str, Any]:
        """The same snapshot ``GET /_sandbox/state`` answers."""
        return self.world.snapshot()

    def serve_forever(self) -> None:
        logger.info("sandbox serving %s", kv(url=self.url))
        self._serving.set()
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._serving.clear()

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self.serve_forever, name="sandbox-server", daemon=True)
        self._thread.start()
        self._serving.wait(5)
        return self

    def stop(self) -> None:
        """Stop serving, wake requests held by faults, close the socket. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.world.stopping.set()
        if self._serving.is_set():
            self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        logger.info("sandbox stopped %s", kv(url=self.url))

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandbox(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    credentials: Credentials | None = None,
    **values: str | None,
) -> SandboxServer:
    """Start a sandbox in a background thread (``port=0``: a free port) and return it.

    Give ``credentials``, or the values by field name (``idaas_secret=…``: the
    :class:`~sandbox.systems.CredentialField` names of the simulated systems); values left
    out (or empty) take the demo defaults.
    """
    if credentials is not None and values:
        raise TypeError("give either credentials or credential values, not both")
    return SandboxServer(host, port, credentials or Credentials.from_values(values)).start()


__all__ = ["Credentials", "SandboxServer", "World", "start_sandbox"]
