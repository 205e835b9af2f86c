"""Real concurrent runner processes against a real database (PostgreSQL and SQLite)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[3]
HELPER = str(Path(__file__).with_name("proc_runner.py"))
pytestmark = pytest.mark.slow


def _env(database_url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "accountsync.test_settings"}
    env.update(extra)
    return env


def _call(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    done = subprocess.run(
        [sys.executable, HELPER, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def _migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=180, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture
def fresh_database(tmp_path):
    """A database of its own, migrated by a child process: the vendor of this test run."""
    if settings.DATABASE_VENDOR == "postgresql":
        import psycopg

        base = settings.DATABASES["default"]
        name = f"accountsync_proc_{uuid.uuid4().hex[:8]}"
        admin = psycopg.connect(
            host=base["HOST"] or "127.0.0.1", port=base["PORT"] or 5432, user=base["USER"], dbname="postgres",
            autocommit=True,
        )
        admin.execute(f'CREATE DATABASE "{name}"')
        url = f"postgres://{base['USER']}@{base['HOST'] or '127.0.0.1'}:{base['PORT'] or 5432}/{name}"
        try:
            yield url
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
    else:
        yield f"sqlite:///{tmp_path / 'proc.sqlite3'}"


def test_concurrent_runners_never_run_a_task_twice(fresh_database):
    people = 200 if settings.DATABASE_VENDOR == "postgresql" else 60
    env = _env(fresh_database)
    _migrate(env)
    assert _call(env, "seed", str(people)) == str(people * 3)
    runners = 4 if settings.DATABASE_VENDOR == "postgresql" else 2
    procs = [
        subprocess.Popen(
            [sys.executable, HELPER, "run", "0.002", "100000", "2"], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        for _ in range(runners)
    ]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        assert "database is locked" not in err
    claimed = [json.loads(out.strip().splitlines()[-1])["claimed"] for out, _ in outputs]
    facts = json.loads(_call(env, "verify"))
    assert facts["statuses"] == {"completed": people * 3}
    # Every task ran exactly once: one attempt, one success, whichever runner took it.
    assert facts["max_attempts"] == 1
    assert facts["tasks_with_one_success"] == people * 3
    assert sum(claimed) == people * 3
    assert sum(1 for n in claimed if n > 0) >= 2, f"work was not shared: {claimed}"


def test_a_killed_runner_loses_nothing(fresh_database):
    people = 20
    lease = "2"
    env = _env(fresh_database, ACCOUNT_CREATION_LEASE_SECONDS=lease)
    _migrate(env)
    _call(env, "seed", str(people))
    # A slow runner claims work, then is killed with SIGKILL mid-batch.
    victim = subprocess.Popen(
        [sys.executable, HELPER, "run", "0.5", "100000", "4"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    time.sleep(3.0)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    before = json.loads(_call(env, "verify"))
    assert before["statuses"].get("processing", 0) > 0, before
    time.sleep(float(lease) + 0.5)
    # The next runs recover the expired leases and finish everything.
    for _ in range(3):
        _call(env, "run", "0", "100000", "2")
    facts = json.loads(_call(env, "verify"))
    assert facts["statuses"] == {"completed": people * 3}
    assert facts["outcomes"].get("lost", 0) == before["statuses"]["processing"]
    assert facts["max_succeeded_per_task"] == 1


@pytest.mark.skipif(settings.DATABASE_VENDOR != "postgresql", reason="real row locks of PostgreSQL")
def test_a_cancel_racing_running_engines_never_attempts_a_cancelled_task(fresh_database):
    """Two runner processes work through a request while a third process cancels it."""
    people = 150
    env = _env(fresh_database)
    _migrate(env)
    _call(env, "seed", str(people))
    runners = [
        subprocess.Popen(
            [sys.executable, HELPER, "run", "0.03", "100000", "4"], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]
    # The cancel lands once 30 of 450 tasks are done (about 0.1 s of ~1.7 s of work).
    cancelled = json.loads(_call(env, "cancel", "30"))["cancelled"]
    for proc in runners:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    facts = json.loads(_call(env, "verify"))
    statuses = facts["statuses"]
    # The cancel landed mid-run: some work was done, some withdrawn, nothing left in between.
    assert 0 < cancelled < people * 3, facts
    assert statuses.get("cancelled") == cancelled
    assert statuses.get("completed", 0) + cancelled == people * 3, statuses
    # Nothing cancelled was ever attempted; everything attempted finished with its result.
    assert facts["cancelled_with_attempts"] == 0
    assert facts["outcomes"] == {"succeeded": statuses["completed"]}
