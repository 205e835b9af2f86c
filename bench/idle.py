"""Idle run: `manage.py process_account_creation_tasks` with nothing to do, start to exit.

    python bench/idle.py [--db sqlite|postgres] [--repeat 7] [--json]

Creates a fresh migrated database, then times whole processes (fork/exec to exit, as cron
sees them) with the production settings module and configured connectors. To show where
the time goes it also times, the same way, an empty interpreter (``python -c pass``) and
``django.setup()`` alone; the difference to the full run is the command's own work
(imports of the engine and connectors, the run row, lease recovery, one claim).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import ROOT, fresh_database, setup_django  # noqa: E402
from throughput import CREDENTIALS  # noqa: E402

DJANGO_SETUP = "import django; django.setup()"


def child_env(database_url: str) -> dict[str, str]:
    unreachable = "http://127.0.0.1:9"  # never called: there is nothing to do
    return {
        **os.environ, **CREDENTIALS,
        "DJANGO_SETTINGS_MODULE": "accountsync.settings", "SECRET_KEY": "bench", "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING", "LOG_DIR": tempfile.mkdtemp(prefix="accountsync-bench-logs-"),
        "ACCOUNTSYNC_ENV_FILE": "/nonexistent", "IDAAS_BASE_URL": unreachable, "WELINK_BASE_URL": unreachable,
        "EMAIL_BASE_URL": unreachable,
    }


def time_process(argv: list[str], env: dict[str, str], repeat: int) -> float:
    """Median wall-clock milliseconds from spawning ``python argv`` to its exit."""
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        timings.append((time.perf_counter() - started) * 1000)
        if done.returncode != 0:
            raise SystemExit(f"{argv} failed:\n{done.stderr[-2000:]}")
    return round(statistics.median(timings), 1)


def measure(database_url: str, repeat: int) -> dict[str, float]:
    env = child_env(database_url)
    command = ["manage.py", "process_account_creation_tasks", "--no-progress"]
    time_process(command, env, 1)  # warm the page cache and .pyc files
    return {
        "idle_run_ms": time_process(command, env, repeat),
        "python_ms": time_process(["-c", "pass"], env, repeat),
        "django_setup_ms": time_process(["-c", DJANGO_SETUP], env, repeat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    database_url = fresh_database(args.db, "accountsync_bench_idle")
    setup_django(database_url)  # migrates and loads the mappings
    result = {"db": args.db, "repeat": args.repeat, **measure(database_url, args.repeat)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"idle run on {args.db}: {result['idle_run_ms']} ms from start to exit (median of {args.repeat}); "
              f"python alone {result['python_ms']} ms, django.setup() {result['django_setup_ms']} ms")


if __name__ == "__main__":
    main()
