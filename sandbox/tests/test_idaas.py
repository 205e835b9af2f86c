from __future__ import annotations

import pytest

from sandbox.tests.client import ENTERPRISE_ID, SandboxClient, idaas_user


def test_token_is_issued_for_the_configured_credentials(sandbox: SandboxClient):
    response = sandbox.idaas_token()

    assert response.status_code == 201
    body = response.json()
    assert body["code"] == "201"
    assert body["access_token"]
    assert body["expires_in"] == 7200


def test_wrong_credentials_get_401(sandbox: SandboxClient):
    response = sandbox.idaas_token(secret="wrong")

    assert response.status_code == 401
    assert response.json()["code"] == "401"
    assert sandbox.state()["totals"]["token_fetches"]["idaas"] == 0


def test_create_answers_201_with_user_id_and_creates_the_ad_account(sandbox: SandboxClient):
    response = sandbox.idaas_create(idaas_user("P000126"))

    assert response.status_code == 201
    body = response.json()
    assert body["code"] == "201"
    assert body["message"] == "created"
    assert body["data"]["userName"] == "zP000126"
    assert body["data"]["userId"]
    state = sandbox.state()
    [account] = state["accounts"]["idaas"]
    assert account["employeeNumber"] == "P000126"
    assert account["enterpriseId"] == ENTERPRISE_ID
    assert account["create_calls"] == 1
    assert [a["SAMAccountName"] for a in state["ad_accounts"]] == ["zP000126"]


def test_duplicate_employee_number_gets_409_and_is_counted(sandbox: SandboxClient):
    token = sandbox.idaas_access_token()
    sandbox.idaas_create(idaas_user("P000126"), token)

    response = sandbox.idaas_create(idaas_user("P000126"), token)

    assert response.status_code == 409
    assert response.json() == {"code": "409", "message": "user already exists"}
    state = sandbox.state()
    assert len(state["accounts"]["idaas"]) == 1
    assert state["accounts"]["idaas"][0]["create_calls"] == 2
    assert state["totals"]["duplicates_refused"]["idaas"] == 1
    assert state["totals"]["create_calls"]["idaas"] == 2


@pytest.mark.parametrize("token", ["", "not-a-token"])
def test_missing_or_unknown_token_gets_401(sandbox: SandboxClient, token: str):
    response = sandbox.idaas_create(idaas_user(), token)

    assert response.status_code == 401
    assert response.json()["code"] == "401"
    assert sandbox.state()["accounts"]["idaas"] == []


def test_a_welink_token_is_not_an_idaas_token(sandbox: SandboxClient):
    response = sandbox.idaas_create(idaas_user(), sandbox.welink_access_token())

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("overrides", "message_part"),
    [
        ({"userName": "z" + "1" * 20}, "longer than 20"),
        ({"userName": "z P1"}, "sAMAccountName"),
        ({"employeeNumber": ""}, "employeeNumber"),
        ({"email": None}, "email"),
        ({"email": "no-at-sign"}, "not an address"),
        ({"userType": "boss"}, "userType"),
        ({"mobile": "+86-138"}, "mobile"),
        ({"userExtends": {"ou": ""}}, "userExtends.ou"),
        ({"userExtends": {"ou": "OU=外部公司人员，DC=example,DC=com"}}, "full-width comma"),
        ({"userExtends": {"ou": "OU=Staff"}}, "at least one OU= and one DC="),
        ({"userExtends": {"ou": "DC=example,OU=Staff,DC=com"}}, "before DC="),
        ({"userExtends": {"ou": "CN=x,DC=example,DC=com"}}, "only OU= and DC="),
    ],
)
def test_bad_fields_get_400_with_a_message(sandbox: SandboxClient, overrides: dict, message_part: str):
    response = sandbox.idaas_create(idaas_user("P000200", **overrides))

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "400"
    assert message_part in body["message"]
    assert sandbox.state()["accounts"]["idaas"] == []


def test_missing_user_info_gets_400(sandbox: SandboxClient):
    response = sandbox.idaas_create({"user": {}})

    assert response.status_code == 400
    assert "userInfo" in response.json()["message"]


def test_user_name_of_another_employee_is_refused_as_a_bad_field_not_a_duplicate(sandbox: SandboxClient):
    token = sandbox.idaas_access_token()
    sandbox.idaas_create(idaas_user("P000126"), token)

    response = sandbox.idaas_create(idaas_user("P000127", userName="zP000126"), token)

    assert response.status_code == 400
    assert "P000126" in response.json()["message"]


def test_invalid_json_gets_400(sandbox: SandboxClient):
    token = sandbox.idaas_access_token()
    response = sandbox.http.post(
        sandbox.url + f"/api/idaas/idm-openapi/enterprise/{ENTERPRISE_ID}/user/onboarding",
        data=b"{not json",
        headers={"Authorization": token, "Content-Type": "application/json"},
        timeout=5,
    )

    assert response.status_code == 400
    assert response.json()["code"] == "400"


def test_unknown_path_gets_404(sandbox: SandboxClient):
    assert sandbox.post("/api/idaas/nothing-here", {}).status_code == 404
