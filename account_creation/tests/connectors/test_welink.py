"""WeLink connector against the spec table: look-up first, create, look-up after failure, codes."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from responses import matchers

from account_creation.connectors.base import PermanentError, RetryableError
from account_creation.connectors.http import TokenCache
from account_creation.connectors.welink import WelinkConnector
from account_creation.tests.connectors.conftest import (
    WELINK_CREATE_URL,
    WELINK_DETAIL_URL,
    WELINK_TOKEN_URL,
    calls_to,
    make_provisioning_request,
    sent_json,
)

TOKEN = "welink-access-token-0001"
NOT_FOUND = {"code": "47012", "message": "no data"}
FOUND = {"code": "0", "message": "ok", "data": {"userId": "zhangsan@corp", "corpUserId": "P000126"}}

# A retry looks the user up before creating; the first attempt creates at once (tested apart).
RETRY = 2


def token_ok(http, token=TOKEN):
    http.post(WELINK_TOKEN_URL, json={"code": "0", "message": "ok", "access_token": token, "expires_in": 7200})


@pytest.fixture
def connector():
    return WelinkConnector()


def test_existing_user_found_by_look_up_is_adopted_without_create(http, connector):
    token_ok(http)
    http.post(WELINK_DETAIL_URL, json=FOUND, match=[
        matchers.json_params_matcher({"corpUserId": "P000126"}),
        matchers.header_matcher({"x-wlk-Authorization": TOKEN}),
    ])
    result = connector.create(make_provisioning_request("welink", attempt=RETRY))
    assert (result.account_id, result.adopted) == ("zhangsan@corp", True)
    assert calls_to(http, WELINK_CREATE_URL) == []
    assert sent_json(calls_to(http, WELINK_TOKEN_URL)[0]) == {
        "client_id": "welink-client", "client_secret": "welink-secret-value-7c21"}


@pytest.mark.parametrize(("not_found", "ok"), [("47012", "0"), (47012, 0)])
def test_look_up_then_create_with_the_documented_payload(http, connector, not_found, ok):
    token_ok(http)
    http.post(WELINK_DETAIL_URL, json={"code": not_found, "message": "no data"})
    http.post(WELINK_CREATE_URL, json={"code": ok, "message": "ok", "userId": "zhangsan@corp"},
              match=[matchers.header_matcher({"x-wlk-Authorization": TOKEN})])

    result = connector.create(make_provisioning_request("welink", attempt=RETRY))

    assert (result.account_id, result.username, result.email, result.adopted) == (
        "zhangsan@corp", "zP000126", "zhangsan@corp.example.com", False)
    assert [call.request.url for call in http.calls] == [WELINK_TOKEN_URL, WELINK_DETAIL_URL, WELINK_CREATE_URL]
    assert sent_json(calls_to(http, WELINK_CREATE_URL)[0]) == {
        "corpUserId": "P000126", "employeeId": "P000126", "userNameCn": "张三", "userNameEn": "zhangsan",
        "mobileNumber": "+86-13800138000", "corpDeptCodes": ["WL120000"], "personType": "正式员工",
        "userEmail": "zhangsan@corp.example.com"}


def test_look_up_answer_with_user_fields_at_top_level_counts_as_found(http, connector):
    token_ok(http)
    http.post(WELINK_DETAIL_URL, json={"code": 0, "userId": "zs@corp", "corpUserId": "P000126"})
    assert connector.create(make_provisioning_request("welink", attempt=RETRY)).account_id == "zs@corp"


def test_look_up_answer_ok_without_user_data_counts_as_not_found(http, connector):
    token_ok(http)
    http.post(WELINK_DETAIL_URL, json={"code": "0", "data": {}})
    http.post(WELINK_CREATE_URL, json={"code": "0", "userId": "zs@corp"})
    assert connector.create(make_provisioning_request("welink", attempt=RETRY)).adopted is False


def test_create_timeout_then_look_up_finds_the_user_adopts_it(http, connector):
    token_ok(http)
    http.post(WELINK_DETAIL_URL, json=NOT_FOUND)
    http.post(WELINK_CREATE_URL, body=requests.ReadTimeout("read timed out"))
    http.post(WELINK_DETAIL_URL, json=FOUND)

    result = connector.create(make_provisioning_request("welink", attempt=RETRY))

    assert (result.account_id, result.adopted) == ("zhangsan@corp", True)
    assert len(calls_to(http, WELINK_DETAIL_URL)) == 2
    assert len(calls_to(http, WELINK_CREATE_URL)) == 1


def test_create_timeout_and_user_not_found_is_retryable(http, connector):
    token_ok(http)
    http.post(WELINK_DETAIL_URL, json=NOT_FOUND)
    http.post(WELINK_CREATE_URL, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(RetryableError, match="may have been applied") as error:
        connector.create(make_provisioning_request("welink", attempt=RETRY))
    assert error.value.details["maybe_applied"] is True
    assert len(calls_to(http, WELINK_DETAIL_URL)) == 2


def test_create_timeout_and_failed_look_up_is_retryable(http, connector):
    token_ok(http)
    http.post(WELINK_DETAIL_URL, json=NOT_FOUND)
    http.post(WELINK_CREATE_URL, body=requests.ReadTimeout("read timed out"))
    http.post(WELINK_DETAIL_URL, status=503, body="busy")
    with pytest.raises(RetryableError, match="look-up") as error:
        connector.create(make_provisioning_request("welink", attempt=RETRY))
    assert "lookup_error" in error.value.details


def test_non_zero_create_answer_then_found_by_look_up_is_success(http, connector):
    token_ok(http)
    http.post(WELINK_DETAIL_URL, json=NOT_FOUND)
    http.post(WELINK_CREATE_URL, json={"code": "47999", "message": "user already exists?"})
    http.post(WELINK_DETAIL_URL, json=FOUND)
    assert connector.create(make_provisioning_request("welink", attempt=RETRY)).adopted is True


@pytest.mark.parametrize("code", ["47004", "47008", "47106", 47106])
def test_permanent_codes_after_a_look_up_that_finds_nothing(http, connector, code):
    token_ok(http)
    http.post(WELINK_DETAIL_URL, json=NOT_FOUND)
    http.post(WELINK_CREATE_URL, json={"code": code, "message": "refused"})
    with pytest.raises(PermanentError, match=str(code)) as error:
        connector.create(make_provisioning_request("welink", attempt=RETRY))
    assert error.value.details["code"] == str(code)
    assert error.value.details["request"]["mobileNumber"] == "+86********8000"
    assert len(calls_to(http, WELINK_DETAIL_URL)) == 2


@pytest.mark.parametrize("code", ["48503", "500", "47999"])
def test_rate_limit_and_other_codes_on_create_are_retryable(http, connector, code):
    token_ok(http)
    http.post(WELINK_DETAIL_URL, json=NOT_FOUND)
    http.post(WELINK_CREATE_URL, json={"code": code, "message": "no"})
    with pytest.raises(RetryableError) as error:
        connector.create(make_provisioning_request("welink", attempt=RETRY))
    assert error.value.details["code"] == code


def test_rate_limit_on_look_up_is_retryable_and_nothing_is_created(http, connector):
    token_ok(http)
    http.post(WELINK_DETAIL_URL, json={"code": 48503, "message": "too many"})
    with pytest.raises(RetryableError, match="rate limited"):
        connector.create(make_provisioning_request("welink", attempt=RETRY))
    assert calls_to(http, WELINK_CREATE_URL) == []


def test_http_429_is_retryable(http, connector):
    token_ok(http)
    http.post(WELINK_DETAIL_URL, status=429, body="slow down")
    with pytest.raises(RetryableError, match="429"):
        connector.create(make_provisioning_request("welink", attempt=RETRY))


def test_missing_department_code_is_retryable_and_names_the_mapping(http, connector):
    token_ok(http)
    http.post(WELINK_DETAIL_URL, json=NOT_FOUND)
    with pytest.raises(RetryableError, match="department mapping"):
        connector.create(make_provisioning_request("welink", attempt=RETRY, corp_dept_code=""))
    assert calls_to(http, WELINK_CREATE_URL) == []


def test_expired_token_is_refetched_once(http, connector):
    http.post(WELINK_TOKEN_URL, json={"code": "0", "access_token": "welink-old-token", "expires_in": 7200})
    http.post(WELINK_TOKEN_URL, json={"code": "0", "access_token": "welink-new-token", "expires_in": 7200})
    http.post(WELINK_DETAIL_URL, json={"code": "47103", "message": "token expired"},
              match=[matchers.header_matcher({"x-wlk-Authorization": "welink-old-token"})])
    http.post(WELINK_DETAIL_URL, json=FOUND,
              match=[matchers.header_matcher({"x-wlk-Authorization": "welink-new-token"})])
    assert connector.create(make_provisioning_request("welink", attempt=RETRY)).adopted is True
    assert len(calls_to(http, WELINK_TOKEN_URL)) == 2


def test_token_rejected_again_after_refresh_stops(http, connector):
    token_ok(http)
    http.post(WELINK_DETAIL_URL, json={"code": 47103, "message": "token expired"})
    with pytest.raises(RetryableError, match="right after refetching"):
        connector.create(make_provisioning_request("welink", attempt=RETRY))
    assert len(calls_to(http, WELINK_TOKEN_URL)) == 2
    assert len(calls_to(http, WELINK_DETAIL_URL)) == 2


def test_expired_token_on_create_refreshes_and_creates_once_more(http, connector):
    token_ok(http)
    http.post(WELINK_DETAIL_URL, json=NOT_FOUND)
    http.post(WELINK_CREATE_URL, json={"code": "47103"})
    http.post(WELINK_CREATE_URL, json={"code": "0", "userId": "zs@corp"})
    assert connector.create(make_provisioning_request("welink", attempt=RETRY)).account_id == "zs@corp"
    assert len(calls_to(http, WELINK_CREATE_URL)) == 2
    assert len(calls_to(http, WELINK_TOKEN_URL)) == 2


@pytest.mark.parametrize("code", ["41403", "10007", "41579", "41580", 10007])
def test_credential_errors_are_permanent_and_not_hammered(http, connector, code):
    http.post(WELINK_TOKEN_URL, json={"code": code, "message": "bad client"})
    with pytest.raises(PermanentError, match="WELINK_CLIENT_ID and WELINK_CLIENT_SECRET"):
        connector.create(make_provisioning_request("welink", attempt=RETRY))
    with pytest.raises(PermanentError, match="remembered"):
        connector.create(make_provisioning_request("welink", attempt=RETRY, employee_number="P2"))
    assert len(calls_to(http, WELINK_TOKEN_URL)) == 1
    assert calls_to(http, WELINK_DETAIL_URL) == []


def test_credential_failure_is_forgotten_after_a_minute(http, connector):
    now = [0.0]
    connector.tokens = TokenCache(connector._fetch_token, system="WeLink", clock=lambda: now[0])
    http.post(WELINK_TOKEN_URL, json={"code": "10007", "message": "bad client"})
    token_ok(http)
    http.post(WELINK_DETAIL_URL, json=FOUND)
    with pytest.raises(PermanentError):
        connector.create(make_provisioning_request("welink", attempt=RETRY))
    now[0] += 61
    assert connector.create(make_provisioning_request("welink", attempt=RETRY)).adopted is True


def test_token_endpoint_other_failure_is_retryable(http, connector):
    http.post(WELINK_TOKEN_URL, json={"code": "41500", "message": "fetch failed"})
    with pytest.raises(RetryableError):
        connector.create(make_provisioning_request("welink", attempt=RETRY))


def test_malformed_look_up_body_is_retryable(http, connector):
    token_ok(http)
    http.post(WELINK_DETAIL_URL, body="<html>login</html>")
    with pytest.raises(RetryableError, match="not a JSON object"):
        connector.create(make_provisioning_request("welink", attempt=RETRY))


def test_malformed_create_body_checks_the_look_up_then_retries(http, connector):
    token_ok(http)
    http.post(WELINK_DETAIL_URL, json=NOT_FOUND)
    http.post(WELINK_CREATE_URL, body="oops")
    with pytest.raises(RetryableError, match="not a JSON object"):
        connector.create(make_provisioning_request("welink", attempt=RETRY))
    assert len(calls_to(http, WELINK_DETAIL_URL)) == 2


def test_eight_threads_share_one_ticket(http, connector):
    def slow_ticket(_request):
        time.sleep(0.2)
        return 200, {}, '{"code": "0", "access_token": "welink-shared-token", "expires_in": 7200}'

    http.add_callback("POST", WELINK_TOKEN_URL, callback=slow_ticket)
    http.post(WELINK_DETAIL_URL, json=FOUND)
    start = threading.Barrier(8)
    results = []

    def worker():
        start.wait()
        results.append(connector.create(make_provisioning_request("welink", attempt=RETRY)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert len(calls_to(http, WELINK_TOKEN_URL)) == 1


@pytest.mark.parametrize("code", ["501", 501])
def test_an_api_not_granted_is_about_the_whole_system(http, connector, code):
    token_ok(http)
    http.post(WELINK_DETAIL_URL, json=NOT_FOUND)
    http.post(WELINK_CREATE_URL, json={"code": code, "message": "no permission"})
    with pytest.raises(PermanentError, match="developer console") as error:
        connector.create(make_provisioning_request("welink", attempt=RETRY))
    assert error.value.fault == "credentials"  # the engine quarantines WeLink, not this task
    assert len(calls_to(http, WELINK_DETAIL_URL)) == 1  # no look-up after: nothing was applied


def test_a_first_attempt_creates_without_looking_up_first(http):
    token_ok(http)
    http.post(WELINK_CREATE_URL, json={"code": "0", "userId": "zs@corp"})
    result = WelinkConnector().create(make_provisioning_request("welink", attempt=1))
    assert (result.account_id, result.adopted) == ("zs@corp", False)
    assert calls_to(http, WELINK_DETAIL_URL) == []


def test_a_first_attempt_refused_by_create_still_looks_up_and_adopts(http):
    token_ok(http)
    http.post(WELINK_CREATE_URL, json={"code": "47004", "message": "user already exists"})
    http.post(WELINK_DETAIL_URL, json={"code": "0", "data": {"userId": "zs@corp", "corpUserId": "P000126"}})
    result = WelinkConnector().create(make_provisioning_request("welink", attempt=1))
    assert (result.account_id, result.adopted) == ("zs@corp", True)
