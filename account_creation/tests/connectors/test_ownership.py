""""Already exists" is adopted only when the existing account is this person's.

Where an answer says whose account it is (an employee number in an IDaaS duplicate answer,
a WeLink user's corpUserId / employeeId, an Exchange fail item naming its account or owner),
a different employee fails the task permanently and names the collision; where it cannot
say, adoption is as before.
"""

from __future__ import annotations

import pytest

from account_creation.connectors.exchange import ExchangeConnector
from account_creation.connectors.idaas import IdaasConnector
from account_creation.connectors.ownership import OwnershipConflict
from account_creation.connectors.welink import WelinkConnector
from account_creation.tests.connectors.conftest import (
    EXCHANGE_URL,
    IDAAS_CREATE_URL,
    IDAAS_TOKEN_URL,
    WELINK_CREATE_URL,
    WELINK_DETAIL_URL,
    WELINK_TOKEN_URL,
    calls_to,
    make_provisioning_request,
)

ALREADY = ("This task does not support recipients of this type. The specified recipient zP000126 is of "
           "type UserMailbox.")

# A retry looks the user up before creating; the first attempt creates at once (tested apart).
RETRY = 2


def idaas_token(http):
    http.post(IDAAS_TOKEN_URL, json={"code": "201", "access_token": "idaas-token-own-1", "expires_in": 7200})


def welink_token(http):
    http.post(WELINK_TOKEN_URL, json={"code": "0", "access_token": "welink-token-own-1", "expires_in": 7200})


# --- IDaaS --------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "body"), [
    (409, {"code": "409", "message": "user already exists", "data": {"employeeNumber": "P000999"}}),
    (409, {"code": "409", "message": "user already exists", "userInfo": {"employeeNumber": "P000999",
                                                                         "userName": "zP000126"}}),
    (409, {"code": "409", "message": "userName zP000126 already exists (employee P000999)"}),
    (400, {"code": "400", "message": "userName zP000126 is already used by employee P000999"}),
])
def test_idaas_user_of_another_employee_is_not_adopted(http, status, body):
    idaas_token(http)
    http.post(IDAAS_CREATE_URL, status=status, json=body)
    with pytest.raises(OwnershipConflict) as error:
        IdaasConnector().create(make_provisioning_request("idaas"))
    message = error.value.message
    assert message.startswith("userName zP000126 already belongs to employee P000999 in IDaaS")
    assert "not adopted" in message
    assert "correct it in the OA system" in message  # what to do; the engine adds "retry the task"
    assert error.value.retryable is False
    assert error.value.details["collision"] == {"system": "IDaaS", "account": "zP000126", "owner": "P000999"}


@pytest.mark.parametrize("body", [
    {"code": "409", "message": "user already exists"},  # cannot say whose: adopted as before
    {"code": "409", "message": "exists", "data": {"employeeNumber": "p000126"}},  # the person's own
])
def test_idaas_duplicate_of_the_same_person_or_unknown_owner_is_adopted(http, body):
    idaas_token(http)
    http.post(IDAAS_CREATE_URL, status=409, json=body)
    assert IdaasConnector().create(make_provisioning_request("idaas")).adopted is True


# --- WeLink -------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [
    {"userId": "lisi@corp", "corpUserId": "P000999"},
    {"userId": "lisi@corp", "corpUserId": "P000126", "employeeId": "P000999"},
])
def test_welink_user_of_another_employee_is_not_adopted(http, data):
    welink_token(http)
    http.post(WELINK_DETAIL_URL, json={"code": "0", "data": data})
    with pytest.raises(OwnershipConflict, match="WeLink user lisi@corp already belongs to employee P000999"):
        WelinkConnector().create(make_provisioning_request("welink", attempt=RETRY))
    assert calls_to(http, WELINK_CREATE_URL) == []


def test_welink_conflict_found_after_a_refused_create_stays_permanent(http):
    welink_token(http)
    http.post(WELINK_DETAIL_URL, json={"code": "47012", "message": "no data"})
    http.post(WELINK_DETAIL_URL, json={"code": "0", "data": {"userId": "lisi@corp", "corpUserId": "P000999"}})
    http.post(WELINK_CREATE_URL, json={"code": "47004", "message": "user already exists"})
    with pytest.raises(OwnershipConflict, match="P000999"):
        WelinkConnector().create(make_provisioning_request("welink", attempt=RETRY))


def test_welink_user_of_the_same_person_is_adopted(http):
    welink_token(http)
    http.post(WELINK_DETAIL_URL, json={"code": 0, "data": {"userId": "zs@corp", "corpUserId": "P000126",
                                                           "employeeId": "P000126"}})
    result = WelinkConnector().create(make_provisioning_request("welink", attempt=RETRY))
    assert (result.account_id, result.adopted) == ("zs@corp", True)


# --- Exchange -----------------------------------------------------------------------------


@pytest.mark.parametrize(("item", "expected"), [
    ({"SAMAccountName": "zP000999", "Error": ALREADY}, "mailbox zP000999 is another person's account in Exchange"),
    ({"SAMAccountName": "zP000126", "EmployeeNumber": "P000999", "Error": ALREADY},
     "mailbox zP000126 already belongs to employee P000999 in Exchange"),
])
def test_exchange_mailbox_of_another_account_is_not_adopted(http, item, expected):
    http.post(EXCHANGE_URL, json={"jsonValue": {"success": [], "fail": [item]}})
    with pytest.raises(OwnershipConflict) as error:
        ExchangeConnector().create(make_provisioning_request("email"))
    assert error.value.message.startswith(expected)


@pytest.mark.parametrize("item", [ALREADY, {"SAMAccountName": "ZP000126", "EmployeeNumber": "P000126",
                                            "Error": ALREADY}])
def test_exchange_mailbox_of_the_same_account_or_a_text_item_is_adopted(http, item):
    http.post(EXCHANGE_URL, json={"jsonValue": {"success": [], "fail": [item]}})
    assert ExchangeConnector().create(make_provisioning_request("email")).adopted is True


@pytest.mark.parametrize("body", ["[]", '"exists"', "not json"])
def test_idaas_409_whose_body_is_not_an_object_is_adopted_as_before(http, body):
    idaas_token(http)
    http.post(IDAAS_CREATE_URL, status=409, body=body)
    assert IdaasConnector().create(make_provisioning_request("idaas")).adopted is True
