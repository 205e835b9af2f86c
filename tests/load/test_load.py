"""Load, CI size: bench/load.py with 10 clients for 10 s against gunicorn on PostgreSQL.
The full run (50 clients, 60 s) is by hand: ``python bench/load.py``; see docs/RELIABILITY.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.chaos.infra import postgres_reachable

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]


def test_concurrent_clients_get_no_5xx_no_duplicates_and_every_replay_recognised():
    if settings.DATABASE_VENDOR != "postgresql" or not postgres_reachable():
        pytest.skip("needs PostgreSQL: the load test serves the API with gunicorn on PostgreSQL")
    done = subprocess.run(
        [sys.executable, "bench/load.py", "--clients", "10", "--seconds", "10", "--workers", "2", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps({k: v for k, v in result.items() if k != "problems"}))
    assert result["server_errors"] == 0, result["problems"]
    assert result["unrecognised_replays"] == 0, result["problems"]
    assert result["duplicate_tasks"] == 0
    assert result["tasks_in_database"] == result["tasks_created"]
    assert result["statuses"].get("replay 200", 0) > 0
    assert result["requests"] > 50
    assert done.returncode == 0, done.stderr[-2000:]
