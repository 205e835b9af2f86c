from __future__ import annotations

import pytest

from sandbox.tests.client import SandboxClient, welink_user


def test_ticket_is_issued_for_the_configured_client(sandbox: SandboxClient):
    body = sandbox.welink_ticket().json()

    assert body["code"] == "0"
    assert body["message"] == "ok"
    assert body["access_token"]
    assert body["expires_in"] == 7200


@pytest.mark.parametrize(
    ("client_id", "client_secret", "code"),
    [("wrong", None, "10007"), (None, "wrong", "10007"), ("", None, "41579"), (None, "", "41580")],
)
def test_bad_client_credentials_get_their_codes(sandbox: SandboxClient, client_id, client_secret, code: str):
    response = sandbox.welink_ticket(client_id, client_secret)

    assert response.status_code == 200
    assert response.json()["code"] == code
    assert "access_token" not in response.json()


def test_create_answers_code_0_with_a_tenant_user_id(sandbox: SandboxClient):
    response = sandbox.welink_create(welink_user("P000126"))

    body = response.json()
    assert body["code"] == "0"
    assert body["message"] == "ok"
    assert body["userId"].endswith("@sandbox-tenant")
    [account] = sandbox.state()["accounts"]["welink"]
    assert account["corpUserId"] == "P000126"
    assert account["create_calls"] == 1


def test_detail_finds_a_created_user_with_an_int_code(sandbox: SandboxClient):
    token = sandbox.welink_access_token()
    user_id = sandbox.welink_create(welink_user("P000126"), token).json()["userId"]

    body = sandbox.welink_detail("P000126", token).json()

    # Real WeLink mixes "0" and 0: the sandbox answers detail with an int on purpose.
    assert body["code"] == 0
    assert body["data"]["userId"] == user_id
    assert body["data"]["corpUserId"] == "P000126"


def test_detail_of_an_unknown_user_is_no_data(sandbox: SandboxClient):
    assert sandbox.welink_detail("P999999").json() == {"code": "47012", "message": "no data"}


def test_duplicate_corp_user_id_is_refused_and_counted(sandbox: SandboxClient):
    token = sandbox.welink_access_token()
    sandbox.welink_create(welink_user("P000126"), token)

    body = sandbox.welink_create(welink_user("P000126"), token).json()

    assert body == {"code": "47004", "message": "user already exists"}
    state = sandbox.state()
    assert len(state["accounts"]["welink"]) == 1
    assert state["accounts"]["welink"][0]["create_calls"] == 2
    assert state["totals"]["duplicates_refused"]["welink"] == 1


@pytest.mark.parametrize(
    ("overrides", "code", "message_part"),
    [
        ({"corpUserId": ""}, "47004", "corpUserId"),
        ({"userNameCn": None}, "47004", "userNameCn"),
        ({"corpDeptCodes": []}, "47004", "corpDeptCodes"),
        ({"corpDeptCodes": "120000"}, "47004", "corpDeptCodes"),
        ({"userEmail": ""}, "47004", "userEmail"),
        ({"mobileNumber": "13800138000"}, "47008", "mobileNumber"),
        ({"userEmail": "zhangsan"}, "47008", "userEmail"),
    ],
)
def test_bad_fields_get_47004_or_47008(sandbox: SandboxClient, overrides: dict, code: str, message_part: str):
    body = sandbox.welink_create(welink_user("P000300", **overrides)).json()

    assert body["code"] == code
    assert message_part in body["message"]
    assert sandbox.state()["accounts"]["welink"] == []


def test_unknown_token_is_reported_expired_and_missing_token_as_format_error(sandbox: SandboxClient):
    assert sandbox.welink_create(welink_user(), token="stale").json()["code"] == "47103"
    assert sandbox.welink_detail("P000126", token="").json()["code"] == "47101"
    assert sandbox.state()["accounts"]["welink"] == []
