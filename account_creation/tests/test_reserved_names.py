"""Reserved and privileged names (RESERVED_ACCOUNT_NAMES) never reach a directory.

Intake rejects the person like any other per-user error; the engine refuses a task that got
in before the deny-list changed, with no downstream call; the allocator never hands out a
reserved local part.
"""

from __future__ import annotations

import json

import pytest

from account_creation.connectors import override_connectors
from account_creation.connectors.fake import FakeConnector
from account_creation.models import AccountCreationRequest, AccountCreationTask, MailboxAddress
from account_creation.reserved import person_reserved_names
from account_creation.services.engine import AccountCreationService
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db

URL = "/account-creation/create_accounts/"


def post(client, body):
    return client.generic("POST", URL, json.dumps(body), content_type="application/json")


@pytest.fixture
def fakes():
    connectors = {system: FakeConnector(system) for system in ("idaas", "welink", "email")}
    with override_connectors(connectors):
        yield connectors


def statuses(number="P000126"):
    return dict(AccountCreationTask.objects.filter(employee_number=number).values_list("account_type", "status"))


# --- intake ------------------------------------------------------------------------------


@pytest.mark.parametrize(("number", "name", "field", "reserved"), [
    ("dministrator", "Anna", "employeeNumber", "administrator"),
    ("DMINISTRATOR", "anna", "employeeNumber", "aDMINISTRATOR"),  # compared ignoring case
    ("rbtgt", "Kate", "employeeNumber", "krbtgt"),
    ("uest", "郭靖", "employeeNumber", "guest"),  # 郭 -> g
    ("P000200", "Postmaster", "employeeName", "postmaster"),
    ("P000201", "Web Master", "employeeName", "webmaster"),
    ("P000202", "阿布色", "employeeName", "abuse"),  # pinyin can spell a reserved word too
])
def test_a_reserved_name_rejects_the_person_with_a_field_error(api_client, departments, number, name, field,
                                                               reserved):
    response = post(api_client, make_request([make_user(), make_user(number, name=name)]))
    assert response.status_code == 207, response.json()
    body = response.json()
    assert body["created_tasks"] == 3
    [error] = body["errors"]
    assert (error["index"], error["employeeNumber"], error["field"]) == (1, number, field)
    assert repr(reserved) in error["message"]
    assert "reserved" in error["message"]
    assert "ask IT to create it by hand" in error["message"]
    hint = "real employee number" if field == "employeeNumber" else "real name"
    assert hint in error["message"]
    assert not AccountCreationTask.objects.filter(employee_number=number).exists()


def test_nobody_accepted_is_a_400_and_writes_nothing(api_client, departments):
    users = [make_user("dministrator", name="Anna"), make_user("P000300", name="Info")]
    response = post(api_client, make_request(users))
    assert response.status_code == 400, response.json()
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(0, "employeeNumber"),
                                                                             (1, "employeeName")]
    assert AccountCreationTask.objects.count() == 0
    assert AccountCreationRequest.objects.count() == 0


def test_both_names_reserved_gives_two_entries(api_client, departments):
    response = post(api_client, make_request([make_user(), make_user("oot", name="Root")]))
    assert response.status_code == 207
    assert {e["field"] for e in response.json()["errors"]} == {"employeeNumber", "employeeName"}


def test_the_deny_list_is_configurable(api_client, departments, settings):
    settings.RESERVED_ACCOUNT_NAMES = ["ZhangSan", " "]
    response = post(api_client, make_request([make_user("P000126", name="张三"), make_user("P000127", name="Admin")]))
    assert response.status_code == 207, response.json()
    [error] = response.json()["errors"]
    assert (error["index"], error["field"]) == (0, "employeeName")
    assert "'zhangsan'" in error["message"]
    # The default list no longer applies: it was replaced.
    assert statuses("P000127") == {"idaas": "pending", "welink": "pending", "email": "pending"}


def test_ordinary_names_are_not_reserved():
    assert person_reserved_names("P000126", "张三") == []
    assert person_reserved_names("dmin2", "Anna") == []  # admin2 is not on the list
    assert person_reserved_names("P000126", "Adminton") == []


# --- the engine: tasks accepted before the deny-list changed -----------------------------


def accept(api_client, users, key="bk-1"):
    response = post(api_client, make_request(users, business_key=key))
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize(("reserved", "expected"), [("zhangsan", "'zhangsan'"), ("ZP000126", "'zP000126'")])
def test_a_task_accepted_before_the_list_changed_fails_with_no_downstream_call(
    api_client, departments, fakes, settings, reserved, expected
):
    accept(api_client, [make_user()])
    settings.RESERVED_ACCOUNT_NAMES = [reserved]
    AccountCreationService(max_tasks=50).run()
    assert statuses() == {"idaas": "failed", "welink": "blocked", "email": "blocked"}
    assert all(fake.calls == [] for fake in fakes.values())
    idaas = AccountCreationTask.objects.get(employee_number="P000126", account_type="idaas")
    assert expected in idaas.last_error
    assert "reserved" in idaas.last_error
    log = idaas.logs.get()
    assert log.outcome == "failed"
    details = dict(log.error_details or {})
    assert details["retryable"] is False
    assert details["reserved_name"].lower() == reserved.lower()
    assert idaas.logs.count() == 1  # permanent: not retried


def test_a_stored_address_that_became_reserved_is_refused(api_client, departments, fakes, settings):
    MailboxAddress.objects.create(employee_number="P000126", local_part="zhangsan", base_local_part="zhangsan",
                                  domain="corp.example.com", address="zhangsan@corp.example.com")
    accept(api_client, [make_user()])
    settings.RESERVED_ACCOUNT_NAMES = ["zhangsan"]
    AccountCreationService(max_tasks=50).run()
    assert statuses()["idaas"] == "failed"
    assert fakes["idaas"].calls == []


def test_the_allocator_skips_a_reserved_suffixed_local_part(api_client, departments, fakes, settings):
    settings.RESERVED_ACCOUNT_NAMES = ["zhangsan2"]
    accept(api_client, [make_user("P000126"), make_user("P000127")])
    AccountCreationService(max_tasks=50).run()
    addresses = dict(MailboxAddress.objects.values_list("employee_number", "local_part"))
    assert sorted(addresses.values()) == ["zhangsan", "zhangsan3"]
    assert {call.email_local_part for call in fakes["email"].calls} == {"zhangsan", "zhangsan3"}


def test_the_allocator_never_allocates_a_reserved_base(api_client, departments, fakes, settings):
    accept(api_client, [make_user("P000126", name="李四")])
    settings.RESERVED_ACCOUNT_NAMES = ["lisi"]
    AccountCreationService(max_tasks=50).run()
    assert not MailboxAddress.objects.exists()
    assert statuses()["idaas"] == "failed"
    assert "'lisi'" in AccountCreationTask.objects.get(account_type="idaas").last_error
