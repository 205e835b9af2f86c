from __future__ import annotations

import time

import pytest
import requests

from sandbox.tests.client import SandboxClient, idaas_user, welink_user


# --- tokens --------------------------------------------------------------------------------
def test_tokens_expire_after_token_ttl(sandbox: SandboxClient):
    sandbox.faults(token_ttl_s=0.3)
    ticket = sandbox.welink_ticket().json()
    idaas_token = sandbox.idaas_access_token()
    assert ticket["expires_in"] == 1  # rounded up: clients see whole seconds

    time.sleep(0.35)

    assert sandbox.welink_create(welink_user(), ticket["access_token"]).json() == {
        "code": "47103",
        "message": "token expired",
    }
    assert sandbox.idaas_create(idaas_user(), idaas_token).status_code == 401
    # A fresh token works again.
    assert sandbox.welink_create(welink_user()).json()["code"] == "0"


def test_expire_tokens_invalidates_every_issued_token(sandbox: SandboxClient):
    welink_token, idaas_token = sandbox.welink_access_token(), sandbox.idaas_access_token()

    response = sandbox.post("/_sandbox/expire_tokens")

    assert response.json() == {"expired": 2}
    assert sandbox.welink_detail("P000126", welink_token).json()["code"] == "47103"
    assert sandbox.idaas_create(idaas_user(), idaas_token).status_code == 401
    assert sandbox.state()["totals"]["token_fetches"] == {"idaas": 1, "welink": 1, "email": 0, "all": 2}


# --- rate limit ----------------------------------------------------------------------------
def test_rate_limit_refuses_calls_beyond_the_per_second_budget_per_system(sandbox: SandboxClient):
    idaas_token, welink_token = sandbox.idaas_access_token(), sandbox.welink_access_token()
    sandbox.faults(rate_limit_per_s=3)

    idaas = [sandbox.idaas_create(idaas_user(f"P00010{i}"), idaas_token).status_code for i in range(5)]
    welink = [sandbox.welink_detail("P000126", welink_token).json()["code"] for _ in range(5)]
    email = [sandbox.enable_mailbox("zP000100", "a").status_code for _ in range(5)]

    assert idaas == [201, 201, 201, 429, 429]
    assert welink == ["47012", "47012", "47012", "48503", "48503"]
    assert email == [200, 200, 200, 429, 429]
    assert len(sandbox.state()["accounts"]["idaas"]) == 3
    assert sandbox.state()["totals"]["faults"]["rate_limit"] == 6

    time.sleep(1.05)
    assert sandbox.idaas_create(idaas_user("P000109"), idaas_token).status_code == 201


# --- injected errors and timeouts ----------------------------------------------------------
def _idaas_outcomes(sandbox: SandboxClient, token: str, count: int) -> list[int]:
    return [sandbox.idaas_create(idaas_user(f"P0005{i:02d}"), token).status_code for i in range(count)]


def test_error_rate_answers_5xx_without_creating_and_is_reproducible_with_a_seed(sandbox: SandboxClient):
    token = sandbox.idaas_access_token()
    sandbox.faults(error_rate=0.5, seed=7)
    first = _idaas_outcomes(sandbox, token, 20)
    created = sum(status == 201 for status in first)

    assert set(first) <= {201, 500, 503}
    assert 0 < created < 20
    state = sandbox.state()
    assert len(state["accounts"]["idaas"]) == created
    assert state["totals"]["faults"]["error"] == 20 - created

    sandbox.post("/_sandbox/reset")
    token = sandbox.idaas_access_token()
    sandbox.faults(error_rate=0.5, seed=7)
    assert _idaas_outcomes(sandbox, token, 20) == first


def test_error_rate_does_not_touch_token_fetches(sandbox: SandboxClient):
    sandbox.faults(error_rate=1.0)

    assert sandbox.idaas_token().status_code == 201
    assert sandbox.welink_ticket().json()["code"] == "0"
    body = sandbox.welink_create(welink_user())
    assert body.status_code in (500, 503)


def test_timeout_rate_creates_the_account_but_answers_too_late(sandbox: SandboxClient):
    token = sandbox.welink_access_token()
    sandbox.faults(timeout_rate=1.0, timeout_hold_ms=500, seed=1)

    with pytest.raises(requests.exceptions.Timeout):
        sandbox.welink_create(welink_user("P000126"), token, timeout=0.2)

    state = sandbox.state()
    assert [a["corpUserId"] for a in state["accounts"]["welink"]] == ["P000126"]
    assert state["totals"]["faults"]["timeout"] == 1
    # A patient client gets the (late) answer.
    sandbox.faults(timeout_rate=1.0, timeout_hold_ms=300)
    started = time.monotonic()
    late = sandbox.welink_create(welink_user("P000127"), token, timeout=2)
    assert late.json()["code"] == "0"
    assert time.monotonic() - started >= 0.3


def test_latency_delays_every_call_of_the_faulted_systems_only(sandbox: SandboxClient):
    sandbox.faults(latency_ms=200, systems=["welink"])

    started = time.monotonic()
    sandbox.welink_ticket()
    welink_elapsed = time.monotonic() - started
    started = time.monotonic()
    sandbox.idaas_token()
    idaas_elapsed = time.monotonic() - started

    assert welink_elapsed >= 0.2
    assert idaas_elapsed < 0.15


def test_systems_restricts_errors_to_the_listed_systems(sandbox: SandboxClient):
    sandbox.faults(error_rate=1.0, systems=["email"])

    assert sandbox.idaas_create(idaas_user()).status_code == 201
    assert sandbox.enable_mailbox("zP000126", "zhangsan").status_code in (500, 503)
    assert sandbox.state()["totals"]["faults_by_system"]["email"]["error"] == 1


# --- the control endpoints -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("payload", "message_part"),
    [
        ({"error_rte": 0.5}, "unknown keys: error_rte"),
        ({"error_rate": "high"}, "error_rate must be a number"),
        ({"error_rate": 1.5}, "between 0 and 1"),
        ({"latency_ms": -1}, "latency_ms must be >= 0"),
        ({"latency_ms": True}, "latency_ms must be a number"),
        ({"rate_limit_per_s": 2.5}, "rate_limit_per_s must be an integer"),
        ({"seed": "abc"}, "seed must be an integer"),
        ({"systems": ["ldap"]}, "systems must be"),
        ({"systems": []}, "systems must be"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_fault_payloads_get_400_and_change_nothing(sandbox: SandboxClient, payload, message_part: str):
    sandbox.faults(latency_ms=5)

    response = sandbox.post("/_sandbox/faults", payload)

    assert response.status_code == 400
    assert message_part in response.json()["message"]
    assert sandbox.state()["faults"]["latency_ms"] == 5


def test_faults_post_replaces_the_whole_set_and_answers_it(sandbox: SandboxClient):
    sandbox.faults(latency_ms=5, error_rate=0.1)

    answer = sandbox.faults(timeout_rate=0.2).json()["faults"]

    assert answer["latency_ms"] == 0
    assert answer["error_rate"] == 0
    assert answer["timeout_rate"] == 0.2
    assert answer["timeout_hold_ms"] == 35000
    assert sandbox.http.get(sandbox.url + "/_sandbox/faults", timeout=5).json() == answer


def test_reset_clears_accounts_counters_tokens_and_faults(sandbox: SandboxClient):
    token = sandbox.idaas_access_token()
    sandbox.idaas_create(idaas_user(), token)
    sandbox.welink_create(welink_user())
    sandbox.faults(error_rate=0.3, seed=1)

    assert sandbox.post("/_sandbox/reset").json() == {"reset": True}

    state = sandbox.state()
    assert state["accounts"] == {"idaas": [], "welink": [], "email": []}
    assert state["ad_accounts"] == []
    assert state["totals"]["create_calls"]["all"] == 0
    assert state["totals"]["token_fetches"]["all"] == 0
    assert state["faults"]["error_rate"] == 0
    assert sandbox.idaas_create(idaas_user(), token).status_code == 401


def test_state_reports_create_calls_also_for_keys_without_an_account(sandbox: SandboxClient):
    sandbox.enable_mailbox("zP000126", "zhangsan")
    sandbox.enable_mailbox("zP000126", "zhangsan")

    state = sandbox.state()

    assert state["accounts"]["email"] == []
    assert state["create_calls_by_key"]["email"] == {"zP000126": 2}
    assert state["totals"]["create_calls"]["email"] == 2
