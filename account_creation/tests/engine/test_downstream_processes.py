"""Downstream health shared by real runner processes on PostgreSQL: one quarantine for all,
one rate limit for all. The runners use the real connectors against the in-process sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings

from account_creation.tests.engine import test_multiprocess
from account_creation.tests.engine.test_multiprocess import HELPER, _call, _env, _migrate

fresh_database = test_multiprocess.fresh_database  # the same fixture: a database of its own

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]


@pytest.fixture(autouse=True)
def _needs_postgresql() -> None:
    if settings.DATABASE_VENDOR != "postgresql":
        pytest.skip("runners sharing state across processes: run with DATABASE_URL=postgres://…")


def _runner_env(database_url: str, sandbox: Any, **extra: str) -> dict[str, str]:
    return _env(
        database_url,
        IDAAS_BASE_URL=sandbox.url, WELINK_BASE_URL=sandbox.url, EMAIL_BASE_URL=sandbox.url,
        ACCOUNT_CREATION_BACKOFF_BASE_SECONDS="0", ACCOUNT_CREATION_HTTP_TIMEOUT="5", **extra,
    )


def _runners(env: dict[str, str], count: int, *args: str) -> list[dict[str, int]]:
    procs = [
        subprocess.Popen([sys.executable, HELPER, "real", *args], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_one_quarantine_for_every_runner_and_one_probe_releases_it(fresh_database, sandbox_server) -> None:
    sandbox_server.world.reset()
    wrong = _runner_env(fresh_database, sandbox_server, WELINK_CLIENT_SECRET="rotated-but-not-updated",
                        ACCOUNT_CREATION_QUARANTINE_PROBE_SECONDS="3600")
    _migrate(wrong)
    people = 40
    _call(wrong, "seed", str(people))
    for _ in range(2):  # two rounds of two concurrent runners
        _runners(wrong, 2, "100000", "4", "60")
    facts = json.loads(_call(wrong, "verify"))
    assert facts["statuses"] == {"completed": people * 2, "pending": people}
    welink = _call(wrong, "systems")
    assert json.loads(welink)["welink"]["state"] == "quarantined"
    # The runners together made a handful of WeLink attempts (those in flight), not one per task.
    assert json.loads(_call(wrong, "attempts", "welink"))["attempts"] <= 8
    assert json.loads(_call(wrong, "attempts", "welink"))["spent"] == 0

    # The secret is fixed and the probe is due: one runner's probe releases WeLink for both.
    fixed = _runner_env(fresh_database, sandbox_server, ACCOUNT_CREATION_QUARANTINE_PROBE_SECONDS="3600")
    _call(fixed, "probe_due", "welink")
    for _ in range(2):
        _runners(fixed, 2, "100000", "4", "60")
    facts = json.loads(_call(fixed, "verify"))
    assert facts["statuses"] == {"completed": people * 3}
    assert json.loads(_call(fixed, "systems"))["welink"]["state"] == "ok"


def test_two_runners_never_exceed_a_configured_rate_limit(fresh_database, sandbox_server) -> None:
    sandbox_server.world.reset()
    limit = 10.0
    env = _runner_env(fresh_database, sandbox_server, ACCOUNT_CREATION_RATE_LIMIT_WELINK=str(limit))
    _migrate(env)
    people = 200
    _call(env, "seed", str(people))
    _runners(env, 2, "100000", "8", "25")
    times = sorted(sandbox_server.world.served_times("welink"))
    assert len(times) >= 150, len(times)  # the limit was the bottleneck, not the runners
    # Every 10 s window: at most 10 % over the limit.
    worst, start = 0, 0
    for end, moment in enumerate(times):
        while times[start] < moment - 10.0:
            start += 1
        worst = max(worst, end - start + 1)
    assert worst <= limit * 10 * 1.1, worst
