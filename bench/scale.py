"""Scale benchmark (PostgreSQL): reads on 1,000,000 tasks, the claim plan, engine memory.

    python bench/scale.py [--tasks 1000000] [--repeat 5] [--memory-sizes 10000,100000]
                          [--quick] [--keep] [--reuse] [--json]

1. Seeds ``accountsync_bench_scale`` with set-based SQL (``INSERT … SELECT FROM
   generate_series``): TASKS tasks (a third per account type, one person = three tasks;
   ~93 % of people completed, the rest pending, waiting for a retry, processing under a
   lease, failed with blocked dependents; ten people per request, three origin systems)
   and about three attempt-log rows per task. Secondary indexes are dropped during the
   load and rebuilt after it, then ``VACUUM ANALYZE``.
2. Times, through the real code paths (DRF ``APIClient`` with a token), the median of
   REPEAT calls of: ``task_stats``; the first list page with no filter and with each
   filter; one task's detail and its logs; and the engine's claim query
   (``eligible_tasks(...)[:100]`` with ``FOR UPDATE SKIP LOCKED``), whose
   ``EXPLAIN (ANALYZE, BUFFERS)`` is printed and must not scan the task table.
3. Peak memory of an engine run: for each size N, a fresh database with N pending tasks,
   and a child process that runs ``AccountCreationService(max_tasks=N)`` with connectors
   that answer at once and keep nothing; its ``VmHWM`` (peak RSS) is reported next to the
   RSS it had before the run, so growth with N shows.

The database is dropped at the end unless ``--keep``; ``--reuse`` skips the seeding when
the database already holds the data.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import ROOT, fresh_database, setup_django  # noqa: E402

DB_NAME = "accountsync_bench_scale"
MEMORY_DB_NAME = "accountsync_bench_memory"
TASK_TABLE = "account_creation_accountcreationtask"
LOG_TABLE = "account_creation_accountcreationlog"
REQUEST_TABLE = "account_creation_accountcreationrequest"
PEOPLE_PER_REQUEST = 10

# One person = three tasks (idaas, welink, email; sequence 0, 1, 2). The person's bucket
# (a hash of the person number, 0..999) decides the state of the three tasks:
#   < 930  all completed                     (history: the bulk of the table)
#   < 955  all pending, never tried          (fresh requests)
#   < 970  IDaaS failed, WeLink+Email blocked
#   < 985  IDaaS completed, WeLink+Email pending, waiting for a retry (next_attempt_at later)
#   < 992  IDaaS processing under a lease, WeLink+Email pending
#   else   IDaaS+WeLink completed, Email failed
# ``pending_only`` (the memory run) makes every task pending and never tried.
SEED_TASKS_SQL = f"""
WITH people AS (
    SELECT p,
           CASE WHEN %(pending_only)s THEN 940 ELSE (p * 7919 + 13) %% 1000 END AS bucket,
           now() - (%(people)s - p) * interval '40 seconds' AS created
    FROM generate_series(0::bigint, %(people)s - 1) AS p
), rows AS (
    SELECT people.*, t.type, t.seq,
           'E' || lpad(p::text, 7, '0') AS emp,
           CASE
             WHEN bucket < 930 THEN 'completed'
             WHEN bucket < 955 THEN 'pending'
             WHEN bucket < 970 THEN CASE WHEN t.seq = 0 THEN 'failed' ELSE 'blocked' END
             WHEN bucket < 985 THEN CASE WHEN t.seq = 0 THEN 'completed' ELSE 'pending' END
             WHEN bucket < 992 THEN CASE WHEN t.seq = 0 THEN 'processing' ELSE 'pending' END
             ELSE CASE WHEN t.seq = 2 THEN 'failed' ELSE 'completed' END
           END AS status
    FROM people CROSS JOIN (VALUES ('idaas', 0), ('welink', 1), ('email', 2)) AS t(type, seq)
)
INSERT INTO {TASK_TABLE} (
    id, request_id, origin_system, business_key, account_category, account_type, sequence,
    employee_type, employee_number, employee_name, department_code, phone_number,
    partner_company, country, status, next_attempt_at, locked_by, locked_until,
    attempt_base, result, last_error, created_at, updated_at, started_at, completed_at
)
SELECT p * 3 + seq + 1,
       p / {PEOPLE_PER_REQUEST} + 1,
       CASE (p / {PEOPLE_PER_REQUEST}) %% 10 WHEN 7 THEN 'hr' WHEN 8 THEN 'hr' WHEN 9 THEN 'ehr' ELSE 'oa' END,
       'BK' || (p / {PEOPLE_PER_REQUEST}),
       'personal', type, seq,
       CASE WHEN p %% 5 = 0 AND NOT %(pending_only)s THEN 'P' ELSE 'W' END,
       emp,
       substr('张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗', (p %% 20)::int + 1, 1)
         || substr('伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平', ((p / 20) %% 20)::int + 1, 1)
         || substr('华建国文志红玉英兰春海云飞鹏宇新梅立成宁', ((p / 400) %% 20)::int + 1, 1),
       '120000', '138' || lpad((p %% 100000000)::text, 8, '0'), '', 'cn',
       status,
       CASE WHEN status = 'pending' AND bucket >= 955 THEN now() + (bucket %% 60 + 1) * interval '1 minute' END,
       CASE WHEN status = 'processing' THEN 'bench-host:1:deadbeef' ELSE '' END,
       CASE WHEN status = 'processing' THEN now() + interval '10 minutes' END,
       0,
       CASE WHEN status = 'completed' THEN jsonb_build_object(
           'account_id', type || '-' || emp, 'username', 'z' || emp,
           'email', 'user' || p || '@corp.example.com') END,
       CASE WHEN status = 'failed' THEN 'refused the data (HTTP 400)'
            WHEN status = 'blocked' THEN 'dependency idaas failed' ELSE '' END,
       created, created + interval '5 minutes',
       CASE WHEN status <> 'pending' OR bucket >= 955 THEN created + interval '1 minute' END,
       CASE WHEN status = 'completed' THEN created + interval '2 minutes' END
FROM rows
"""  # noqa: S608 - table names are constants

SEED_REQUESTS_SQL = f"""
INSERT INTO {REQUEST_TABLE} (
    id, origin_system, business_key, account_category, employee_type, system_list,
    payload_sha256, user_count, accepted_count, errors, warnings, created_at, client_id
)
SELECT r + 1,
       CASE r %% 10 WHEN 7 THEN 'hr' WHEN 8 THEN 'hr' WHEN 9 THEN 'ehr' ELSE 'oa' END,
       'BK' || r, 'personal', 'W', '["idaas", "welink", "email"]'::jsonb,
       md5(r::text) || md5((r + 1)::text), {PEOPLE_PER_REQUEST}, {PEOPLE_PER_REQUEST}, '[]'::jsonb, '[]'::jsonb,
       now() - (%(people)s - r * {PEOPLE_PER_REQUEST}) * interval '40 seconds', NULL
FROM generate_series(0, (%(people)s - 1) / {PEOPLE_PER_REQUEST}) AS r
"""  # noqa: S608

# Attempts per task: 1..5 (mean 3) for every task that has run; the last attempt's outcome
# follows the task's status, the earlier ones were retries.
SEED_LOGS_SQL = f"""
INSERT INTO {LOG_TABLE} (
    task_id, execution_attempt, outcome, runner, error_message, error_details,
    execution_context, traceback, created_at, finished_at, duration_ms
)
SELECT t.id, a,
       CASE WHEN a < n THEN 'retry'
            WHEN t.status = 'completed' THEN 'succeeded'
            WHEN t.status = 'failed' THEN 'failed'
            WHEN t.status = 'processing' THEN 'running'
            ELSE 'retry' END,
       'bench-host:1:deadbeef',
       CASE WHEN a < n OR t.status IN ('failed', 'pending') THEN 'answered 503 (HTTP 503)' ELSE '' END,
       NULL,
       jsonb_build_object('runner', 'bench-host:1:deadbeef', 'account_type', t.account_type,
                          'employee_number', t.employee_number, 'attempt_in_budget', a),
       '',
       t.created_at + a * interval '1 minute',
       CASE WHEN t.status = 'processing' AND a = n THEN NULL ELSE t.created_at + a * interval '1 minute' END,
       CASE WHEN t.status = 'processing' AND a = n THEN NULL ELSE 40 + (t.id * 7 + a) %% 400 END
FROM (SELECT *, 1 + (id * 7) %% 5 AS n FROM {TASK_TABLE}
      WHERE NOT (status = 'pending' AND next_attempt_at IS NULL)) AS t,
     generate_series(1, t.n) AS a
"""  # noqa: S608


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, flush=True)


def seed(*, tasks: int, pending_only: bool = False, quiet: bool = False) -> dict[str, Any]:
    """Fill the (migrated, empty) database; returns row counts and seconds per phase."""
    from django.db import connection

    people = max(1, -(-tasks // 3))
    params = {"people": people, "pending_only": pending_only}
    timings: dict[str, float] = {}
    with connection.cursor() as cursor:
        # Secondary indexes are rebuilt once after the load instead of row by row.
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN (%s, %s) AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint)",
            [TASK_TABLE, LOG_TABLE],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        # The data is consistent by construction: skip the row-by-row foreign-key triggers.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for phase, sql in (("requests", SEED_REQUESTS_SQL), ("tasks", SEED_TASKS_SQL), ("logs", SEED_LOGS_SQL)):
            started = time.perf_counter()
            cursor.execute(sql, params)
            timings[phase] = round(time.perf_counter() - started, 1)
            _say(f"  seeded {phase}: {cursor.rowcount} rows in {timings[phase]} s", quiet)
        cursor.execute("SET session_replication_role = origin")
        started = time.perf_counter()
        for _, definition in indexes:
            cursor.execute(definition)
        timings["indexes"] = round(time.perf_counter() - started, 1)
        for table in (REQUEST_TABLE, TASK_TABLE, LOG_TABLE):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))"  # noqa: S608
            )
        started = time.perf_counter()
        for table in (REQUEST_TABLE, TASK_TABLE, LOG_TABLE):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        timings["vacuum_analyze"] = round(time.perf_counter() - started, 1)
        _say(f"  indexes rebuilt in {timings['indexes']} s, VACUUM ANALYZE in {timings['vacuum_analyze']} s", quiet)
    return {"seconds": timings, **row_counts()}


def row_counts() -> dict[str, Any]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TASK_TABLE}")  # noqa: S608
        tasks = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM {LOG_TABLE}")  # noqa: S608
        logs = cursor.fetchone()[0]
        cursor.execute(f"SELECT status, count(*) FROM {TASK_TABLE} GROUP BY status ORDER BY status")  # noqa: S608
        by_status = dict(cursor.fetchall())
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        size = cursor.fetchone()[0]
    return {"tasks": tasks, "logs": logs, "by_status": by_status, "database_size": size}


# --- reads ---------------------------------------------------------------------------------


def _sample_values() -> dict[str, Any]:
    """Filter values that exist in the seeded data (the middle of the table, not an edge)."""
    from account_creation.models import AccountCreationTask

    tasks = AccountCreationTask.objects.order_by()
    middle = tasks.filter(pk__gte=tasks.count() // 2, status="completed").order_by("pk").first()
    assert middle is not None, "no data: seed first"
    with_logs = middle.pk
    return {"employee_number": middle.employee_number, "business_key": middle.business_key, "task_id": with_logs}


def read_cases(sample: dict[str, Any]) -> list[tuple[str, str, dict[str, str], float]]:
    """(name, path, query parameters, target ms) of every timed read."""
    task_id = sample["task_id"]
    lists: list[tuple[str, dict[str, str]]] = [
        ("no filter", {}),
        ("status=pending", {"status": "pending"}),
        ("status=completed", {"status": "completed"}),
        ("status=failed", {"status": "failed"}),
        ("account_type=email", {"account_type": "email"}),
        ("employee_number", {"employee_number": sample["employee_number"]}),
        ("business_key", {"business_key": sample["business_key"]}),
        ("origin_system=oa", {"origin_system": "oa"}),
        ("origin_system=ehr", {"origin_system": "ehr"}),
    ]
    return [
        ("task_stats", "/account-creation/task_stats/", {}, 300.0),
        *[(f"list {name}", "/account-creation/", params, 50.0) for name, params in lists],
        ("task detail", f"/account-creation/{task_id}/", {}, 50.0),
        ("task logs", f"/account-creation/{task_id}/logs/", {}, 50.0),
    ]


def measure_reads(*, repeat: int, quiet: bool) -> list[dict[str, Any]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from rest_framework.test import APIClient

    from api_clients.services import client_issue_key

    setup_test_environment()  # lets the test client's "testserver" host in
    key = client_issue_key(name="bench-scale", scopes=["all"]).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    rows = []
    for name, path, params, target in read_cases(_sample_values()):
        response = client.get(path, params)  # warm-up: caches, plans, buffers
        assert response.status_code == 200, (path, params, response.status_code, response.content[:300])
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(path, params)
            timings.append((time.perf_counter() - started) * 1000)
        with CaptureQueriesContext(connection) as queries:
            client.get(path, params)
        slowest = max(queries.captured_queries, key=lambda q: float(q["time"]))
        body = response.json()
        row = {
            "name": name,
            "median_ms": round(statistics.median(timings), 1),
            "target_ms": target,
            "met": statistics.median(timings) <= target,
            "queries": len(queries),
            "slowest_query_ms": round(float(slowest["time"]) * 1000, 1),
            "slowest_query": slowest["sql"][:300],
            "count": body.get("count") if isinstance(body, dict) else None,
        }
        rows.append(row)
        _say(
            f"  {name:<28} {row['median_ms']:>8.1f} ms  (target {target:.0f})  {row['queries']} queries, "
            f"slowest {row['slowest_query_ms']} ms, count={row['count']}",
            quiet,
        )
    return rows


def explain_claim(*, repeat: int, quiet: bool) -> list[dict[str, Any]]:
    """EXPLAIN (ANALYZE, BUFFERS) and timing of the engine's claim SELECT, rolled back."""
    from django.db import connection, transaction
    from django.utils import timezone

    from account_creation.account_types import registry
    from account_creation.selectors import eligible_tasks

    results = []
    for label, types in (("all types", registry.values()), ("welink+email", ["welink", "email"])):
        queryset = eligible_tasks(now=timezone.now(), account_types=types).select_for_update(
            skip_locked=True, of=("self",)
        )[:100]
        with transaction.atomic(), connection.cursor() as cursor:
            sql, params = queryset.query.sql_with_params()
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = "\n".join(line for (line,) in cursor.fetchall())
            timings = []
            for _ in range(repeat):
                started = time.perf_counter()
                cursor.execute(sql, params)
                claimed = len(cursor.fetchall())
                timings.append((time.perf_counter() - started) * 1000)
            transaction.set_rollback(True)
        seq_scan = f"Seq Scan on {TASK_TABLE}" in plan
        results.append({
            "name": f"claim query ({label})",
            "median_ms": round(statistics.median(timings), 1),
            "rows": claimed,
            "uses_index": "Index" in plan and not seq_scan,
            "plan": plan,
        })
        _say(f"  claim query ({label}): {results[-1]['median_ms']} ms, {claimed} rows\n{plan}\n", quiet)
        assert not seq_scan, f"the claim query scans the task table:\n{plan}"
    return results


# --- memory of a long run ------------------------------------------------------------------


class NullConnector:
    """Answers at once and remembers nothing (FakeConnector keeps every call: memory grows)."""

    def __init__(self, account_type: str):
        self.account_type = account_type

    def create(self, request: Any) -> Any:
        from account_creation.connectors.base import AccountResult

        return AccountResult(
            account_id=f"{self.account_type}-{request.person.employee_number}",
            username=request.username,
            email=request.email,
        )


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def memory_child(size: int) -> dict[str, Any]:
    """In a child process: a fresh database with SIZE pending tasks, one engine run over them."""
    import gc

    setup_django(fresh_database("postgres", MEMORY_DB_NAME))
    seed(tasks=size, pending_only=True, quiet=True)
    from account_creation.connectors import override_connectors
    from account_creation.services.engine import AccountCreationService

    gc.collect()
    try:  # resets VmHWM so the peak is the run's, not the set-up's (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    before = _status_kib("VmRSS")
    connectors = {t: NullConnector(t) for t in ("idaas", "welink", "email")}
    tasks = 3 * -(-size // 3)  # whole people: three tasks each
    started = time.perf_counter()
    with override_connectors(connectors):
        summary = AccountCreationService(max_tasks=tasks, concurrency=1).run()
    elapsed = time.perf_counter() - started
    assert summary.total("completed") == tasks, dict(summary.per_type)
    return {
        "tasks": tasks,
        "seconds": round(elapsed, 1),
        "ms_per_task": round(elapsed * 1000 / tasks, 2),
        "rss_before_mib": round(before / 1024, 1),
        "peak_rss_mib": round(_status_kib("VmHWM") / 1024, 1),
        "rss_after_mib": round(_status_kib("VmRSS") / 1024, 1),
        "ru_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def measure_memory(sizes: list[int], quiet: bool) -> list[dict[str, Any]]:
    rows = []
    try:
        for size in sizes:
            done = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--memory-child", str(size)],
                cwd=ROOT, capture_output=True, text=True, check=False,
            )
            if done.returncode != 0:
                raise SystemExit(f"memory run of {size} tasks failed:\n{done.stderr[-3000:]}")
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            row = rows[-1]
            _say(
                f"  {row['tasks']:>7} tasks: {row['seconds']} s ({row['ms_per_task']} ms/task), RSS before "
                f"{row['rss_before_mib']} MiB, peak {row['peak_rss_mib']} MiB, after {row['rss_after_mib']} MiB",
                quiet,
            )
    finally:
        drop_database(MEMORY_DB_NAME)
    return rows


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _has_data(tasks: int) -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TASK_TABLE}")  # noqa: S608
        return bool(cursor.fetchone()[0] == tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--memory-sizes", default="10000,100000", help="engine runs for the memory figure ('' = none)")
    parser.add_argument("--quick", action="store_true", help="30,000 tasks, memory runs of 1,000 and 3,000")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    parser.add_argument("--reuse", action="store_true", help="do not re-seed a database that holds TASKS tasks")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child)))
        return
    if args.quick:
        args.tasks, args.memory_sizes, args.repeat = 30_000, "1000,3000", min(args.repeat, 3)
    quiet = args.json
    os.environ["DJANGO_SETTINGS_MODULE"] = "accountsync.test_settings"
    result: dict[str, Any] = {"db": "postgres", "repeat": args.repeat}
    try:
        if args.reuse:
            setup_django(fresh_database.__globals__["PG_URL"].format(name=DB_NAME))
            if not _has_data(args.tasks):
                raise SystemExit(f"{DB_NAME} does not hold {args.tasks} tasks: run without --reuse")
            result["seed"] = row_counts()
        else:
            _say(f"seeding {args.tasks:,} tasks into {DB_NAME} …", quiet)
            setup_django(fresh_database("postgres", DB_NAME))
            result["seed"] = seed(tasks=args.tasks, quiet=quiet)
        _say(f"data: {result['seed']}", quiet)
        _say(f"reads (median of {args.repeat}, through the API):", quiet)
        result["reads"] = measure_reads(repeat=args.repeat, quiet=quiet)
        result["claim"] = explain_claim(repeat=args.repeat, quiet=quiet)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(DB_NAME)
    sizes = [int(size) for size in args.memory_sizes.split(",") if size]
    if sizes:
        _say("engine run memory (pending tasks, connectors that answer at once):", quiet)
        result["memory"] = measure_memory(sizes, quiet)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
