"""Engine throughput against the sandbox with injected latency.

    python bench/throughput.py [--db sqlite|postgres] [--people 1000] [--latency-ms 50]
                               [--concurrency 1,4,16,32] [--quick] [--json]

For each concurrency C: a fresh batch of people (3 tasks each) is submitted through the
intake service, the sandbox (its own process) answers every call after LATENCY ms, and one
engine run with C threads and the real connectors drains the queue. Reported: tasks/s,
downstream calls/s (counted by the sandbox), efficiency = achieved calls/s ÷ (C / L), the
ceiling for C threads each waiting L seconds per call, the harder task efficiency = tasks/s ÷
(C / L) (the ceiling counting one call per task: a look-up before a create costs a second
call) and the runner's CPU time per task (user + sys of this process during the run ÷ tasks;
start-up and seeding excluded; the sandbox is its own process). Every sandbox request pays
the latency: token fetches, look-ups and creates alike.

    python bench/throughput.py --rate-limit 20 [--configure-limit] [--people 300]

measures the rate-limit targets instead: WeLink (only) limited by the sandbox to R calls/s
(its own one-second window), with ACCOUNT_CREATION_RATE_LIMIT_WELINK=R configured or not;
runs repeat until every task completed. Reported: WeLink calls served per second ÷ R and
the share of WeLink calls refused.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import ROOT, fresh_database  # noqa: E402

CREDENTIALS = {
    "IDAAS_ACCOUNT": "bench-idaas",
    "IDAAS_SECRET": "bench-idaas-secret",
    "IDAAS_ENTERPRISE_ID": "bench",
    "WELINK_CLIENT_ID": "bench-welink",
    "WELINK_CLIENT_SECRET": "bench-welink-secret",
    "EMAIL_AUTH_TOKEN": "bench-email-token",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sandbox_call(url: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method="POST" if data is not None else "GET")  # noqa: S310
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - local sandbox
        return json.loads(answer.read())


def start_sandbox(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**env, "SANDBOX_ENABLED": "true"}  # the sandbox app is installed only on request
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_sandbox", "--port", str(port)], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            sandbox_call(url, "/_sandbox/state")
            return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the sandbox did not start")


def downstream_calls(url: str) -> int:
    totals = sandbox_call(url, "/_sandbox/state")["totals"]
    return int(totals["requests"]["all"]) + int(totals["token_fetches"]["all"])


def seed(people: int, tag: str) -> int:
    from account_creation.services.intake import request_create_accounts

    envelope = {"originSystem": "bench", "businessKey": tag, "accountType": "personal", "employeeType": "W",
                "systemList": ["idaas", "welink", "email"]}
    surnames = "张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗"
    given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
    users = [
        (i, {"employeeNumber": f"T{tag[-6:]}{i:05d}", "employeeName": surnames[i % 20] + given[(i // 20) % 20],
             "departmentCode": "120000", "phoneNumber": "13800138000", "partnerCompany": "", "country": "cn"})
        for i in range(people)
    ]
    request_create_accounts(envelope=envelope, users=users, rejected=[], fingerprint=tag)
    return people * 3


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def figures(concurrency: int, tasks: int, calls: int, elapsed: float, latency_ms: int,
            cpu: float | None = None) -> dict[str, float]:
    """Rates of one run and its efficiency against the ceiling of C threads waiting L each."""
    ceiling = concurrency / (latency_ms / 1000)
    extra = {"cpu_ms_per_task": round(cpu * 1000 / tasks, 2)} if cpu is not None else {}
    return {
        **extra,
        "task_efficiency": round(tasks / elapsed / ceiling, 3),
        "concurrency": concurrency,
        "tasks": tasks,
        "seconds": round(elapsed, 2),
        "tasks_per_s": round(tasks / elapsed, 1),
        "calls": calls,
        "calls_per_s": round(calls / elapsed, 1),
        "ceiling_calls_per_s": round(ceiling, 1),
        "efficiency": round(calls / elapsed / ceiling, 3),
    }


def measure(concurrency: int, people: int, sandbox_url: str, latency_ms: int) -> dict[str, float]:
    from account_creation.connectors import reset_connectors
    from account_creation.naming import english_name
    from account_creation.services.engine import AccountCreationService

    tag = f"tp{concurrency}-{time.monotonic_ns() % 10**9}"
    tasks = seed(people, tag)
    reset_connectors()  # fresh sessions and tokens, pools sized for C
    english_name("张三")  # start-up, not per task: pypinyin loads its dictionaries at first use (~0.3 s CPU)
    before = downstream_calls(sandbox_url)
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    summary = AccountCreationService(max_tasks=tasks, concurrency=concurrency, record_run=False).run()
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds() - cpu_before
    after = downstream_calls(sandbox_url)
    completed = summary.total("completed")
    if completed != tasks:
        raise SystemExit(f"C={concurrency}: only {completed} of {tasks} tasks completed: {dict(summary.per_type)}")
    return figures(concurrency, tasks, after - before, elapsed, latency_ms, cpu)


def measure_rate_limit(concurrency: int, people: int, sandbox_url: str, limit: int) -> dict[str, float]:
    """WeLink limited to ``limit`` calls/s by the sandbox: served rate ÷ limit, share refused."""
    from account_creation.connectors import reset_connectors
    from account_creation.models import AccountCreationTask
    from account_creation.services.engine import AccountCreationService

    tag = f"rl{concurrency}-{time.monotonic_ns() % 10**9}"
    tasks = seed(people, tag)
    reset_connectors()

    def welink() -> tuple[int, int]:
        totals = sandbox_call(sandbox_url, "/_sandbox/state")["totals"]
        return int(totals["requests"]["welink"]), int(totals["faults_by_system"]["welink"]["rate_limit"])

    requests_before, refused_before = welink()
    started = time.perf_counter()
    while AccountCreationTask.objects.filter(business_key=tag).exclude(status="completed").exists():
        AccountCreationService(max_tasks=tasks, concurrency=concurrency, record_run=False).run()
        if time.perf_counter() - started > 600:
            raise SystemExit("rate-limit bench did not finish in 10 minutes")
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    requests_after, refused_after = welink()
    calls, refused = requests_after - requests_before, refused_after - refused_before
    served = calls - refused
    # The WeLink window: from its first attempt to its last finish (IDaaS runs first).
    from django.db.models import Max, Min

    from account_creation.models import AccountCreationLog

    window = AccountCreationLog.objects.filter(task__business_key=tag, task__account_type="welink").aggregate(
        first=Min("created_at"), last=Max("finished_at"))
    if window["first"] and window["last"]:
        elapsed = (window["last"] - window["first"]).total_seconds()
    return {"concurrency": concurrency, "tasks": tasks, "seconds": round(elapsed, 2), "limit": limit,
            "welink_calls": calls, "welink_refused": refused, "served_per_s": round(served / elapsed, 2),
            "of_limit": round(served / elapsed / limit, 3), "refused_share": round(refused / max(1, calls), 4)}


def measure_processes(
    concurrency: int, processes: int, people: int, sandbox_url: str, latency_ms: int, env: dict[str, str]
) -> dict[str, float]:
    """C threads split over P runner processes (`process_account_creation_tasks`), one host.

    Timed from the first run's start to the last run's finish (EngineRun rows), so Python's
    start-up of each process is not counted; the claim keeps the processes from ever taking
    the same task.
    """
    from account_creation.models import AccountCreationTask, EngineRun

    tag = f"tpp{concurrency}x{processes}-{time.monotonic_ns() % 10**9}"
    tasks = seed(people, tag)
    runs_before = set(EngineRun.objects.values_list("pk", flat=True))
    before = downstream_calls(sandbox_url)
    children = [
        subprocess.Popen(
            [sys.executable, "manage.py", "process_account_creation_tasks", "--no-progress",
             "--concurrency", str(concurrency // processes), "--max-tasks", str(tasks)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(processes)
    ]
    for child in children:
        _, err = child.communicate(timeout=900)
        if child.returncode != 0:
            raise SystemExit(f"runner failed: {err[-2000:]}")
    after = downstream_calls(sandbox_url)
    completed = AccountCreationTask.objects.filter(business_key=tag, status="completed").count()
    if completed != tasks:
        raise SystemExit(f"C={concurrency}x{processes}: only {completed} of {tasks} tasks completed")
    runs = EngineRun.objects.exclude(pk__in=runs_before)
    first = min(run.started_at for run in runs)
    last = max(run.finished_at for run in runs if run.finished_at)
    elapsed = (last - first).total_seconds()
    return {**figures(concurrency, tasks, after - before, elapsed, latency_ms), "processes": processes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--people", type=int, default=1000, help="people per run at C >= 16 (3 tasks each)")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", default="1,4,16,32")
    parser.add_argument("--quick", action="store_true", help="100 people per run")
    parser.add_argument(
        "--processes", type=int, default=1,
        help="split each C over this many runner processes (several runners on one host)",
    )
    parser.add_argument("--rate-limit", type=int, default=0, help="limit WeLink to R calls/s in the sandbox")
    parser.add_argument("--configure-limit", action="store_true",
                        help="with --rate-limit: set ACCOUNT_CREATION_RATE_LIMIT_WELINK=R too")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.rate_limit and args.configure_limit:
        os.environ["ACCOUNT_CREATION_RATE_LIMIT_WELINK"] = str(args.rate_limit)

    os.environ.update(CREDENTIALS)
    database_url = fresh_database(args.db, "accountsync_bench_throughput")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "accountsync.settings", "SECRET_KEY": "bench",
           "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    sandbox, url = start_sandbox(env)
    try:
        faults: dict = {"latency_ms": args.latency_ms}
        if args.rate_limit:
            faults.update(rate_limit_per_s=args.rate_limit, systems=["welink"])
        sandbox_call(url, "/_sandbox/faults", faults)
        os.environ.update(IDAAS_BASE_URL=url, WELINK_BASE_URL=url, EMAIL_BASE_URL=url,
                          ACCOUNT_CREATION_HTTP_TIMEOUT="30")
        from _setup import setup_django

        setup_django(database_url)
        rows = []
        if args.rate_limit:
            for concurrency in [int(c) for c in args.concurrency.split(",")]:
                row = measure_rate_limit(concurrency, args.people, url, args.rate_limit)
                rows.append(row)
                if not args.json:
                    print(f"C={concurrency:>3} WeLink limit {args.rate_limit}/s "
                          f"({'configured' if args.configure_limit else 'not configured'}): {row['tasks']} tasks in "
                          f"{row['seconds']:.1f} s, served {row['served_per_s']:.1f} calls/s = {row['of_limit']:.0%} "
                          f"of the limit, {row['refused_share']:.1%} of {row['welink_calls']} calls refused",
                          flush=True)
            if args.json:
                print(json.dumps({"db": args.db, "rows": rows}))
            return
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            # Low concurrency is slow by design (C/L calls per second): a smaller batch
            # measures the same ratio without minutes of waiting.
            people = 100 if args.quick else (args.people if concurrency >= 16 else max(100, args.people // 10))
            if args.processes > 1 and concurrency >= args.processes:
                runner_env = {**env, **{k: os.environ[k] for k in ("IDAAS_BASE_URL", "WELINK_BASE_URL",
                                                                 "EMAIL_BASE_URL", "ACCOUNT_CREATION_HTTP_TIMEOUT")}}
                rows.append(measure_processes(concurrency, args.processes, people, url, args.latency_ms, runner_env))
            else:
                rows.append(measure(concurrency, people, url, args.latency_ms))
            if not args.json:
                row = rows[-1]
                print(f"C={row['concurrency']:>3} P={row.get('processes', 1)}  {row['tasks']:>5} tasks in "
                      f"{row['seconds']:>7.2f} s  "
                      f"{row['tasks_per_s']:>7.1f} tasks/s  {row['calls_per_s']:>7.1f} calls/s  "
                      f"(ceiling {row['ceiling_calls_per_s']:.0f})  efficiency {row['efficiency']:.0%}  "
                      f"task efficiency {row['task_efficiency']:.0%}"
                      + (f"  CPU {row['cpu_ms_per_task']:.2f} ms/task" if "cpu_ms_per_task" in row else ""),
                      flush=True)
        if args.json:
            print(json.dumps({"db": args.db, "latency_ms": args.latency_ms, "rows": rows}))
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


if __name__ == "__main__":
    main()
