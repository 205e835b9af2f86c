"""Issue #15 review: the API's remaining English texts, command output in LANGUAGE_CODE,
Accept-Language as the contract says, zoned CSV times and a gave-up task that promises nothing."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from account_creation.connectors import override_connectors
from account_creation.connectors.base import AccountResult, ProvisioningRequest
from account_creation.messages import action, message
from account_creation.models import AccountCreationTask
from accountsync.errors import Fault, RetryableError
from api_clients.models import ApiKey
from conftest import client_with_key, issue_key, make_request, make_user

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")
ZONED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00")
CREATE = "/account-creation/create_accounts/"


def chinese(text: str) -> bool:
    return bool(CJK.search(text))


def post(client: Any, body: dict[str, Any], **headers: Any) -> Any:
    return client.generic("POST", CREATE, json.dumps(body), content_type="application/json", **headers)


# --- 2. the API's own texts in both languages -------------------------------------------


def test_an_invalid_token_is_said_in_the_callers_language(anon_client: Any) -> None:
    anon_client.credentials(HTTP_AUTHORIZATION="Token not-a-key")

    english = anon_client.get("/account-creation/", HTTP_ACCEPT_LANGUAGE="en")
    zh = anon_client.get("/account-creation/", HTTP_ACCEPT_LANGUAGE="zh-CN")

    assert english.status_code == zh.status_code == 401
    assert english.json()["detail"] == "Invalid token."
    assert zh.json()["detail"] == "令牌无效。"
    anon_client.credentials(HTTP_AUTHORIZATION="Token a b")
    assert chinese(anon_client.get("/account-creation/", HTTP_ACCEPT_LANGUAGE="zh").json()["detail"])


def test_an_expired_token_names_its_time_in_time_zone_in_both_languages(db: Any) -> None:
    key = issue_key("oa-expired", origin_systems=("oa",), scopes=("read",))
    expired_at = timezone.now() - timedelta(minutes=5)
    ApiKey.objects.filter(client__name="oa-expired").update(expiry_date=expired_at)
    client = client_with_key(key)

    english = client.get("/account-creation/", HTTP_ACCEPT_LANGUAGE="en").json()["detail"]
    zh = client.get("/account-creation/", HTTP_ACCEPT_LANGUAGE="zh-CN").json()["detail"]

    moment = timezone.localtime(expired_at).strftime("%Y-%m-%d %H:%M:%S +08:00")
    assert english.startswith(f"The token expired at {moment}.")
    assert moment in zh
    assert "过期" in zh
    assert "create_api_token" in english
    assert "create_api_token" in zh


@pytest.mark.parametrize(
    "path", ["/account-creation/999999/", "/account-creation/999999/logs/", "/department-mappings/999999/"]
)
def test_a_missing_object_answers_the_products_404_without_class_names(api_client: Any, path: str) -> None:
    english = api_client.get(path, HTTP_ACCEPT_LANGUAGE="en")
    zh = api_client.get(path, HTTP_ACCEPT_LANGUAGE="zh-CN")

    assert english.status_code == zh.status_code == 404
    assert english.json()["detail"].startswith("Not found: nothing with this id is visible to this API client.")
    assert chinese(zh.json()["detail"])
    assert "未找到" in zh.json()["detail"]
    for body in (english.content, zh.content):
        assert b"matches the given query" not in body
        assert b"AccountCreationTask" not in body
        assert b"DepartmentMapping" not in body


def test_another_clients_task_answers_the_same_404(api_client: Any, departments: None) -> None:
    created = post(api_client, make_request(originSystem="hr")).json()
    task_id = created["tasks"][0]["id"]
    oa = client_with_key(issue_key("oa-only", origin_systems=("oa",), scopes=("read",)))

    answer = oa.get(f"/account-creation/{task_id}/", HTTP_ACCEPT_LANGUAGE="zh-CN")

    assert answer.status_code == 404
    assert "未找到" in answer.json()["detail"]


def test_department_mapping_texts_are_translated(api_client: Any) -> None:
    body = {"idata_departmentcode": 12345, "idaas_departmentcode": "X1", "ou": "OU=Sales,DC=example,DC=com"}
    wrong_type = api_client.post("/department-mappings/", body, format="json", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert wrong_type.status_code == 400
    assert wrong_type.json()["idata_departmentcode"] == ["必须是字符串。"]

    control = api_client.get("/department-mappings/", {"search": "a\x01"}, HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert control.status_code == 400
    assert chinese(control.json()["search"][0])
    assert api_client.get("/department-mappings/", {"search": "a\x01"}).json()["search"] == [
        "Give printable text of at most 200 characters."
    ]

    for path in ("/department-mappings/0/history/", "/department-mappings/424242/history/"):
        english = api_client.get(path, HTTP_ACCEPT_LANGUAGE="en").json()["detail"]
        zh = api_client.get(path, HTTP_ACCEPT_LANGUAGE="zh-CN").json()["detail"]
        assert english.startswith("No department mapping has this id")
        assert chinese(zh)
        assert "部门映射" in zh


# --- 5. Accept-Language as the contract says --------------------------------------------


@pytest.mark.parametrize(
    ("header", "expect_chinese"),
    [
        ("zh", True),
        ("zh-CN", True),
        ("zh-cn", True),
        ("zh-Hans", True),
        ("zh-Hans-CN", True),
        ("en-US,en;q=0.9", False),
        ("zh-TW", False),
        ("zh-HK", False),
        ("zh-Hant", False),
        ("zh-Hant-TW", False),
        ("zh-MO", False),
        ("fr", False),
        ("fr, zh;q=0.5", True),
        ("zh-TW, en;q=0.8", False),
    ],
)
def test_only_simplified_chinese_requests_get_chinese(api_client: Any, header: str, expect_chinese: bool) -> None:
    response = post(api_client, make_request(employeeType="Z9"), HTTP_ACCEPT_LANGUAGE=header)

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert chinese(error["message"].split("Known types")[0].split("已知")[0]) is expect_chinese, error["message"]
    assert response["Content-Language"] == ("zh-hans" if expect_chinese else "en")


def test_without_accept_language_language_code_decides(api_client: Any, settings: Any) -> None:
    settings.LANGUAGE_CODE = "zh-hans"
    assert api_client.get("/account-creation/999999/")["Content-Language"] == "zh-hans"
    # A named language that is not ours is answered in English, not in LANGUAGE_CODE.
    assert api_client.get("/account-creation/999999/", HTTP_ACCEPT_LANGUAGE="zh-TW")["Content-Language"] == "en"


# --- 4. command output in LANGUAGE_CODE -------------------------------------------------


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_maintenance_commands_speak_language_code(settings: Any, departments: None) -> None:
    english = _run("cleanup_account_creation_logs", "--older-than", "30", "--dry-run")
    assert english.startswith("Dry run: 0 attempt log(s)")
    settings.LANGUAGE_CODE = "zh-hans"
    for args in (
        ("cleanup_account_creation_logs", "--older-than", "30", "--dry-run"),
        ("cleanup_account_creation_logs", "--older-than", "30"),
        ("purge_personal_data", "--older-than", "30", "--dry-run"),
        ("purge_personal_data", "--older-than", "30"),
        ("load_department_mappings",),
    ):
        out = _run(*args)
        assert chinese(out), (args, out)
    purged = _run("purge_personal_data", "--older-than", "30")
    assert ZONED.search(purged), purged
    with pytest.raises(CommandError) as refused:
        call_command("cleanup_account_creation_logs", "--older-than", "0")
    assert "至少" in str(refused.value)


def test_disabled_purge_and_a_bad_mapping_file_speak_language_code(settings: Any, tmp_path: Any) -> None:
    settings.LANGUAGE_CODE = "zh-hans"
    settings.PERSONAL_DATA_RETENTION_DAYS = 0
    assert "已停用" in _run("purge_personal_data")
    bad = tmp_path / "mappings.csv"
    bad.write_text("idata_departmentcode,idaas_departmentcode,ou\n,X,OU=A\n", encoding="utf-8")
    with pytest.raises(CommandError) as refused:
        call_command("load_department_mappings", "--file", str(bad))
    assert "未加载任何内容" in str(refused.value)
    assert "第 2 行" in str(refused.value)


def test_create_api_token_speaks_language_code_and_still_ends_with_the_token(settings: Any) -> None:
    settings.LANGUAGE_CODE = "zh-hans"
    out = _run("create_api_token", "oa-zh", "--origin-system", "oa", "--expires-days", "30")
    lines = out.strip().splitlines()
    assert chinese(lines[0])
    assert "令牌已创建" in lines[0]
    assert ZONED.search(lines[0]), lines[0]
    token = lines[-1]
    assert client_with_key(token).get("/account-creation/").status_code == 200

    rotated = _run("create_api_token", "oa-zh", "--origin-system", "oa").strip().splitlines()
    assert "已轮换" in rotated[0]
    assert client_with_key(rotated[-1]).get("/account-creation/").status_code == 200
    assert client_with_key(token).get("/account-creation/").status_code == 401

    assert "已吊销" in _run("create_api_token", "oa-zh", "--revoke")
    with pytest.raises(CommandError) as refused:
        call_command("create_api_token", "oa-bad", "--origin-system", "oa", "--scope", "everything", stdout=StringIO())
    assert "未知的权限范围" in str(refused.value)


def test_configure_callback_still_ends_with_the_secret(settings: Any, db: Any) -> None:
    settings.LANGUAGE_CODE = "zh-hans"
    issue_key("hr-zh", origin_systems=("hr",))
    out = _run("configure_callback", "hr-zh", "--url", "https://oa.example.com/hook").strip().splitlines()
    assert out[-1].startswith("whsec_")
    assert chinese(out[0])


# --- 6. CSV export times with their offset ----------------------------------------------


def test_csv_export_times_carry_the_offset(api_client: Any, departments: None, django_user_model: Any) -> None:
    from account_creation.tests.ops.sandbox_data import staff_client

    assert post(api_client, make_request([make_user("P900001")], business_key="zoned-1")).status_code == 201
    AccountCreationTask.objects.update(completed_at=timezone.now())

    response = staff_client(django_user_model).get("/admin/status/request/export.csv?business_key=zoned-1")

    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, data = rows[0], rows[1:]
    created, completed = header.index("created_at"), header.index("completed_at")
    assert data
    for row in data:
        assert ZONED.fullmatch(row[created]), row[created]
        assert ZONED.fullmatch(row[completed]), row[completed]


# --- 7. a task that gave up promises no next attempt ------------------------------------


class TimingOut:
    """IDaaS that never answers in time (the request may have been applied)."""

    account_type = "idaas"

    def create(self, request: ProvisioningRequest) -> AccountResult:
        raise RetryableError(
            message("http.timeout_sent", system="IDaaS", action=action("create"), seconds="10"),
            details={"error": "ReadTimeout", "maybe_applied": True},
            fault=Fault.TRANSPORT,
        )


def test_a_task_that_gave_up_after_a_timeout_promises_no_next_attempt(
    api_client: Any, departments: None, settings: Any
) -> None:
    settings.ACCOUNT_CREATION_MAX_RETRIES = 2
    created = post(api_client, make_request(systems=["idaas"])).json()
    task_id = created["tasks"][0]["id"]

    with override_connectors({"idaas": TimingOut()}):
        call_command("process_account_creation_tasks", stdout=StringIO())
        retrying = api_client.get(f"/account-creation/{task_id}/", HTTP_ACCEPT_LANGUAGE="en").json()
        # While it retries, the next attempt does come, and looks the account up first.
        assert retrying["status"] == "pending"
        assert "the next attempt looks the account up first" in retrying["last_error"]
        AccountCreationTask.objects.filter(pk=task_id).update(next_attempt_at=timezone.now())
        call_command("process_account_creation_tasks", stdout=StringIO())

    english = api_client.get(f"/account-creation/{task_id}/", HTTP_ACCEPT_LANGUAGE="en").json()
    zh = api_client.get(f"/account-creation/{task_id}/", HTTP_ACCEPT_LANGUAGE="zh-CN").json()
    assert english["status"] == "failed"
    assert "next attempt" not in english["last_error"]
    assert "Gave up after 2 attempts" in english["last_error"]
    assert "a retry of the task looks the account up first" in english["last_error"]
    assert "下一次尝试" not in zh["last_error"]
    assert "重试该任务时会先查询该账号" in zh["last_error"]
    logs = api_client.get(f"/account-creation/{task_id}/logs/", HTTP_ACCEPT_LANGUAGE="en").json()["results"]
    assert [log["outcome"] for log in logs] == ["retry", "failed"]
    assert "next attempt" not in logs[-1]["error_message"]
