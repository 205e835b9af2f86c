"""Console polish: what a Chinese browser still saw in English or awkwardly, and English stays English.

Admin texts of the callbacks, API clients, engine runs and department history; the admin index's
operations box; the Email account type's label (its value unchanged in the API); Chinese spacing
in relative times; the rejected people's 1-based position; the completion rate saying it leaves
out cancelled tasks; the site icon; the engine-runs table's layout classes."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from account_creation.connectors import override_connectors
from account_creation.connectors.fake import FakeConnector
from account_creation.models import AccountCreationRequest, AccountCreationTask, EngineRun
from account_creation.services.engine import AccountCreationService
from account_creation.tests.ops.sandbox_data import staff_client
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db

ZH = {"Accept-Language": "zh-CN"}
SYSTEMS = ("idaas", "welink", "email")
CREATE = "/account-creation/create_accounts/"


def _post(api_client: Any, body: dict[str, Any], status: int = 201, language: str = "en") -> dict[str, Any]:
    response = api_client.post(CREATE, body, format="json", headers={"Accept-Language": language})
    assert response.status_code == status, response.content
    answer: dict[str, Any] = response.json()
    return answer


def _run() -> None:
    with override_connectors({s: FakeConnector(s) for s in SYSTEMS}):
        AccountCreationService(max_tasks=500).run()


def _root(django_user_model: Any) -> Client:
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client = Client()
    client.force_login(user)
    return client


def _content(page: str) -> str:
    """The page's own part (#content), scripts left out."""
    body = page.split('id="content"', 1)[1]
    return re.sub(r"<script.*?</script>", "", body, flags=re.S)


def _both(client: Client, url: str) -> tuple[str, str]:
    """The page read by a Chinese browser, then by one that names no language."""
    chinese = client.get(url, headers=ZH)
    english = client.get(url)
    assert chinese.status_code == english.status_code == 200, url
    return _content(chinese.content.decode()), _content(english.content.decode())


# --- 1. admin texts -------------------------------------------------------------------------


def test_callback_endpoint_form_labels_secret_texts_and_redeliver_action(
    api_client: Any, django_user_model: Any
) -> None:
    from api_clients.models import ApiClient
    from callbacks.models import CallbackEndpoint, CallbackEvent, DeliveryStatus

    endpoint = CallbackEndpoint.objects.create(client=ApiClient.objects.get(name="oa-test"),
                                               url="https://oa.example.com/hooks")
    client = _root(django_user_model)
    for url, secret_zh, secret_en in (
        (f"/admin/callbacks/callbackendpoint/{endpoint.pk}/change/", "已设置（只由", "Set (shown only by"),
        ("/admin/callbacks/callbackendpoint/add/", "保存时生成", "Created on save"),
    ):
        zh, en = _both(client, url)
        for text in ("签名密钥", "地址（URL）", "事件 POST 到的地址", secret_zh):
            assert text in zh, (url, text)
        for text in ("Url:", "Signing secret", "https unless loopback.", secret_en, "Where events are POSTed"):
            assert text not in zh, (url, text)
        for text in ("URL:", "Signing secret", "Where events are POSTed (https unless loopback).", secret_en):
            assert text in en, (url, text)
        assert "签名密钥" not in en

    event = CallbackEvent.objects.create(endpoint=endpoint, type="person.completed", dedupe_key="k-1",
                                         payload={}, status=DeliveryStatus.FAILED, next_attempt_at=timezone.now())
    zh, en = _both(client, "/admin/callbacks/callbackevent/")
    assert "重新投递所选事件（webhook-id 不变，尝试次数重新计算）" in zh
    assert "Redeliver selected events" not in zh
    assert "Redeliver selected events (same webhook-id, fresh attempt budget)" in en
    done = client.post("/admin/callbacks/callbackevent/", {"action": "redeliver", "_selected_action": [event.pk]},
                       follow=True, headers=ZH).content.decode()
    assert "1 个事件将在下一次引擎运行时投递。" in done
    assert "will be delivered at the next engine run" not in done


def test_api_client_warning_column_and_its_texts(django_user_model: Any, api_client: Any) -> None:
    zh, en = _both(_root(django_user_model), "/admin/api_clients/apiclient/")
    assert "警告" in zh
    assert "权限范围 all：可见所有来源系统" in zh
    assert "Warning" not in zh
    assert "scope all: sees every origin system" not in zh
    assert "Warning" in en
    assert "scope all: sees every origin system (staff tooling only)" in en


def test_engine_run_columns_and_change_page(django_user_model: Any) -> None:
    now = timezone.now()
    run = EngineRun.objects.create(runner_id="r-1", host="h", pid=1, started_at=now, finished_at=now,
                                   claimed=1, completed=1, stop_reason="drained")
    client = _root(django_user_model)
    zh, en = _both(client, "/admin/account_creation/enginerun/")
    for text in ("运行者 ID", "主机", "开始时间", "结束时间", "领取", "已重试", "已恢复", "停止原因"):
        assert text in zh, text
    for text in ("Runner ID", "Host", "Started at", "Finished at", "Claimed", "Retried", "Recovered", "Stop reason"):
        assert text not in zh, text
        assert text in en, text
    zh, en = _both(client, f"/admin/account_creation/enginerun/{run.pk}/change/")
    assert "队列已清空" in zh
    assert ">drained<" not in zh  # the stored code is not shown beside its text
    assert "queue drained (nothing due)" in en


def test_department_history_columns(django_user_model: Any, departments: None) -> None:
    from departments.models import DepartmentMapping

    row = DepartmentMapping.objects.first()
    assert row is not None
    zh, en = _both(_root(django_user_model), f"/admin/departments/departmentmapping/{row.pk}/history/")
    assert "<th scope=\"col\">组织单位（OU）</th>" in zh
    assert "<th scope=\"col\">有效</th>" in zh
    assert "<th scope=\"col\">变更内容</th>" in zh
    for english in ("<th scope=\"col\">ou</th>", "is_active", "Changes", ">True<"):
        assert english not in zh, english
    assert "<th scope=\"col\">OU</th>" in en
    assert "<th scope=\"col\">active</th>" in en
    assert "<td>yes</td>" in en


# --- 2. the admin index's operations box ------------------------------------------------------


def test_admin_index_operations_box(django_user_model: Any) -> None:
    zh, en = _both(staff_client(django_user_model), "/admin/")
    box_zh = zh.split('id="ops-links"')[1].split("</div>")[0]
    box_en = en.split('id="ops-links"')[1].split("</div>")[0]
    for text in ("运维", "状态看板", "查找人员", "按工号或姓名查看账号和历史"):
        assert text in box_zh, text
    for text in ("Operations", "Status dashboard", "Find a person", "accounts and history", "engine runs"):
        assert text not in box_zh, text
        assert text in box_en, text
    # The admin's own column captions for screen readers.
    assert "Model name" not in zh
    assert "模型名称" in zh


# --- 3. the Email account type ----------------------------------------------------------------


def test_email_account_type_reads_in_the_readers_language_and_its_value_stays(
    api_client: Any, departments: None, django_user_model: Any
) -> None:
    _post(api_client, make_request(business_key="type-1"), language="zh-CN")
    _run()
    client = staff_client(django_user_model)
    zh, en = _both(client, "/admin/status/request/?business_key=type-1")
    grid_zh = zh.split('id="request-grid"')[1].split("</thead>")[0]
    grid_en = en.split('id="request-grid"')[1].split("</thead>")[0]
    assert "<th>IDaaS</th><th>WeLink</th><th>邮箱</th>" in grid_zh
    assert "<th>IDaaS</th><th>WeLink</th><th>Email</th>" in grid_en
    zh, en = _both(client, "/admin/status/person/?employee=P000126")
    assert "<td>邮箱</td>" in zh.split('id="accounts"')[1]
    assert '<td data-system="email">邮箱</td>' in zh.split('id="person-tasks"')[1]
    assert ">Email<" not in zh
    assert "<td>Email</td>" in en.split('id="accounts"')[1]
    assert '<td data-system="email">Email</td>' in en.split('id="person-tasks"')[1]
    # The API answers the type's value, in any language.
    tasks = api_client.get("/account-creation/", {"business_key": "type-1"}, headers=ZH).json()["results"]
    assert sorted(t["account_type"] for t in tasks) == ["email", "idaas", "welink"]
    # A stored message naming the type (a reused task, written by a Chinese caller) reads in each
    # reader's language: the label is stored as its source text, not in the writer's words.
    again = _post(api_client, make_request(business_key="type-2"), language="zh-CN")
    email_warning = next(w for w in again["warnings"] if "邮箱" in w["message"])
    assert "Email" not in email_warning["message"]
    detail = api_client.get(f"/account-creation/requests/{again['requestId']}/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert any("already has a Email task" in w["message"] for w in detail["warnings"]), detail["warnings"]
    stored = AccountCreationRequest.objects.get(business_key="type-2").warnings
    assert {"$gettext": "Email"} in [w["messageData"]["params"]["system"] for w in stored]


# --- 4. relative times --------------------------------------------------------------------------


def test_relative_times_read_naturally_in_chinese(api_client: Any, departments: None, django_user_model: Any) -> None:
    _post(api_client, make_request(business_key="time-1"))
    _run()
    client = staff_client(django_user_model)
    zh, en = _both(client, "/admin/status/")
    card_zh = zh.split('id="last-run"')[1].split("</div>")[0]
    card_en = en.split('id="last-run"')[1].split("</div>")[0]
    assert re.search(r'<span class="n">\d+ 秒前</span> 上次引擎运行', card_zh), card_zh
    assert " 前" not in card_zh
    assert re.search(r'<span class="n">\d+ s ago</span> last engine run', card_en), card_en

    zh, en = _both(client, "/admin/status/request/?business_key=time-1")
    assert '<span id="last-change">上次变化：刚刚</span>' in zh
    assert '<span id="last-change">last change: just now</span>' in en
    AccountCreationTask.objects.filter(business_key="time-1").update(updated_at=timezone.now() - timedelta(minutes=5))
    zh, en = _both(client, "/admin/status/request/?business_key=time-1")
    assert '<span id="last-change">上次变化：5\xa0分钟前</span>' in zh
    assert '<span id="last-change">last change: 5\xa0minutes ago</span>' in en


# --- 5. the rejected people's position ----------------------------------------------------------


def test_rejected_people_show_their_1_based_position_and_the_api_keeps_0_based(
    api_client: Any, departments: None, django_user_model: Any
) -> None:
    bad = make_user("P310003", name="钱七", country="atlantis")
    people = [make_user("P310001"), make_user("P310002", name="李四"), bad]
    answer = _post(api_client, make_request(people, business_key="pos-1"), status=207)
    assert {e["index"] for e in answer["errors"]} == {2}  # the API: 0-based
    client = staff_client(django_user_model)
    zh, en = _both(client, "/admin/status/request/?business_key=pos-1")
    table_zh = zh.split('id="rejected-people"')[1].split("</table>")[0]
    table_en = en.split('id="rejected-people"')[1].split("</table>")[0]
    assert "请求中的序号" in table_zh
    assert "序号</th>" not in table_zh.replace("请求中的序号", "")
    assert "no. in the request" in table_en
    assert ">index<" not in table_en
    assert '<tr><td class="num">3</td><td>P310003</td>' in table_zh
    assert '<tr><td class="num">3</td><td>P310003</td>' in table_en
    assert "1 表示请求中的第一个人" in table_zh
    assert "1 is the first person of the request" in table_en


# --- 6. the completion rate ---------------------------------------------------------------------


def test_the_completion_rate_says_it_leaves_out_cancelled_tasks(
    api_client: Any, departments: None, django_user_model: Any
) -> None:
    _post(api_client, make_request(business_key="rate-1"))
    zh, en = _both(staff_client(django_user_model), "/admin/status/")
    card_zh = zh.split('id="completion"')[1].split("</div>")[0]
    card_en = en.split('id="completion"')[1].split("</div>")[0]
    assert "（不含已取消的任务）" in card_zh
    assert "已完成的任务数除以未取消的任务数" in card_zh
    assert "cancelled" not in card_zh
    assert "(of tasks not cancelled)" in card_en
    assert "divided by the tasks that are not cancelled" in card_en


# --- 7. the site icon ---------------------------------------------------------------------------


def test_favicon_is_served_and_named_by_the_admin_pages(django_user_model: Any) -> None:
    anonymous = Client()
    redirect = anonymous.get("/favicon.ico")
    assert redirect.status_code == 301
    assert redirect["Location"] == "/static/account_creation/favicon.ico"
    icon: Any = anonymous.get(redirect["Location"])
    assert icon.status_code == 200
    assert b"".join(icon.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file
    link = '<link rel="icon" href="/static/account_creation/favicon.ico" type="image/x-icon">'
    assert link in anonymous.get("/admin/login/").content.decode()
    client = staff_client(django_user_model)
    for url in ("/admin/", "/admin/status/", "/admin/account_creation/accountcreationtask/"):
        page = client.get(url)
        assert link in page.content.decode(), url
        # Same origin: the policy's img-src 'self' allows it (no inline data: icon).
        assert "img-src 'self'" in page["Content-Security-Policy"]


# --- 8. the engine-runs table -------------------------------------------------------------------


def test_engine_runs_table_wraps_instead_of_running_off_the_page(django_user_model: Any) -> None:
    now = timezone.now()
    EngineRun.objects.create(runner_id="long", host="worker-" * 10, pid=4_194_303, started_at=now,
                             finished_at=now, claimed=5, completed=5, stop_reason="drained")
    page = staff_client(django_user_model).get("/admin/status/").content.decode()
    assert '<table class="ops-table" id="engine-runs">' in page  # no nowrap over the whole table
    assert '<td class="runner" title="long">' in page
    css: Any = Client().get("/static/account_creation/ops/ops.css")
    text = b"".join(css.streaming_content).decode()
    assert ".ops-columns > * { min-width: 0;" in text
    assert "#engine-runs td.runner" in text
