from __future__ import annotations

import time

import pytest

from sandbox.tests.client import SandboxClient, idaas_user


def _with_ad_account(sandbox: SandboxClient, number: str = "P000126") -> str:
    assert sandbox.idaas_create(idaas_user(number)).status_code == 201
    return f"z{number}"


def test_enable_mailbox_succeeds_for_an_ad_account(sandbox: SandboxClient):
    sam = _with_ad_account(sandbox)

    response = sandbox.enable_mailbox(sam, "zhangsan")

    assert response.status_code == 200
    result = response.json()["jsonValue"]
    assert result["fail"] == []
    assert result["success"] == [
        {"SAMAccountName": sam, "Alias": "zhangsan", "PrimarySmtpAddress": "zhangsan@corp.example.com"}
    ]
    [mailbox] = sandbox.state()["accounts"]["email"]
    assert mailbox["SAMAccountName"] == sam
    assert mailbox["create_calls"] == 1


def test_wrong_token_gets_401(sandbox: SandboxClient):
    sam = _with_ad_account(sandbox)

    assert sandbox.enable_mailbox(sam, "zhangsan", token="wrong").status_code == 401
    assert sandbox.state()["accounts"]["email"] == []


def test_unknown_sam_is_not_found_on_the_domain_controller(sandbox: SandboxClient):
    result = sandbox.enable_mailbox("zP404404", "nobody").json()["jsonValue"]

    assert result["success"] == []
    assert result["fail"] == [
        "The operation couldn't be performed because object 'zP404404' couldn't be found on 'dc01.sandbox.local'."
    ]


def test_already_enabled_is_reported_as_user_mailbox(sandbox: SandboxClient):
    sam = _with_ad_account(sandbox)
    sandbox.enable_mailbox(sam, "zhangsan")

    result = sandbox.enable_mailbox(sam, "zhangsan").json()["jsonValue"]

    assert result["success"] == []
    [failure] = result["fail"]
    assert f"The specified recipient {sam} is of type UserMailbox" in failure
    state = sandbox.state()
    assert state["accounts"]["email"][0]["create_calls"] == 2
    assert state["totals"]["duplicates_refused"]["email"] == 1


@pytest.mark.parametrize("alias", ["zhang san", ".zhangsan", "zhang..san", "张三", "a" * 65, ""])
def test_invalid_alias_fails_permanently(sandbox: SandboxClient, alias: str):
    sam = _with_ad_account(sandbox)

    [failure] = sandbox.enable_mailbox(sam, alias).json()["jsonValue"]["fail"]

    assert "Alias" in failure
    assert "couldn't be found" not in failure
    assert sandbox.state()["accounts"]["email"] == []


def test_alias_taken_by_another_mailbox_fails(sandbox: SandboxClient):
    first, second = _with_ad_account(sandbox, "P000126"), _with_ad_account(sandbox, "P000127")
    sandbox.enable_mailbox(first, "zhangsan")

    [failure] = sandbox.enable_mailbox(second, "zhangsan").json()["jsonValue"]["fail"]

    assert "is already being used" in failure


def test_replication_lag_hides_a_new_ad_account_until_it_passes(sandbox: SandboxClient):
    sandbox.faults(replication_lag_ms=400)
    sam = _with_ad_account(sandbox)

    early = sandbox.enable_mailbox(sam, "zhangsan").json()["jsonValue"]
    assert early["success"] == []
    assert "couldn't be found on 'dc01.sandbox.local'" in early["fail"][0]
    assert sandbox.state()["ad_accounts"][0]["visible_to_exchange"] is False

    time.sleep(0.45)
    late = sandbox.enable_mailbox(sam, "zhangsan").json()["jsonValue"]
    assert late["fail"] == []
    assert late["success"][0]["SAMAccountName"] == sam
    assert sandbox.state()["accounts"]["email"][0]["create_calls"] == 2


@pytest.mark.parametrize("body", [{}, {"EnableMailboxList": []}, {"EnableMailboxList": ["zP1"]}])
def test_malformed_body_gets_400(sandbox: SandboxClient, body: dict):
    response = sandbox.post(
        "/api/Exchange/EnableMailbox", body, headers={"Authorization": sandbox.credentials.email_token}
    )

    assert response.status_code == 400
