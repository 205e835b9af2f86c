"""Request resource benchmark: GET /account-creation/requests/{requestId}/ of 1 and 1,000 people.

    python bench/request_view.py [--db sqlite|postgres] [--people 1,1000] [--repeat 7] [--json]

Creates a fresh database (as bench/ingest.py does), accepts one request per size through
the intake, gives every person's tasks the state of a finished run (IDaaS completed with
its result and one attempt row; WeLink failed after two attempts; Email pending), then
times the detail through the Django test client — the whole server-side stack:
authentication, scope and origin checks, the queries, building people[] and JSON
rendering. Prints people, median and min ms, SQL queries and the answer's size. The target
(issue #13) is ≤ 200 ms on PostgreSQL for 1,000 people, with the same number of queries for
1 person as for 1,000.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import bench_client, body, setup  # noqa: E402


def settle(request_pk: int) -> None:
    """Give the request's tasks the mix of states a real run leaves."""
    from django.utils import timezone

    from account_creation.models import AccountCreationLog, AccountCreationTask, AttemptOutcome, TaskStatus

    tasks = AccountCreationTask.objects.filter(request_id=request_pk)
    now = timezone.now()
    tasks.filter(account_type="idaas").update(
        status=TaskStatus.COMPLETED, completed_at=now,
        result={"account_id": "idaas-0123456789abcdef", "username": "zB0N1", "email": "zhangsan@example.com"},
    )
    tasks.filter(account_type="welink").update(status=TaskStatus.FAILED, last_error="WeLink refused: 40001")
    logs = [
        AccountCreationLog(task_id=pk, execution_attempt=n, runner="bench", outcome=AttemptOutcome.SUCCEEDED)
        for pk, account_type in tasks.values_list("pk", "account_type")
        for n in range(1, {"idaas": 2, "welink": 3}.get(account_type, 1))
    ]
    AccountCreationLog.objects.bulk_create(logs, batch_size=2000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--people", default="1,1000")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    setup(args.db)

    from django.db import connection
    from django.test import override_settings
    from django.test.utils import CaptureQueriesContext

    from account_creation.models import AccountCreationRequest

    client = bench_client()
    sizes = [int(size) for size in args.people.split(",")]
    rows = []
    with override_settings(ACCOUNT_CREATION_MAX_USERS_PER_REQUEST=max(sizes)):
        for size in sizes:
            created = client.generic(
                "POST", "/account-creation/create_accounts/", body(size, f"view{size}"),
                content_type="application/json",
            )
            if created.status_code != 201:
                raise SystemExit(f"{size} people: HTTP {created.status_code} {created.content[:300]!r}")
            request_id = created.json()["requestId"]
            settle(AccountCreationRequest.objects.get(request_id=request_id).pk)
            url = f"/account-creation/requests/{request_id}/"
            client.get(url)  # warm-up
            timings = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                response = client.get(url)
                timings.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{size} people: HTTP {response.status_code}")
            with CaptureQueriesContext(connection) as queries:
                answer = client.get(url)
            people = answer.json()["people"]
            if len(people) != size:
                raise SystemExit(f"{size} people: the answer lists {len(people)}")
            rows.append({
                "people": size, "median_ms": round(statistics.median(timings), 1), "min_ms": round(min(timings), 1),
                "queries": len(queries), "kib": round(len(answer.content) / 1024, 1),
            })
    if args.json:
        print(json.dumps({"db": args.db, "repeat": args.repeat, "rows": rows}))
        return
    print(f"database: {args.db} ({connection.vendor}), repetitions: {args.repeat}")
    print(f"{'people':>6} {'median ms':>10} {'min ms':>8} {'queries':>8} {'KiB':>8}")
    for row in rows:
        print(f"{row['people']:>6} {row['median_ms']:>10.1f} {row['min_ms']:>8.1f} {row['queries']:>8} {row['kib']:>8}")


if __name__ == "__main__":
    main()
