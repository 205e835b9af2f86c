"""Intake benchmark: POST create_accounts with 1, 100, 1,000 and 5,000 users.

    python bench/ingest.py [--db sqlite|postgres] [--repeat 5] [--sizes 1,100,1000,5000] [--json]

Creates a fresh database (SQLite: a temporary file; PostgreSQL: ``accountsync_bench`` on
127.0.0.1:5432 as user postgres), migrates, loads the department mappings, then posts
through the Django test client (the whole server-side stack: middleware, authentication,
parsing, validation, intake, rendering; no network). Every repetition uses a fresh
businessKey and fresh employee numbers. Prints users, median ms, SQL queries and peak
memory (tracemalloc, measured in a separate run because tracing slows the code down);
``--json`` prints one JSON object with the same figures instead.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_NAME = "accountsync_bench"


def fresh_database(vendor: str) -> str:
    if vendor == "sqlite":
        return f"sqlite:///{Path(tempfile.mkdtemp(prefix='accountsync-bench-')) / 'bench.sqlite3'}"
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{PG_NAME}"')
    return f"postgres://postgres@127.0.0.1:5432/{PG_NAME}"


def setup(vendor: str) -> None:
    os.environ["DATABASE_URL"] = fresh_database(vendor)
    os.environ["DJANGO_SETTINGS_MODULE"] = "accountsync.test_settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test client's "testserver" host in
    call_command("migrate", verbosity=0)
    with open(os.devnull, "w") as devnull:
        call_command("load_department_mappings", stdout=devnull)


def bench_client():  # noqa: ANN201 - an APIClient, imported after django.setup()
    """A DRF test client holding an oa key with scopes intake and read."""
    from rest_framework.test import APIClient

    from api_clients.services import client_issue_key

    key = client_issue_key(name="bench", origin_systems=["oa"], scopes=["intake", "read"]).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def body(size: int, run: str) -> str:
    users = [
        {
            "employeeNumber": f"B{run}N{i}",
            "employeeName": "张三",
            "departmentCode": "120000",
            "phoneNumber": "13800138000",
            "partnerCompany": "ABC",
            "country": "cn",
        }
        for i in range(size)
    ]
    request = {
        "originSystem": "oa",
        "businessKey": f"bench-{run}",
        "accountType": "personal",
        "employeeType": "W",
        "systemList": ["idaas", "welink", "email"],
        "userList": users,
    }
    return json.dumps(request)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", default="1,100,1000,5000")
    parser.add_argument("--profile", type=int, metavar="USERS", help="cProfile one request of USERS users")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    setup(args.db)

    from django.db import connection
    from django.test import override_settings
    from django.test.utils import CaptureQueriesContext

    client = bench_client()
    url = "/account-creation/create_accounts/"
    counter = iter(range(10**9))

    def post(size: int) -> None:
        payload = body(size, f"{next(counter)}")
        response = client.generic("POST", url, payload, content_type="application/json")
        if response.status_code != 201:
            raise SystemExit(f"{size} users: HTTP {response.status_code} {response.content[:300]!r}")

    sizes = [int(size) for size in args.sizes.split(",")]
    if args.profile:
        import cProfile
        import pstats

        with override_settings(ACCOUNT_CREATION_MAX_USERS_PER_REQUEST=max(sizes)):
            post(1)
            profiler = cProfile.Profile()
            profiler.runcall(post, args.profile)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
        return
    rows = []
    if not args.json:
        print(f"database: {args.db} ({connection.vendor}), repetitions: {args.repeat}")
        print(f"{'users':>6} {'median ms':>10} {'min ms':>8} {'queries':>8} {'peak MiB':>9}")
    with override_settings(ACCOUNT_CREATION_MAX_USERS_PER_REQUEST=max(sizes)):
        post(1)  # warm-up: imports, connection, caches
        for size in sizes:
            timings = []
            for _ in range(args.repeat):
                payload = body(size, f"{next(counter)}")
                started = time.perf_counter()
                response = client.generic("POST", url, payload, content_type="application/json")
                timings.append((time.perf_counter() - started) * 1000)
                if response.status_code != 201:
                    raise SystemExit(f"{size} users: HTTP {response.status_code}")
            with CaptureQueriesContext(connection) as queries:
                post(size)
            query_count = len(queries)  # now: the next request resets the query log
            tracemalloc.start()
            post(size)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rows.append({"users": size, "median_ms": round(statistics.median(timings), 1),
                         "min_ms": round(min(timings), 1), "queries": query_count,
                         "peak_mib": round(peak / 2**20, 1)})
            if not args.json:
                print(
                    f"{size:>6} {statistics.median(timings):>10.1f} {min(timings):>8.1f} "
                    f"{query_count:>8} {peak / 2**20:>9.1f}"
                )
    if args.json:
        print(json.dumps({"db": args.db, "repeat": args.repeat, "rows": rows}))


if __name__ == "__main__":
    main()
