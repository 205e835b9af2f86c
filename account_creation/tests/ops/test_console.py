"""The operator's console (#16): honest numbers, filters and CSV, the attention panel, live parts."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from django.utils import timezone

from account_creation.connectors import override_connectors
from account_creation.connectors.fake import FakeConnector
from account_creation.models import AccountCreationTask, EngineRun
from account_creation.services.engine import AccountCreationService
from account_creation.tests.ops.sandbox_data import staff_client
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db
SYSTEMS = ("idaas", "welink", "email")


def _post(api_client: Any, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = api_client.post("/account-creation/create_accounts/", body, format="json")
    assert response.status_code == status, response.content
    answer: dict[str, Any] = response.json()
    return answer


def _run(default: str = "success") -> None:
    with override_connectors({s: FakeConnector(s, default=default) for s in SYSTEMS}):
        AccountCreationService(max_tasks=500).run()


def test_rejected_people_are_shown_in_their_request_and_counted_as_people(
    api_client: Any, departments: None, django_user_model: Any
) -> None:
    # One accepted person and one rejected twice over (two bad fields): 2 people, not 3.
    bad = make_user("P300002", name="钱七", country="atlantis", phoneNumber="x" * 40)
    answer = _post(api_client, make_request([make_user("P300001"), bad], business_key="honest-1"), status=207)
    assert len({e["index"] for e in answer["errors"]}) == 1
    assert len(answer["errors"]) >= 2
    client = staff_client(django_user_model)
    page = client.get("/admin/status/request/?business_key=honest-1").content.decode()
    assert "people: 2" in page
    assert 'id="rejected-people"' in page
    assert page.count("P300002") >= 2  # one row per field error
    assert "country" in page
    dashboard = client.get("/admin/status/").content.decode()
    assert "(1 rejected)" in dashboard
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client.force_login(root)
    listing = client.get("/admin/account_creation/accountcreationrequest/").content.decode()
    assert '<td class="field-user_count">2</td>' in listing


def test_completed_cells_show_username_mailbox_and_welink_id(
    api_client: Any, departments: None, django_user_model: Any
) -> None:
    _post(api_client, make_request(business_key="honest-2"))
    _run()
    page = staff_client(django_user_model).get("/admin/status/request/?business_key=honest-2").content.decode()
    welink = AccountCreationTask.objects.get(account_type="welink")
    assert welink.result
    assert '<dd class="username">zP000126</dd>' in page
    assert 'class="email">zhangsan@' in page
    assert f'<dd class="account-id">{welink.result["account_id"]}</dd>' in page
    assert "100%" in page


def test_one_row_per_cause_in_the_failure_table(api_client: Any, departments: None, django_user_model: Any) -> None:
    _post(api_client, make_request([make_user("P400001"), make_user("P400002", name="李四")], business_key="c-1"))
    _run(default="fail")
    cause = "Directory refused the account: quota exceeded for the tenant, ask the IDaaS administrator " * 2
    tasks = AccountCreationTask.objects.filter(account_type="idaas")
    for n, task in enumerate(tasks):
        AccountCreationTask.objects.filter(pk=task.pk).update(
            last_error=f"{cause} (after {n + 1} attempts)", last_error_data=None
        )
    page = staff_client(django_user_model).get("/admin/status/").content.decode()
    table = page.split('id="failure-reasons"')[1].split("</table>")[0]
    assert table.count("<tr><td>idaas</td>") == 1  # the two tasks differ only after the prefix
    assert "<tr><td>idaas</td><td class=\"num\"><a href" in table
    assert '<a href="/admin/account_creation/accountcreationtask/?status=failed&amp;account_type=idaas' in table


def test_engine_runs_hide_idle_runs_and_tell_running_from_died(django_user_model: Any) -> None:
    now = timezone.now()
    EngineRun.objects.create(runner_id="idle", host="h", pid=1, started_at=now, finished_at=now,
                             stop_reason="queue drained")
    EngineRun.objects.create(runner_id="busy", host="h", pid=2, started_at=now - timedelta(seconds=5), claimed=4,
                             completed=4, finished_at=now)
    EngineRun.objects.create(runner_id="live", host="h", pid=3, started_at=now - timedelta(seconds=5))
    EngineRun.objects.create(runner_id="gone", host="h", pid=4, started_at=now - timedelta(hours=3))
    client = staff_client(django_user_model)
    runs = client.get("/admin/status/").content.decode().split('id="engine-runs"')[1].split("</table>")[0]
    assert 'title="idle"' not in runs
    assert 'title="busy"' in runs
    assert runs.count('data-state="running"') == 1
    assert runs.count('data-state="died"') == 1
    everything = client.get("/admin/status/?runs=all").content.decode().split('id="engine-runs"')[1]
    assert 'title="idle"' in everything.split("</table>")[0]


def test_api_task_and_request_lists_filter_by_date_range_and_free_text(api_client: Any, departments: None) -> None:
    _post(api_client, make_request([make_user("P500001", name="张三")], business_key="f-old"))
    _post(api_client, make_request([make_user("P500002", name="李四")], business_key="f-new"))
    past = timezone.now() - timedelta(days=10)
    AccountCreationTask.objects.filter(business_key="f-old").update(created_at=past)
    from account_creation.models import AccountCreationRequest

    AccountCreationRequest.objects.filter(business_key="f-old").update(created_at=past)
    since = (timezone.localdate() - timedelta(days=1)).isoformat()

    def numbers(url: str) -> set[str]:
        response = api_client.get(url)
        assert response.status_code == 200, response.content
        return {t["employee_number"] for t in response.json()["results"]}

    assert numbers(f"/account-creation/?created_after={since}") == {"P500002"}
    assert numbers(f"/account-creation/?created_before={since}") == {"P500001"}
    assert numbers("/account-creation/?q=李") == {"P500002"}
    assert numbers("/account-creation/?q=P500001") == {"P500001"}
    assert numbers("/account-creation/?q=f-ol") == {"P500001"}
    bad = api_client.get("/account-creation/?created_after=yesterday")
    assert bad.status_code == 400
    assert "created_after" in str(bad.json())

    def keys(url: str) -> set[str]:
        response = api_client.get(url)
        assert response.status_code == 200, response.content
        return {r["businessKey"] for r in response.json()["results"]}

    assert keys(f"/account-creation/requests/?created_after={since}") == {"f-new"}
    assert keys(f"/account-creation/requests/?created_before={since}") == {"f-old"}
    assert keys("/account-creation/requests/?q=张三") == {"f-old"}
    assert keys("/account-creation/requests/?q=f-n") == {"f-new"}


def _read_csv(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM, so Excel reads Chinese"
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_admin_task_list_exports_what_it_shows_as_csv(
    api_client: Any, departments: None, django_user_model: Any
) -> None:
    _post(api_client, make_request([make_user("P600001", name="张三"), make_user("P600002", name="李四")],
                                   business_key="x-1"))
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    from django.test import Client

    client = Client()
    client.force_login(root)
    listing = client.get("/admin/account_creation/accountcreationtask/?q=李四&account_type=idaas").content.decode()
    assert 'id="export-csv"' in listing
    assert "export.csv?q=" in listing
    response = client.get("/admin/account_creation/accountcreationtask/export.csv?q=李四&account_type=idaas")
    assert response["Content-Type"].startswith("text/csv")
    rows = _read_csv(response.content)
    assert rows[0][:3] == ["id", "business_key", "origin_system"]
    assert [(r[5], r[6], r[3]) for r in rows[1:]] == [("P600002", "李四", "idaas")]
    assert "13800138000" not in response.content.decode("utf-8-sig")  # phones masked here too
    # A date range in the admin list: the filter's own from/before form.
    today = timezone.localdate().isoformat()
    ranged = client.get(f"/admin/account_creation/accountcreationtask/?created_at__gte={today}").content.decode()
    assert 'id="created-range"' in ranged
    assert f'value="{today}"' in ranged


def test_admin_date_range_means_midnight_in_time_zone(
    api_client: Any, departments: None, django_user_model: Any
) -> None:
    """`created_at__gte=<date>` from the admin's range form is midnight in TIME_ZONE, read as an
    aware moment (no naive-datetime warning), and the CSV export filters the same way."""
    import warnings

    from django.test import Client

    _post(api_client, make_request([make_user("P610001"), make_user("P610002")], business_key="d-1"))
    today = timezone.localdate()
    midnight = timezone.make_aware(datetime.combine(today, time.min))
    AccountCreationTask.objects.filter(employee_number="P610001").update(created_at=midnight - timedelta(minutes=30))
    AccountCreationTask.objects.filter(employee_number="P610002").update(created_at=midnight + timedelta(minutes=30))
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client = Client()
    client.force_login(root)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        since = client.get(f"/admin/account_creation/accountcreationtask/export.csv?created_at__gte={today}")
        before = client.get(f"/admin/account_creation/accountcreationtask/export.csv?created_at__lt={today}")
    assert {r[5] for r in _read_csv(since.content)[1:]} == {"P610002"}
    assert {r[5] for r in _read_csv(before.content)[1:]} == {"P610001"}


def test_request_grid_exports_csv_with_chinese_intact(
    api_client: Any, departments: None, django_user_model: Any
) -> None:
    bad = make_user("P700002", name="钱七", country="atlantis")
    _post(api_client, make_request([make_user("P700001", name="张三"), bad], business_key="x-2"), status=207)
    response = staff_client(django_user_model).get("/admin/status/request/export.csv?business_key=x-2")
    rows = _read_csv(response.content)
    assert {r[6] for r in rows[1:] if r[5] == "P700001"} == {"张三"}
    assert len([r for r in rows[1:] if r[5] == "P700001"]) == 3
    assert any(r[5] == "P700002" and r[3] == "country" for r in rows[1:])


def test_attention_panel_groups_by_cause_and_links_to_the_fix(
    api_client: Any, departments: None, django_user_model: Any
) -> None:
    unknown = [make_user(f"P80000{i}", departmentCode="999999") for i in range(3)]
    _post(api_client, make_request(unknown, business_key="a-1"))
    _post(api_client, make_request([make_user("P810001", name="王五")], business_key="a-2"))
    _run(default="fail")
    page = staff_client(django_user_model).get("/admin/status/").content.decode()
    panel = page.split('id="attention"')[1].split("</section>")[0]
    rows = panel.split('<tr class="problem')[1:]
    assert 'data-cause="missing_mapping"' in rows[0]  # 3 people: first
    assert "<strong>3</strong>" in rows[0]
    assert "/admin/departments/departmentmapping/add/?idata_departmentcode=999999" in rows[0]
    failed = next(r for r in rows if 'data-cause="failed_person"' in r)
    assert "<strong>1</strong>" in failed
    assert "/admin/status/person/?employee=P810001" in failed


def test_live_endpoint_renders_the_parts_again(api_client: Any, departments: None, django_user_model: Any) -> None:
    _post(api_client, make_request(business_key="live-1"))
    client = staff_client(django_user_model)
    before = client.get("/admin/status/live/?view=request&business_key=live-1").json()
    assert 'data-status="pending"' in before["parts"]["grid"]
    _run()
    after = client.get("/admin/status/live/?view=request&business_key=live-1").json()
    assert 'data-status="completed"' in after["parts"]["grid"]
    dashboard = client.get("/admin/status/live/?view=dashboard").json()
    assert set(dashboard["parts"]) == {"attention", "cards", "tables"}
    assert dashboard["charts"]["status"]["totals"]["completed"] == 3
    person = client.get("/admin/status/live/?view=person&employee=P000126").json()
    assert "zP000126" in person["parts"]["person"]
    assert client.get("/admin/status/live/?view=nope").status_code == 400
    from django.test import Client

    assert Client().get("/admin/status/live/?view=dashboard").status_code == 302


ENGLISH_PRODUCT_TEXT = (
    "Needs attention", "Latest requests", "Engine runs", "Top failure reasons", "Find person", "Open request",
    "Accounts", "History (attempts)", "Export CSV", "people:", "Dashboard", "Pending", "Completed",
)


def _shown_text(page: str) -> str:
    """The content of a page as a reader sees it: no tags, no scripts, entities decoded."""
    body = page.split('id="content"')[1]
    body = re.sub(r"<script.*?</script>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_a_chinese_browser_sees_the_console_in_chinese(api_client: Any, departments: None,
                                                       django_user_model: Any, language: str) -> None:
    """On a console with something in every state (a failed task with a stored error, blocked
    dependents, a task waiting for a department mapping, a quarantined system, a finished engine
    run, a person rejected at intake), a Chinese reader sees those states' messages in Chinese and
    none of their English texts; an English reader sees the English ones (so the phrases checked
    are really on the pages)."""
    from account_creation.tests.ops.console_states import FAILED, seed_console_states, state_phrases

    states = seed_console_states(api_client)
    client = staff_client(django_user_model)
    urls = {
        "dashboard": "/admin/status/",
        "grid": f"/admin/status/request/?business_key={states.business_key}",
        "person": f"/admin/status/person/?employee={FAILED}",
    }
    headings = {"dashboard": "需要处理", "grid": "导出 CSV", "person": "历史（尝试记录）"}
    for name, phrases in state_phrases().items():
        text = _shown_text(client.get(urls[name], HTTP_ACCEPT_LANGUAGE=language).content.decode())
        for english, chinese in phrases:
            shown, hidden = (chinese, english) if language == "zh-CN" else (english, chinese)
            assert shown in text, (name, shown, text)
            assert hidden not in text, (name, hidden)
        if language == "zh-CN":
            assert headings[name] in text, name
            leftovers = [phrase for phrase in ENGLISH_PRODUCT_TEXT if phrase in text]
            assert leftovers == [], (name, leftovers)
    if language == "zh-CN":
        assert "账号创建任务" in client.get("/admin/", HTTP_ACCEPT_LANGUAGE=language).content.decode()


def test_attention_panel_names_a_quarantined_system_and_how_to_release_it(
    api_client: Any, departments: None, django_user_model: Any
) -> None:
    from account_creation.services.health import system_quarantine, systems_ensure

    _post(api_client, make_request([make_user(f"P82000{i}") for i in range(2)], business_key="q-1"))
    systems_ensure()
    assert system_quarantine(name="welink", reason_code="credentials", reason="WeLink refused the client credentials")
    page = staff_client(django_user_model).get("/admin/status/").content.decode()
    panel = page.split('id="attention"')[1].split("</section>")[0]
    row = next(r for r in panel.split('<tr class="problem')[1:] if 'data-cause="quarantine"' in r)
    assert "welink is quarantined: WeLink refused the client credentials" in row
    assert "<strong>2</strong>" in row  # two people wait for it
    assert "/account-creation/systems/welink/release/" in row


@pytest.mark.parametrize(
    ("value", "status"),
    [("8900-12-14T16:00:59-16:45", 200), ("9999-12-31T23:59:59-10:00", 400), ("0001-01-01T00:00:00+14:00", 400),
     ("2026-12-01", 200), ("tomorrow", 400)],
)
def test_date_filters_never_reach_the_database_in_a_form_it_refuses(api_client: Any, value: str, status: int) -> None:
    for path in ("/account-creation/", "/account-creation/requests/"):
        for name in ("created_after", "created_before"):
            response = api_client.get(path, {name: value})
            assert response.status_code == status, (path, name, value, response.content[:200])


def test_engine_runs_show_the_stop_reason_in_the_readers_language(django_user_model: Any) -> None:
    now = timezone.now()
    EngineRun.objects.create(runner_id="new", host="h", pid=1, started_at=now, finished_at=now, claimed=3,
                             completed=3, stop_reason="drained")
    EngineRun.objects.create(runner_id="old", host="h", pid=2, started_at=now - timedelta(minutes=5),
                             finished_at=now - timedelta(minutes=5), claimed=50, stop_reason="max tasks reached (50)")
    client = staff_client(django_user_model)

    def runs(language: str) -> str:
        page = client.get("/admin/status/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
        return page.split('id="engine-runs"')[1].split("</table>")[0]

    assert 'title="队列已清空（没有到期的任务）"' in runs("zh-CN")
    assert 'title="queue drained (nothing due)"' in runs("en")
    # A row from before the codes existed: its English text, as it is.
    assert 'title="max tasks reached (50)"' in runs("zh-CN")

    admin_user = django_user_model.objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client.force_login(admin_user)
    changelist = client.get("/admin/account_creation/enginerun/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "停止原因" in changelist
    assert "队列已清空（没有到期的任务）" in changelist
    assert "max tasks reached (50)" in changelist
    english = client.get("/admin/account_creation/enginerun/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "queue drained (nothing due)" in english
