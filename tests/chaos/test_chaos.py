"""Chaos, CI size: a few rounds of faults, SIGKILLed runners and a database outage per round.

The long version runs by hand: ``python tests/chaos/run_chaos.py --rounds 50``. Set
CHAOS_SEED to replay a run (each run prints its seed).
"""

from __future__ import annotations

import os

import pytest

from tests.chaos.harness import ChaosConfig, run_chaos

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]


def test_nothing_is_lost_duplicated_or_leaked_under_chaos(capsys):
    seed = int(os.environ["CHAOS_SEED"]) if os.environ.get("CHAOS_SEED") else None
    lines: list[str] = []
    report = run_chaos(ChaosConfig(rounds=3, seed=seed, people=10, storm_seconds=10, out=lines.append))
    with capsys.disabled():
        print("\n" + "\n".join(lines) + "\n" + report.summary())
    assert report.violations == [], f"seed {report.seed}: " + "\n".join(report.violations)
    assert report.secret_findings == [], f"seed {report.seed}: " + "\n".join(report.secret_findings)
    assert report.rounds == 3
    assert report.kills > 0
    assert report.db_outages == 3
    assert report.api_503_during_outage == 3
    assert sum(report.faults.values()) > 0
