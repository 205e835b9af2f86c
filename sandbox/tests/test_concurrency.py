"""The sandbox serves a thread per request: parallel callers, injected latency included."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from sandbox.tests.client import SandboxClient, idaas_user, welink_user


def _client(sandbox: SandboxClient) -> SandboxClient:
    # requests.Session is not meant to be shared across threads: one client per call.
    return SandboxClient(sandbox.url, sandbox.credentials)


def test_fifty_parallel_creates_of_different_users_all_succeed(sandbox: SandboxClient):
    token = sandbox.idaas_access_token()
    sandbox.faults(latency_ms=200)

    def create(index: int) -> int:
        return _client(sandbox).idaas_create(idaas_user(f"P1{index:05d}"), token).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(create, range(50)))
    elapsed = time.monotonic() - started

    assert statuses == [201] * 50
    assert len(sandbox.state()["accounts"]["idaas"]) == 50
    # 50 x 200 ms in sequence would take 10 s; served in parallel it takes a fraction.
    assert elapsed < 3


def test_twenty_parallel_creates_of_the_same_user_make_exactly_one_account(sandbox: SandboxClient):
    idaas_token, welink_token = sandbox.idaas_access_token(), sandbox.welink_access_token()

    def create_both(_: int) -> tuple[int, str]:
        client = _client(sandbox)
        idaas = client.idaas_create(idaas_user("P000126"), idaas_token).status_code
        welink = client.welink_create(welink_user("P000126"), welink_token).json()["code"]
        return idaas, welink

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(create_both, range(20)))

    assert sorted(r[0] for r in results) == [201] + [409] * 19
    assert sorted(r[1] for r in results) == ["0"] + ["47004"] * 19
    state = sandbox.state()
    assert len(state["accounts"]["idaas"]) == 1
    assert state["accounts"]["idaas"][0]["create_calls"] == 20
    assert len(state["accounts"]["welink"]) == 1
    assert state["totals"]["duplicates_refused"]["idaas"] == 19
    assert state["totals"]["duplicates_refused"]["welink"] == 19
