"""Callback benchmark: does a slow or absent OA slow account creation down?

    python bench/callback_overhead.py [--db sqlite|postgres] [--people 200] [--latency-ms 10] [--json]

Three engine runs over the same work — N people × 3 systems, fake connectors answering after
``--latency-ms``, one runner at concurrency 4 — on a fresh database each:

* ``none``: the client has no callback;
* ``ok``: its callback points at a receiver that answers at once;
* ``down``: at a port where nothing listens (every delivery is refused);
* ``slow``: at a receiver that answers after 2 s.

Reports the account work's seconds (``RunSummary.account_seconds``: claim to last outcome,
deliveries excluded), the delivery phase's seconds and outcomes, and the ratio of each run's
account seconds to ``ok``'s and to ``none``'s. The claims: account creation is not slower
when the receiver is down or slow (ratio to ``ok`` ≈ 1: deliveries come after the account
work, bounded by ``CALLBACK_DELIVERY_SECONDS``); the outbox itself costs the ratio to
``none`` (two indexed reads per finished task and one insert per event).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import bench_client, body, setup  # noqa: E402


class _Receiver(BaseHTTPRequestHandler):
    delay = 0.0

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.delay)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def one_run(mode: str, people: int, latency: float) -> dict[str, float | int | str]:
    from django.db import connection
    from django.test import override_settings

    from account_creation.connectors import override_connectors
    from account_creation.connectors.fake import FakeConnector
    from account_creation.models import AccountCreationRequest, AccountCreationTask
    from account_creation.services.engine import AccountCreationService
    from callbacks.models import CallbackEvent
    from callbacks.services import callback_configure

    for model in (CallbackEvent, AccountCreationTask, AccountCreationRequest):
        model.objects.all().delete()
    client = bench_client()
    if mode != "none":
        if mode == "down":
            url = f"http://127.0.0.1:{free_port()}/hook"
        else:
            handler = type("Handler", (_Receiver,), {"delay": 2.0 if mode == "slow" else 0.0})
            server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        callback_configure(client_name="bench", url=url)
    with override_settings(ACCOUNT_CREATION_MAX_USERS_PER_REQUEST=people):
        answer = client.generic("POST", "/account-creation/create_accounts/", body(people, f"cb{mode}"),
                                content_type="application/json")
    if answer.status_code != 201:
        raise SystemExit(f"{mode}: HTTP {answer.status_code}")
    fakes = {system: FakeConnector(system, latency_seconds=latency) for system in ("idaas", "welink", "email")}
    with override_connectors(fakes), override_settings(CALLBACK_DELIVERY_SECONDS=5):
        summary = AccountCreationService(max_tasks=people * 3, concurrency=4).run()
    connection.close()
    deliveries = summary.callbacks
    return {
        "mode": mode,
        "completed": summary.total("completed"),
        "account_seconds": round(summary.account_seconds, 3),
        "delivery_seconds": round(deliveries.seconds, 3) if deliveries else 0.0,
        "delivered": deliveries.delivered if deliveries else 0,
        "to_retry": deliveries.retried if deliveries else 0,
        "events": CallbackEvent.objects.count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    setup(args.db)
    rows = [one_run(mode, args.people, args.latency_ms / 1000) for mode in ("none", "ok", "down", "slow")]
    none = float(rows[0]["account_seconds"]) or 1.0
    ok = float(rows[1]["account_seconds"]) or 1.0
    for row in rows:
        row["ratio_to_none"] = round(float(row["account_seconds"]) / none, 2)
        row["ratio_to_ok"] = round(float(row["account_seconds"]) / ok, 2)
    if args.json:
        print(json.dumps({"db": args.db, "people": args.people, "rows": rows}))
        return
    print(f"{args.people} people x 3 systems, {args.latency_ms:g} ms per call, concurrency 4, db {args.db}")
    print(f"{'callback':<8} {'completed':>9} {'account s':>10} {'vs none':>8} {'vs ok':>6} {'deliver s':>10} "
          f"{'delivered':>10} {'to retry':>9}")
    for row in rows:
        print(f"{row['mode']:<8} {row['completed']:>9} {row['account_seconds']:>10} {row['ratio_to_none']:>8} "
              f"{row['ratio_to_ok']:>6} {row['delivery_seconds']:>10} {row['delivered']:>10} {row['to_retry']:>9}")


if __name__ == "__main__":
    main()
