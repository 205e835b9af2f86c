"""Messages follow Accept-Language (DESIGN.md, Contract second part, **Messages**), and every
datetime in them is in TIME_ZONE with its offset."""

from __future__ import annotations

import json
import re

import pytest

from account_creation.models import AccountCreationLog, AccountCreationTask
from account_creation.tests.api.test_integrator_language import PEER_EXAMPLE
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db

URL = "/account-creation/create_accounts/"
CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_PHRASE = re.compile(r"\b[A-Za-z]{2,} [a-z]{2,} [a-z]{2,} [a-z]{2,}\b")


def post(client, body, language=None):
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}
    return client.generic("POST", URL, json.dumps(body), content_type="application/json", **headers)


def assert_chinese(text: str) -> None:
    assert CJK.search(text), f"not Chinese: {text!r}"
    assert not ENGLISH_PHRASE.search(text), f"an English phrase in a Chinese message: {text!r}"


def test_the_spec_example_with_mistakes_answers_every_message_in_chinese(api_client, departments):
    body = json.loads(json.dumps(PEER_EXAMPLE))
    body["employeeType"] = "Z9"
    body["accountType"] = "personal"  # 供应商 would choose the person type itself
    body["systemList"] = ["idaas", "vpn"]
    good = body["userList"][0]
    body["userList"] = [
        {**good, "country": "Narnia"},
        {**good, "employeeNumber": "P000127", "phoneNumber": "call me"},
        {**good, "employeeNumber": "P000128", "employeeName": "张三3"},
        {k: v for k, v in good.items() if k != "departmentCode"} | {"employeeNumber": "P000129"},
        "not a person",
    ]

    response = post(api_client, body, "zh-CN")

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {(e["index"], e["field"]) for e in errors} >= {
        (None, "employeeType"), (None, "systemList[1]"), (0, "country"), (1, "phoneNumber"),
        (2, "employeeName"), (3, "departmentCode"), (4, "userList"),
    }
    for error in errors:
        assert_chinese(error["message"])


@pytest.mark.parametrize("language", ["zh", "zh-CN", "zh-Hans", "zh-hans-CN"])
def test_chinese_is_chosen_by_each_spelling_of_simplified_chinese(api_client, departments, language):
    (error,) = post(api_client, make_request(employeeType="Z9"), language).json()["errors"]
    assert_chinese(error["message"])


@pytest.mark.parametrize("language", [None, "en", "de-DE", "fr"])
def test_english_otherwise(api_client, departments, language):
    (error,) = post(api_client, make_request(employeeType="Z9"), language).json()["errors"]
    assert error["message"].startswith("Unknown employeeType 'Z9'")


def test_a_warning_and_a_replay_answer_in_the_callers_language(api_client, departments):
    first = post(api_client, PEER_EXAMPLE, "zh-CN").json()
    assert_chinese(first["warnings"][0]["message"])
    again = post(api_client, PEER_EXAMPLE, "en").json()
    assert again["replayed"] is True
    assert again["warnings"][0]["message"].startswith("Department 'D001' has no mapping yet")


def test_the_409_says_when_in_time_zone_with_its_offset_in_both_languages(api_client, departments):
    post(api_client, make_request())
    changed = make_request([make_user(employeeName="李四")])

    english = post(api_client, changed, "en")
    chinese = post(api_client, changed, "zh-CN")

    assert english.status_code == chinese.status_code == 409
    assert re.search(r"accepted at \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+08:00", english.json()["detail"])
    assert_chinese(chinese.json()["detail"])
    assert "+08:00" in chinese.json()["detail"]


def test_one_task_row_reads_its_last_error_in_chinese_and_in_english(api_client, departments, settings):
    # A name none of whose characters has a pinyin reading: no account name can be built,
    # a permanent failure of the IDaaS task before any downstream call.
    post(api_client, make_request([make_user(employeeName="龦")]))
    _run_once()
    task = AccountCreationTask.objects.get(account_type="idaas")
    assert task.status == "failed"

    english = api_client.get(f"/account-creation/{task.pk}/", HTTP_ACCEPT_LANGUAGE="en").json()["last_error"]
    chinese = api_client.get(f"/account-creation/{task.pk}/", HTTP_ACCEPT_LANGUAGE="zh-CN").json()["last_error"]

    assert "龦" in english
    assert "Not retried automatically" in english
    assert "retried automatically at" not in english.lower()  # a failed task never says it retries
    assert_chinese(chinese)
    assert "龦" in chinese
    logs = api_client.get(f"/account-creation/{task.pk}/logs/", HTTP_ACCEPT_LANGUAGE="zh-CN").json()["results"]
    assert_chinese(logs[0]["error_message"])
    stored = AccountCreationLog.objects.get(task=task).error_data
    assert stored is not None
    assert stored["code"] == "prepare.username_impossible"


def test_a_retried_tasks_next_attempt_is_in_time_zone_with_its_offset(api_client, departments, settings):
    from account_creation.connectors import override_connectors
    from account_creation.connectors.fake import FakeConnector

    settings.ACCOUNT_CREATION_MAX_RETRIES = 3
    post(api_client, make_request())
    with override_connectors({name: FakeConnector(name, default="retry") for name in ("idaas", "welink", "email")}):
        _run_once()
    task = AccountCreationTask.objects.get(account_type="idaas")
    body = api_client.get(f"/account-creation/{task.pk}/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert re.search(r"Retried automatically at \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+08:00", body["last_error"])
    assert body["next_attempt_at"].endswith("+08:00")
    logs = api_client.get(f"/account-creation/{task.pk}/logs/").json()["results"]
    assert logs[0]["error_details"]["next_attempt_at"].endswith("+08:00")
    assert logs[0]["execution_context"]["lease_until"].endswith("+08:00")


def _run_once() -> None:
    from io import StringIO

    from django.core.management import call_command

    call_command("process_account_creation_tasks", "--max-tasks", "10", stdout=StringIO(), stderr=StringIO())
