"""Review of the operator's console (#16): stored messages in the reader's language everywhere,
grouped by code; the missing task/request/grid filters; releasing a quarantine from the panel."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.utils.translation import override

from account_creation.connectors import override_connectors
from account_creation.connectors.fake import FakeConnector
from account_creation.messages import action, message
from account_creation.models import AccountCreationLog, AccountCreationTask, DownstreamSystem, SystemState
from account_creation.ops.causes import cause_of
from account_creation.services.engine import AccountCreationService
from account_creation.tests.ops.sandbox_data import staff_client
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db
SYSTEMS = ("idaas", "welink", "email")


def _post(api_client: Any, body: dict[str, Any], status: int = 201) -> None:
    response = api_client.post("/account-creation/create_accounts/", body, format="json")
    assert response.status_code == status, response.content


def _run(default: str = "success") -> None:
    with override_connectors({s: FakeConnector(s, default=default) for s in SYSTEMS}):
        AccountCreationService(max_tasks=500).run()


def _server_error(status: int) -> Any:
    return message("http.server_error", system="IDaaS", action=action("create"), status=status, detail="")


def _superuser(django_user_model: Any) -> Client:
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client = Client()
    client.force_login(root)
    return client


@pytest.fixture
def server_errors(api_client: Any, departments: None) -> list[AccountCreationTask]:
    """Three people whose IDaaS task failed: two gave up on an HTTP 500 and, through a remembered
    token error, an HTTP 503 (one cause, two texts, two wrappings), one row from before messages
    had codes (English text only)."""
    people = [make_user("P950001", name="张三"), make_user("P950002", name="李四"), make_user("P950003", name="王五")]
    _post(api_client, make_request(people, business_key="codes-1"))
    _run(default="fail")
    tasks = list(AccountCreationTask.objects.filter(account_type="idaas").order_by("employee_number"))
    reasons = [_server_error(500), message("token.remembered", reason=_server_error(503), seconds=60)]
    for task, reason in zip(tasks[:2], reasons, strict=True):
        said = message("task.gave_up", reason=reason, attempts=5)
        AccountCreationTask.objects.filter(pk=task.pk).update(last_error=said.render("en"),
                                                              last_error_data=said.as_stored())
        AccountCreationLog.objects.filter(task=task).update(
            error_message=reason.render("en"), error_data=reason.as_stored()
        )
    AccountCreationTask.objects.filter(pk=tasks[2].pk).update(
        last_error="Legacy directory refusal, stored as English text only", last_error_data=None
    )
    AccountCreationLog.objects.filter(task=tasks[2]).update(
        error_message="Legacy directory refusal, stored as English text only", error_data=None
    )
    return tasks


def _table(page: str, table_id: str) -> str:
    return page.split(f'id="{table_id}"')[1].split("</table>")[0]


def test_failure_tables_group_by_message_code_and_read_in_the_readers_language(
    server_errors: list[AccountCreationTask], django_user_model: Any
) -> None:
    from account_creation.ops.selectors import attempt_error_reasons, failure_reasons

    with override("zh-hans"):
        reasons = failure_reasons()
        attempts = attempt_error_reasons()
    coded = next(r for r in reasons if r.cause == "http.server_error")
    assert coded.count == 2  # HTTP 500 and 503, wrapped or not: one cause, one row
    assert "服务器错误" in coded.message
    assert "server error" not in coded.message
    legacy = next(r for r in reasons if r.cause.startswith("-~"))
    assert legacy.count == 1
    assert legacy.message == "Legacy directory refusal, stored as English text only"  # old rows: their text
    assert len(reasons) == 2
    coded_attempts = next(r for r in attempts if r.cause == "http.server_error")
    assert coded_attempts.count == 2
    assert "服务器错误" in coded_attempts.message

    # Each row's link filters on the cause, not on text: it lists exactly the row's count.
    admin = _superuser(django_user_model)
    for reason in (coded, legacy):
        assert parse_qs(urlparse(reason.link).query)["cause"] == [reason.cause]
        listing = admin.get(reason.link, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
        assert listing.count('<td class="field-account_type">') == reason.count, reason.link
    numbers = {t.employee_number for t in server_errors[:2]}
    listing = admin.get(coded.link).content.decode()
    assert all(number in listing for number in numbers)
    assert server_errors[2].employee_number not in listing
    logs = admin.get(coded_attempts.link, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert logs.count('<td class="field-short_error">') == 2
    assert "服务器错误 HTTP 500" in logs
    assert "server error HTTP 500" not in logs

    # The dashboard, as a Chinese and an English reader see it.
    client = staff_client(django_user_model)
    chinese = client.get("/admin/status/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    english = client.get("/admin/status/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "服务器错误" in _table(chinese, "failure-reasons")
    assert "server error" not in _table(chinese, "failure-reasons")
    assert "server error" in _table(english, "failure-reasons")
    assert _table(chinese, "attempt-reasons").count("<tr><td>idaas</td>") == 2  # coded + legacy
    assert "cause=http.server_error" in _table(chinese, "failure-reasons")
    assert "last_error__startswith" not in chinese


def test_attention_panel_groups_failed_people_by_code_in_the_readers_language(
    server_errors: list[AccountCreationTask], django_user_model: Any
) -> None:
    client = staff_client(django_user_model)
    page = client.get("/admin/status/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    panel = page.split('id="attention"')[1].split("</section>")[0]
    rows = [r for r in panel.split('<tr class="problem')[1:] if 'data-cause="failed_person"' in r]
    coded = next(r for r in rows if 'data-key="http.server_error"' in r)
    assert "<strong>2</strong>" in coded  # two people, one cause
    assert "服务器错误" in coded
    assert "server error" not in coded
    assert "cause=http.server_error" in coded
    assert "last_error__startswith" not in panel
    assert len(rows) == 2


def test_cause_key_in_python_matches_the_database(server_errors: list[AccountCreationTask]) -> None:
    from account_creation.ops.causes import TASK, with_cause

    for task in AccountCreationTask.objects.filter(pk__in=[t.pk for t in server_errors]):
        key = cause_of(task.last_error_data, task.last_error)
        assert task.pk in set(with_cause(AccountCreationTask.objects.all(), TASK, key).values_list("pk", flat=True))
    # A downstream system's own words (code "text") are part of their cause.
    text = message("task.permanent", reason=message("task.unexpected_error", error="x")).as_stored()
    assert cause_of(text) == "task.unexpected_error"
    plain = {"code": "task.permanent", "params": {"reason": {"code": "text", "params": {"text": "Quota exceeded"}}}}
    assert cause_of(plain) == "text~Quota exceeded"
    assert cause_of(message("task.lease_expired").as_stored()) == "task.lease_expired"
    assert cause_of(None, "Old text") == "-~Old text"


def test_admin_shows_stored_messages_in_the_readers_language(
    server_errors: list[AccountCreationTask], django_user_model: Any
) -> None:
    admin = _superuser(django_user_model)
    task = server_errors[0]
    change = admin.get(
        f"/admin/account_creation/accountcreationtask/{task.pk}/change/", HTTP_ACCEPT_LANGUAGE="zh-CN"
    ).content.decode()
    assert "服务器错误 HTTP 500" in change  # the last error and the attempts inline
    assert "server error HTTP 500" not in change
    assert "Gave up after" not in change
    assert "last_error_data" not in change
    assert "&quot;code&quot;" not in change
    listing = admin.get("/admin/account_creation/accountcreationtask/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "服务器错误 HTTP 503" in listing
    assert "server error" not in listing
    log = AccountCreationLog.objects.filter(task=task).first()
    assert log is not None
    log_page = admin.get(
        f"/admin/account_creation/accountcreationlog/{log.pk}/change/", HTTP_ACCEPT_LANGUAGE="zh-CN"
    ).content.decode()
    assert "服务器错误 HTTP 500" in log_page
    assert "server error" not in log_page
    # Old rows keep their text.
    legacy = admin.get(f"/admin/account_creation/accountcreationtask/{server_errors[2].pk}/change/").content.decode()
    assert "Legacy directory refusal, stored as English text only" in legacy
    # The cause filter's side bar names each cause in the reader's language.
    failed = admin.get(
        "/admin/account_creation/accountcreationtask/?status=failed", HTTP_ACCEPT_LANGUAGE="zh-CN"
    ).content.decode()
    side_bar = failed.split('id="changelist-filter"')[1]
    choice = side_bar.split("cause=http.server_error")[1].split("</a>")[0]
    assert "服务器错误" in choice


# --- filters ------------------------------------------------------------------------------


@pytest.fixture
def two_departments(api_client: Any, departments: None) -> None:
    _post(api_client, make_request([make_user("P960001", name="张三")], business_key="dept-a"))
    _post(api_client, make_request([make_user("P960002", name="李四", departmentCode="999999")],
                                   business_key="dept-b", systems=["idaas"]))


def test_task_api_filters_by_department(api_client: Any, two_departments: None) -> None:
    def numbers(query: str) -> set[str]:
        response = api_client.get(f"/account-creation/?{query}")
        assert response.status_code == 200, response.content
        return {t["employee_number"] for t in response.json()["results"]}

    assert numbers("department_code=999999") == {"P960002"}
    assert numbers("department_code=120000") == {"P960001"}
    assert numbers("department_code=424242") == set()  # not ignored: nobody there
    bad = api_client.get("/account-creation/", {"department_code": "x" * 65})
    assert bad.status_code == 400
    assert "department_code" in str(bad.json())


def test_request_api_filters_by_system_and_department(api_client: Any, two_departments: None) -> None:
    def keys(query: str) -> set[str]:
        response = api_client.get(f"/account-creation/requests/?{query}")
        assert response.status_code == 200, response.content
        return {r["businessKey"] for r in response.json()["results"]}

    assert keys("account_type=welink") == {"dept-a"}  # dept-b has no WeLink task
    assert keys("account_type=idaas") == {"dept-a", "dept-b"}
    assert keys("department_code=999999") == {"dept-b"}
    assert keys("department_code=999999&account_type=welink") == set()
    unknown = api_client.get("/account-creation/requests/?account_type=fax")
    assert unknown.status_code == 400
    assert "account_type" in str(unknown.json())
    control = api_client.get("/account-creation/requests/", {"department_code": "12\x0100"})
    assert control.status_code == 400
    assert "department_code" in str(control.json())


def test_schema_documents_the_new_filters(api_client: Any) -> None:
    import json

    schema = json.loads(api_client.get("/api/schema/", {"format": "json"}).content)
    tasks = {p["name"] for p in schema["paths"]["/account-creation/"]["get"]["parameters"]}
    requests = {p["name"]: p for p in schema["paths"]["/account-creation/requests/"]["get"]["parameters"]}
    assert "department_code" in tasks
    assert {"department_code", "account_type"} <= set(requests)
    assert set(requests["account_type"]["schema"]["enum"]) == set(SYSTEMS)


@pytest.fixture
def grid_request(api_client: Any, departments: None) -> str:
    people = [make_user("P970001", name="张三"), make_user("P970002", name="李四"),
              make_user("P970003", name="王五", departmentCode="999999"),
              make_user("P970004", name="赵六", country="atlantis")]
    _post(api_client, make_request(people, business_key="grid-f"), status=207)
    connectors = {s: FakeConnector(s) for s in SYSTEMS}
    connectors["idaas"].script_for("P970002", "fail")
    with override_connectors(connectors):
        AccountCreationService(max_tasks=500).run()
    return "grid-f"


def _cells(page: str) -> list[str]:
    return [chunk.split('"')[0] for chunk in page.split('data-status="')[1:]]


def test_request_grid_filters_by_status_system_department_and_text(
    grid_request: str, django_user_model: Any
) -> None:
    client = staff_client(django_user_model)
    base = f"/admin/status/request/?business_key={grid_request}"
    everyone = client.get(base).content.decode()
    assert 'id="grid-filters"' in everyone
    assert everyone.count("<th scope=\"row\">") == 3
    assert 'id="rejected-people"' in everyone

    failed = client.get(f"{base}&status=failed").content.decode()
    assert "P970002" in failed
    assert "P970001" not in failed
    assert "P970003" not in failed
    assert "filtered: 1 of 4 people" in failed
    assert 'id="rejected-people"' not in failed
    assert 'id="grid-filter-clear"' in failed

    welink = client.get(f"{base}&system=welink").content.decode()
    grid = welink.split('id="request-grid"')[1].split("</table>")[0]
    assert grid.count('class="cell ') == 3  # one column: WeLink
    assert ">IDaaS</th>" not in grid

    department = client.get(f"{base}&department=999999").content.decode()
    assert "P970003" in department
    assert "P970001" not in department

    by_name = client.get(f"{base}&q=李").content.decode()
    assert "P970002" in by_name
    assert "P970001" not in by_name
    by_number = client.get(f"{base}&q=p970004").content.decode()  # the rejected person, by number
    assert 'id="rejected-people"' in by_number
    assert "<th scope=\"row\">" not in by_number

    nobody = client.get(f"{base}&department=424242").content.decode()
    assert 'id="grid-no-match"' in nobody

    wrong = client.get(f"{base}&status=nope&system=fax", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert 'id="grid-filter-errors"' in wrong
    assert wrong.count("<th scope=\"row\">") == 3  # the invalid filters are not applied

    # The export and the retry buttons follow the filters.
    assert "export.csv?business_key=grid-f&amp;status=failed" in failed
    rows = list(csv.reader(io.StringIO(
        client.get("/admin/status/request/export.csv?business_key=grid-f&status=failed").content.decode("utf-8-sig")
    )))
    assert {r[5] for r in rows[1:]} == {"P970002"}
    assert 'name="next" value="/admin/status/request/?business_key=grid-f&amp;status=failed"' in failed
    # The live endpoint renders the filtered grid, with the page's own address for the buttons.
    live = client.get(f"/admin/status/live/?view=request&business_key={grid_request}&status=failed").json()
    assert "P970001" not in live["parts"]["grid"]
    assert 'name="next" value="/admin/status/request/?business_key=grid-f&amp;status=failed"' in live["parts"]["grid"]


# --- releasing a quarantine ----------------------------------------------------------------


@pytest.fixture
def quarantined(api_client: Any, departments: None) -> None:
    from account_creation.services.health import system_quarantine, systems_ensure

    _post(api_client, make_request([make_user("P980001")], business_key="rel-1"))
    systems_ensure()
    reason = message("http.server_error", system="WeLink", action=action("create"), status=503, detail="")
    assert system_quarantine(name="welink", reason_code="transport", reason=reason)


def _quarantine_row(page: str) -> str:
    panel = page.split('id="attention"')[1].split("</section>")[0]
    return next(r for r in panel.split('<tr class="problem')[1:] if 'data-cause="quarantine"' in r)


def test_release_button_ends_the_quarantine_with_history(quarantined: None, django_user_model: Any) -> None:
    client = staff_client(django_user_model)
    row = _quarantine_row(client.get("/admin/status/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode())
    assert 'action="/admin/status/release/"' in row
    assert 'name="csrfmiddlewaretoken"' in row
    assert 'name="system" value="welink"' in row
    assert "立即解除 WeLink 的隔离" in row
    response = client.post("/admin/status/release/", {"system": "welink"}, HTTP_ACCEPT_LANGUAGE="zh-CN", follow=True)
    assert response.redirect_chain[-1][0] == "/admin/status/"
    page = response.content.decode()
    assert "WeLink 已解除隔离" in page
    assert 'data-cause="quarantine"' not in page
    assert DownstreamSystem.objects.get(name="welink").state == SystemState.OK
    entry = LogEntry.objects.get(object_id="welink")
    assert entry.object_repr == "welink"
    assert "status dashboard" in entry.change_message
    # The entry is on the system's History page in the admin.
    admin = _superuser(django_user_model)
    history = admin.get("/admin/account_creation/downstreamsystem/welink/history/").content.decode()
    assert "Released from quarantine from the status dashboard." in history
    # Releasing again says there was nothing to do, and writes no history.
    again = client.post("/admin/status/release/", {"system": "welink"}, follow=True).content.decode()
    assert "WeLink was not quarantined; nothing to release." in again
    assert LogEntry.objects.filter(object_id="welink").count() == 1
    unknown = client.post("/admin/status/release/", {"system": "fax"}, follow=True).content.decode()
    assert "No downstream system is called &#x27;fax&#x27;." in unknown


def test_release_needs_the_change_permission_and_the_csrf_token(quarantined: None, django_user_model: Any) -> None:
    viewer = staff_client(django_user_model, username="viewer", perms=("view_accountcreationtask",))
    row = _quarantine_row(viewer.get("/admin/status/").content.decode())
    assert "<form" not in row  # the API's way, as a link
    assert "/account-creation/systems/welink/release/" in row
    assert viewer.post("/admin/status/release/", {"system": "welink"}).status_code == 403
    assert Client().post("/admin/status/release/", {"system": "welink"}).status_code == 302  # to the login
    root = django_user_model.objects.create_superuser("op", "op@example.com", "pw-for-tests-only")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(root)
    assert strict.post("/admin/status/release/", {"system": "welink"}).status_code == 403
    assert staff_client(django_user_model, username="op2").get("/admin/status/release/").status_code == 405
    assert DownstreamSystem.objects.get(name="welink").state == SystemState.QUARANTINED


def test_api_release_is_recorded_in_the_history_too(quarantined: None, api_client: Any) -> None:
    response = api_client.post("/account-creation/systems/welink/release/")
    assert response.status_code == 200, response.content
    entry = LogEntry.objects.get(object_id="welink")
    assert "the API" in entry.change_message
