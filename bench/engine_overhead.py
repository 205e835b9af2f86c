"""Engine overhead per task: claim + prepare + finish, with connectors that answer at once.

    python bench/engine_overhead.py [--db sqlite|postgres] [--people 1000] [--repeat 3]

Prints the median milliseconds and SQL queries per task (no network time: the fake
connectors return immediately), and an idle run's time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import fresh_database, setup_django  # noqa: E402


def measure(people: int) -> dict[str, float]:
    from django.db import connection

    from account_creation.connectors import override_connectors
    from account_creation.connectors.fake import FakeConnector
    from account_creation.models import AccountCreationTask
    from account_creation.services.engine import AccountCreationService
    from account_creation.services.intake import request_create_accounts

    key = f"bench-{time.monotonic_ns()}"
    envelope = {"originSystem": "bench", "businessKey": key, "accountType": "personal", "employeeType": "W",
                "systemList": ["idaas", "welink", "email"]}
    users = [(i, {"employeeNumber": f"B{key[-8:]}{i:05d}"[-19:], "employeeName": "张伟", "departmentCode": "120000",
                  "phoneNumber": "13800138000", "partnerCompany": "", "country": "cn"}) for i in range(people)]
    request_create_accounts(envelope=envelope, users=users, rejected=[], fingerprint=key)
    tasks = people * 3
    queries = [0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    fakes = {s: FakeConnector(s) for s in ("idaas", "welink", "email")}
    with override_connectors(fakes), connection.execute_wrapper(count):
        started = time.perf_counter()
        summary = AccountCreationService(max_tasks=tasks, concurrency=1).run()
        elapsed = time.perf_counter() - started
    assert summary.total("completed") == tasks, summary.per_type
    assert AccountCreationTask.objects.filter(business_key=key, status="completed").count() == tasks
    return {"ms_per_task": elapsed * 1000 / tasks, "queries_per_task": queries[0] / tasks}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    setup_django(fresh_database(args.db, "accountsync_bench_engine"))
    runs = [measure(args.people) for _ in range(args.repeat)]
    result = {
        "db": args.db,
        "tasks": args.people * 3,
        "ms_per_task": round(statistics.median(r["ms_per_task"] for r in runs), 3),
        "queries_per_task": round(statistics.median(r["queries_per_task"] for r in runs), 2),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"engine overhead on {args.db}: {result['ms_per_task']} ms and {result['queries_per_task']} "
              f"queries per task (median of {args.repeat} runs of {result['tasks']} tasks)")


if __name__ == "__main__":
    main()
