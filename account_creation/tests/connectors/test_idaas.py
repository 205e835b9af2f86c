"""IDaaS connector against the spec table: create, duplicate adoption, token, errors."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from responses import matchers

from account_creation.connectors.base import PermanentError, RetryableError
from account_creation.connectors.idaas import IdaasConnector
from account_creation.tests.connectors.conftest import (
    IDAAS_CREATE_URL,
    IDAAS_TOKEN_URL,
    PHONE,
    calls_to,
    make_provisioning_request,
    sent_json,
)

TOKEN = "idaas-access-token-0001"


def token_ok(http, token=TOKEN, expires_in=7200):
    http.post(IDAAS_TOKEN_URL, json={"code": "201", "access_token": token, "expires_in": expires_in})


@pytest.fixture
def connector():
    return IdaasConnector()


@pytest.mark.parametrize("code", ["201", 201])
def test_success_sends_the_documented_payload_with_the_raw_token(http, connector, code):
    token_ok(http)
    http.post(IDAAS_CREATE_URL, json={"code": code, "message": "ok"}, status=201,
              match=[matchers.header_matcher({"Authorization": TOKEN})])

    result = connector.create(make_provisioning_request())

    assert (result.account_id, result.username, result.email, result.adopted) == (
        "zP000126", "zP000126", "zhangsan@corp.example.com", False)
    token_body = sent_json(calls_to(http, IDAAS_TOKEN_URL)[0])
    assert token_body == {"data": {"type": "token", "attributes": {
        "account": "test-idaas-account", "secret": "idaas-secret-value-9f3b"}}}
    assert sent_json(calls_to(http, IDAAS_CREATE_URL)[0]) == {"userInfo": {
        "employeeNumber": "P000126", "name": "张三", "englishName": "zhangsan", "userName": "zP000126",
        "userType": "employee", "email": "zhangsan@corp.example.com", "mobileCountryCode": "+86",
        "mobile": PHONE, "userExtends": {"workArea": "China", "ou": "OU=Staff,DC=example,DC=com"}}}


def test_account_id_comes_from_the_answer_when_it_has_one(http, connector):
    token_ok(http)
    http.post(IDAAS_CREATE_URL, json={"code": "201", "data": {"userId": "u-9981"}})
    assert connector.create(make_provisioning_request()).account_id == "u-9981"


def test_international_phone_and_country_fill_mobile_fields(http, connector):
    token_ok(http)
    http.post(IDAAS_CREATE_URL, json={"code": "201"})
    connector.create(make_provisioning_request(phone_number="+852 9123 4567", country="hk"))
    user = sent_json(calls_to(http, IDAAS_CREATE_URL)[0])["userInfo"]
    assert (user["mobileCountryCode"], user["mobile"], user["userExtends"]["workArea"]) == (
        "+852", "91234567", "Hong Kong")


def test_token_is_fetched_once_and_reused(http, connector):
    token_ok(http)
    http.post(IDAAS_CREATE_URL, json={"code": "201"})
    connector.create(make_provisioning_request())
    connector.create(make_provisioning_request(employee_number="P000127", username="zP000127"))
    assert len(calls_to(http, IDAAS_TOKEN_URL)) == 1
    assert len(calls_to(http, IDAAS_CREATE_URL)) == 2


def test_http_409_adopts_the_existing_account(http, connector):
    token_ok(http)
    http.post(IDAAS_CREATE_URL, json={"code": "409", "message": "user exists"}, status=409)
    result = connector.create(make_provisioning_request())
    assert result.adopted is True
    assert result.account_id == "zP000126"


def test_http_409_without_json_still_adopts(http, connector):
    token_ok(http)
    http.post(IDAAS_CREATE_URL, body="Conflict", status=409)
    assert connector.create(make_provisioning_request()).adopted is True


@pytest.mark.parametrize("code", ["USER.0029", 409])
def test_configured_duplicate_body_code_adopts(http, connector, settings, code):
    settings.IDAAS_DUPLICATE_CODES = ["409", "USER.0029"]
    token_ok(http)
    http.post(IDAAS_CREATE_URL, json={"code": code, "message": "exists"}, status=400)
    assert connector.create(make_provisioning_request()).adopted is True


def test_expired_token_is_refetched_once_and_the_create_repeated(http, connector):
    http.post(IDAAS_TOKEN_URL, json={"code": "201", "access_token": "idaas-old-token-1", "expires_in": 7200})
    http.post(IDAAS_TOKEN_URL, json={"code": "201", "access_token": "idaas-new-token-2", "expires_in": 7200})
    http.post(IDAAS_CREATE_URL, json={"code": "401", "message": "token expired"}, status=401,
              match=[matchers.header_matcher({"Authorization": "idaas-old-token-1"})])
    http.post(IDAAS_CREATE_URL, json={"code": "201"},
              match=[matchers.header_matcher({"Authorization": "idaas-new-token-2"})])

    assert connector.create(make_provisioning_request()).adopted is False
    assert len(calls_to(http, IDAAS_TOKEN_URL)) == 2
    assert len(calls_to(http, IDAAS_CREATE_URL)) == 2


def test_refreshed_token_also_rejected_stops_after_one_refresh(http, connector):
    token_ok(http)
    http.post(IDAAS_CREATE_URL, json={"code": "401"}, status=401)
    with pytest.raises(RetryableError, match="freshly fetched token"):
        connector.create(make_provisioning_request())
    assert len(calls_to(http, IDAAS_TOKEN_URL)) == 2
    assert len(calls_to(http, IDAAS_CREATE_URL)) == 2


def test_eight_threads_share_one_token_fetch(http, connector):
    def slow_token(_request):
        time.sleep(0.2)
        return 200, {}, '{"code": "201", "access_token": "idaas-shared-token", "expires_in": 7200}'

    http.add_callback("POST", IDAAS_TOKEN_URL, callback=slow_token)
    http.post(IDAAS_CREATE_URL, json={"code": "201"})
    start = threading.Barrier(8)
    results, errors = [], []

    def worker(number: int):
        start.wait()
        try:
            results.append(connector.create(make_provisioning_request(employee_number=f"P{number}")))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 8
    assert len(calls_to(http, IDAAS_TOKEN_URL)) == 1
    assert len(calls_to(http, IDAAS_CREATE_URL)) == 8


@pytest.mark.parametrize("status", [400, 403, 422])
def test_other_4xx_is_permanent_with_the_servers_reason(http, connector, status):
    token_ok(http)
    http.post(IDAAS_CREATE_URL, json={"code": str(status), "message": "ou not found"}, status=status)
    with pytest.raises(PermanentError, match="ou not found") as error:
        connector.create(make_provisioning_request())
    assert error.value.details["http_status"] == status
    assert error.value.details["request"]["userInfo"]["mobile"] == "138****8000"


def test_body_4xx_code_with_http_200_is_permanent(http, connector):
    token_ok(http)
    http.post(IDAAS_CREATE_URL, json={"code": 400, "message": "bad userType"})
    with pytest.raises(PermanentError, match="bad userType"):
        connector.create(make_provisioning_request())


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_429_and_5xx_are_retryable(http, connector, status):
    token_ok(http)
    http.post(IDAAS_CREATE_URL, json={"code": str(status)}, status=status)
    with pytest.raises(RetryableError) as error:
        connector.create(make_provisioning_request())
    assert error.value.details["http_status"] == status


@pytest.mark.parametrize("failure", [requests.ReadTimeout("read timed out"), requests.ConnectTimeout("no route"),
                                     requests.ConnectionError("connection refused")])
def test_timeouts_and_connection_errors_are_retryable(http, connector, failure):
    token_ok(http)
    http.post(IDAAS_CREATE_URL, body=failure)
    with pytest.raises(RetryableError) as error:
        connector.create(make_provisioning_request())
    assert error.value.details["error"] == type(failure).__name__


def test_malformed_success_body_is_retryable_with_a_clear_message(http, connector):
    token_ok(http)
    http.post(IDAAS_CREATE_URL, body="<html>gateway</html>", status=200)
    with pytest.raises(RetryableError, match="not a JSON object"):
        connector.create(make_provisioning_request())


def test_unexpected_success_code_is_retryable(http, connector):
    token_ok(http)
    http.post(IDAAS_CREATE_URL, json={"code": "200", "message": "queued?"})
    with pytest.raises(RetryableError, match="unexpected answer"):
        connector.create(make_provisioning_request())


def test_refused_credentials_are_permanent_and_name_the_settings(http, connector):
    http.post(IDAAS_TOKEN_URL, json={"code": "401", "message": "account or secret wrong"}, status=401)
    with pytest.raises(PermanentError, match="IDAAS_ACCOUNT and IDAAS_SECRET"):
        connector.create(make_provisioning_request())
    assert calls_to(http, IDAAS_CREATE_URL) == []


def test_token_server_error_is_retryable(http, connector):
    http.post(IDAAS_TOKEN_URL, body="busy", status=503)
    with pytest.raises(RetryableError):
        connector.create(make_provisioning_request())


def test_token_answer_with_int_code_is_accepted(http, connector):
    http.post(IDAAS_TOKEN_URL, json={"code": 201, "access_token": TOKEN})
    http.post(IDAAS_CREATE_URL, json={"code": 201})
    assert connector.create(make_provisioning_request()).account_id == "zP000126"


def test_missing_ou_is_retryable_and_names_the_mapping(http, connector):
    with pytest.raises(RetryableError, match="department mapping"):
        connector.create(make_provisioning_request(ou=""))
    assert len(http.calls) == 0
