"""Load: the API under gunicorn on PostgreSQL, driven by concurrent clients from another process.

    python bench/load.py                      # 50 clients for 60 s (docs/RELIABILITY.md)
    python bench/load.py --clients 10 --seconds 10 --json

Creates a fresh database on 127.0.0.1:5432 (user postgres), serves the API with gunicorn,
and starts a client process whose threads mix new requests, replays of a businessKey they
sent before (must answer 200 with replayed=true) and reads (list with a filter, one task,
task_stats). Reports requests per second, p50/p99 latency, every status, 5xx, unrecognised
replays and duplicate tasks (checked in the database afterwards). Exit status 1 when any of
those is non-zero. The per-client throttle is raised for the run (API_THROTTLE_RATE): the
point is the service's behaviour under load, not the throttle's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NAMES = ["张三", "李四", "王五", "赵六", "钱七", "孙八", "周九", "吴十", "郑一", "冯二", "陈红", "曾伟"]
CREATE = "/account-creation/create_accounts/"


# --- the client process -----------------------------------------------------------------------
def client_main(url: str, token: str, clients: int, seconds: float, tag: str) -> dict[str, Any]:
    import requests

    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    problems: list[str] = []
    created = Counter[str]()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def record(kind: str, status: int, elapsed: float, problem: str = "") -> None:
        with lock:
            latencies.append(elapsed)
            statuses[f"{kind} {status}"] += 1
            if problem and len(problems) < 50:
                problems.append(problem)

    def worker(number: int) -> None:
        rng = random.Random(f"{tag}-{number}")
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        sent: list[dict[str, Any]] = []
        task_ids: list[int] = []
        serial = 0
        while time.monotonic() < deadline:
            roll = rng.random()
            started = time.perf_counter()
            if roll < 0.4 or not sent:
                serial += 1
                users = [
                    {
                        "employeeNumber": f"L{tag}{number:02d}{serial:05d}{i}",
                        "employeeName": rng.choice(NAMES),
                        "departmentCode": "120000",
                        "phoneNumber": "13800138000",
                        "country": "cn",
                    }
                    for i in range(rng.randint(1, 2))
                ]
                body = {
                    "originSystem": "oa",
                    "businessKey": f"load-{tag}-{number}-{serial}",
                    "accountType": "personal",
                    "employeeType": "W",
                    "systemList": ["idaas", "welink", "email"],
                    "userList": users,
                }
                response = session.post(url + CREATE, json=body, timeout=60)
                elapsed = time.perf_counter() - started
                problem = ""
                if response.status_code == 201:
                    answer = response.json()
                    sent.append(body)
                    task_ids.extend(task["id"] for task in answer["tasks"])
                    with lock:
                        created["tasks"] += answer["created_tasks"]
                else:
                    problem = f"new request answered {response.status_code}: {response.text[:200]}"
                record("new", response.status_code, elapsed, problem)
            elif roll < 0.7:
                body = rng.choice(sent)
                response = session.post(url + CREATE, json=body, timeout=60)
                elapsed = time.perf_counter() - started
                ok = response.status_code == 200 and response.json().get("replayed") is True
                problem = "" if ok else f"replay answered {response.status_code}: {response.text[:200]}"
                if not ok:
                    with lock:
                        created["unrecognised_replays"] += 1
                record("replay", response.status_code, elapsed, problem)
            else:
                choice = rng.random()
                if choice < 0.4 and task_ids:
                    path = f"/account-creation/{rng.choice(task_ids)}/"
                elif choice < 0.7:
                    path = "/account-creation/?status=pending&account_type=idaas"
                else:
                    path = "/account-creation/task_stats/"
                response = session.get(url + path, timeout=60)
                elapsed = time.perf_counter() - started
                problem = "" if response.status_code == 200 else f"GET {path} answered {response.status_code}"
                record("read", response.status_code, elapsed, problem)

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    latencies.sort()

    def quantile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0

    return {
        "requests": len(latencies),
        "seconds": round(wall, 1),
        "rps": round(len(latencies) / wall, 1),
        "p50_ms": round(quantile(0.50), 1),
        "p99_ms": round(quantile(0.99), 1),
        "max_ms": round(latencies[-1] * 1000, 1) if latencies else 0.0,
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(n for key, n in statuses.items() if key.split()[1].startswith("5")),
        "unrecognised_replays": created["unrecognised_replays"],
        "tasks_created": created["tasks"],
        "problems": problems,
    }


# --- the orchestrating process ----------------------------------------------------------------
def run_load(*, clients: int, seconds: float, workers: int, threads: int) -> dict[str, Any]:
    from tests.chaos import infra

    out_dir = Path(tempfile.mkdtemp(prefix="accountsync-load-"))
    with infra.fresh_database("accountsync_load") as db:
        env = infra.product_env(
            db, db_port=infra.PG_PORT, log_dir=out_dir, API_THROTTLE_RATE="100000000/min", LOG_LEVEL="WARNING"
        )
        token = infra.prepare_database(env, client="load-oa")
        api, url = infra.start_gunicorn(env, out_dir, workers=workers, threads=threads)
        try:
            tag = f"{random.SystemRandom().randrange(1000):03d}"
            done = subprocess.run(
                [sys.executable, __file__, "--client", url, token, str(clients), str(seconds), tag],
                capture_output=True, text=True, timeout=seconds + 300, check=False,
            )
            if done.returncode != 0:
                raise SystemExit(f"the client process failed: {done.stderr[-3000:]}")
            result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            api.stop()
        with infra.connect(db) as conn:
            result["duplicate_tasks"] = conn.execute(
                "SELECT count(*) FROM (SELECT employee_number, account_type FROM account_creation_accountcreationtask "
                "GROUP BY employee_number, account_type HAVING count(*) > 1) d"
            ).fetchone()[0]
            result["tasks_in_database"] = conn.execute(
                "SELECT count(*) FROM account_creation_accountcreationtask"
            ).fetchone()[0]
    result.update(clients=clients, workers=workers, threads=threads, cpus=os.cpu_count())
    return result


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        url, token, clients, seconds, tag = sys.argv[2:7]
        print(json.dumps(client_main(url, token, int(clients), float(seconds), tag)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=2, help="threads per gunicorn worker")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = parser.parse_args()
    result = run_load(clients=args.clients, seconds=args.seconds, workers=args.workers, threads=args.threads)
    failed = (
        result["server_errors"]
        or result["duplicate_tasks"]
        or result["unrecognised_replays"]
        or result["tasks_in_database"] != result["tasks_created"]
    )
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['clients']} clients, {result['seconds']} s, gunicorn {result['workers']}x{result['threads']} on "
            f"{result['cpus']} CPUs: {result['requests']} requests, {result['rps']} req/s, p50 {result['p50_ms']} ms, "
            f"p99 {result['p99_ms']} ms, max {result['max_ms']} ms"
        )
        print(f"statuses: {result['statuses']}")
        print(
            f"5xx: {result['server_errors']}, unrecognised replays: {result['unrecognised_replays']}, duplicate "
            f"tasks: {result['duplicate_tasks']}, tasks created {result['tasks_created']} / in the database "
            f"{result['tasks_in_database']}"
        )
        for problem in result["problems"][:10]:
            print(f"  {problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
