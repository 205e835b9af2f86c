"""A runner SIGKILLed mid-delivery loses no event; the receiver, deduplicating, sees each once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from account_creation.tests.engine.test_multiprocess import HELPER, _call, _env, _migrate, fresh_database

__all__ = ["fresh_database"]  # the fixture, shared with the engine's process tests

pytestmark = pytest.mark.slow


def test_a_runner_killed_mid_delivery_loses_no_event(fresh_database, sandbox_server):
    oa = sandbox_server.oa
    oa.reset()
    env = _env(fresh_database, CALLBACK_LEASE_SECONDS="2", CALLBACK_TIMEOUT_SECONDS="20",
               CALLBACK_BACKOFF_BASE_SECONDS="0")
    _migrate(env)
    people = 5
    secret = _call(env, "seed_callback", str(people), f"{sandbox_server.url}/_sandbox/oa/callback")
    # A slow OA: the runner is in the middle of its POSTs when it is killed. The receiver still
    # records what it was sent; the runner never learns the answer.
    oa.configure({"secret": secret, "latency_ms": 3000})
    victim = subprocess.Popen(
        [sys.executable, HELPER, "run", "0", "100000", "1"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    # Kill the runner while its first POSTs are inside the receiver's 3 s latency: it has sent
    # them and cannot have their answers yet. (Waiting for an answered delivery instead raced
    # with the runner recording it as delivered.)
    deadline = time.monotonic() + 60
    while not oa.snapshot()["arrivals"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert oa.snapshot()["arrivals"], "no delivery started"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    before = json.loads(_call(env, "callbacks"))
    assert before["events"] == people + 1
    assert before["statuses"].get("delivering", 0) >= 1, before
    time.sleep(3.5)  # in-flight POSTs finish at the receiver; the leases expire
    oa.configure({"latency_ms": 0})
    for _ in range(3):
        _call(env, "run", "0", "100000", "1")
    facts = json.loads(_call(env, "callbacks"))
    assert facts["statuses"] == {"delivered": people + 1}
    assert facts["lost_attempts"] >= 1
    snapshot = oa.snapshot()
    ids = [event["id"] for event in snapshot["events"]]
    # Each event once at the receiver, although some were POSTed twice (same webhook-id).
    assert len(ids) == len(set(ids)) == people + 1
    assert max(snapshot["deliveries"].values()) >= 2
    assert snapshot["rejected_signatures"] == 0
    assert sorted(event["type"] for event in snapshot["events"]) == ["person.completed"] * people + [
        "request.completed"
    ]
