"""Exchange wrapper connector against the spec table."""

from __future__ import annotations

import pytest
import requests
from responses import matchers

from account_creation.connectors.base import PermanentError, RetryableError
from account_creation.connectors.exchange import ExchangeConnector
from account_creation.tests.connectors.conftest import EXCHANGE_URL, calls_to, make_provisioning_request, sent_json

NOT_FOUND = ("The operation couldn't be performed because object 'zP000126' couldn't be found on "
             "'dc01.example.com'.")
ALREADY = ("This task does not support recipients of this type. The specified recipient zP000126 is of "
           "type UserMailbox.")


@pytest.fixture
def connector():
    return ExchangeConnector()


def answer(success=None, fail=None):
    return {"jsonValue": {"success": success or [], "fail": fail or []}}


def test_success_sends_sam_account_name_and_alias_with_the_static_token(http, connector):
    http.post(EXCHANGE_URL, json=answer(success=["zP000126"]),
              match=[matchers.header_matcher({"Authorization": "email-token-value-55aa"})])
    result = connector.create(make_provisioning_request("email"))
    assert (result.account_id, result.username, result.email, result.adopted) == (
        "zhangsan@corp.example.com", "zP000126", "zhangsan@corp.example.com", False)
    assert sent_json(http.calls[0]) == {"EnableMailboxList": [{"SAMAccountName": "zP000126", "Alias": "zhangsan"}]}


@pytest.mark.parametrize("item", [ALREADY, {"SAMAccountName": "zP000126", "Error": ALREADY}])
def test_already_a_user_mailbox_is_adopted(http, connector, item):
    http.post(EXCHANGE_URL, json=answer(fail=[item]))
    assert connector.create(make_provisioning_request("email")).adopted is True


def test_user_not_visible_yet_is_retryable_and_keeps_the_fail_items(http, connector):
    http.post(EXCHANGE_URL, json=answer(fail=[{"SAMAccountName": "zP000126", "Error": NOT_FOUND}]))
    with pytest.raises(RetryableError, match="replication") as error:
        connector.create(make_provisioning_request("email"))
    assert error.value.details["fail"] == [{"SAMAccountName": "zP000126", "Error": NOT_FOUND}]


def test_other_fail_item_is_permanent(http, connector):
    http.post(EXCHANGE_URL, json=answer(fail=["The alias zhangsan is already used by another recipient."]))
    with pytest.raises(PermanentError, match="already used by another recipient") as error:
        connector.create(make_provisioning_request("email"))
    assert error.value.details["request"] == {
        "EnableMailboxList": [{"SAMAccountName": "zP000126", "Alias": "zhangsan"}]}


def test_neither_success_nor_fail_is_an_unknown_state(http, connector):
    http.post(EXCHANGE_URL, json=answer())
    with pytest.raises(RetryableError, match="state is unknown"):
        connector.create(make_provisioning_request("email"))


@pytest.mark.parametrize("body", ["not json", '{"code": "200"}', '{"jsonValue": null}', "[]"])
def test_malformed_answers_are_retryable(http, connector, body):
    http.post(EXCHANGE_URL, body=body)
    with pytest.raises(RetryableError, match="not a JSON object"):
        connector.create(make_provisioning_request("email"))


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_static_token_is_permanent(http, connector, status):
    http.post(EXCHANGE_URL, body="denied", status=status)
    with pytest.raises(PermanentError, match="EMAIL_AUTH_TOKEN"):
        connector.create(make_provisioning_request("email"))


@pytest.mark.parametrize("status", [429, 500, 503])
def test_429_and_5xx_are_retryable(http, connector, status):
    http.post(EXCHANGE_URL, body="busy", status=status)
    with pytest.raises(RetryableError):
        connector.create(make_provisioning_request("email"))
    assert len(calls_to(http, EXCHANGE_URL)) == 1


def test_timeout_is_retryable(http, connector):
    http.post(EXCHANGE_URL, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(RetryableError, match="no answer"):
        connector.create(make_provisioning_request("email"))


def test_a_primary_address_other_than_the_allocated_one_is_reported(http, connector, caplog):
    http.post(EXCHANGE_URL, json=answer(success=[
        {"SAMAccountName": "zP000126", "Alias": "zhangsan", "PrimarySmtpAddress": "zhangsan@other.example.com"}]))
    result = connector.create(make_provisioning_request("email"))
    assert result.account_id == "zhangsan@corp.example.com"
    assert result.extra == {"primary_smtp_address": "zhangsan@other.example.com"}
    assert "address_differs" in caplog.text


def test_the_same_primary_address_adds_nothing(http, connector):
    http.post(EXCHANGE_URL, json=answer(success=[
        {"SAMAccountName": "zP000126", "Alias": "zhangsan", "PrimarySmtpAddress": "ZhangSan@corp.example.com"}]))
    assert connector.create(make_provisioning_request("email")).as_dict() == {
        "account_id": "zhangsan@corp.example.com", "username": "zP000126",
        "email": "zhangsan@corp.example.com", "adopted": False}


def test_a_refusal_message_from_the_wrapper_is_shown(http, connector):
    http.post(EXCHANGE_URL, status=400, json={"Message": "EnableMailboxList must be a non-empty list"})
    with pytest.raises(PermanentError, match="non-empty list"):
        connector.create(make_provisioning_request("email"))
