"""The status dashboard: staff only, renders real data, retries, bounded queries."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from account_creation.models import AccountCreationTask, TaskStatus
from account_creation.tests.ops.sandbox_data import SandboxRun, run_engine_until_quiet, staff_client
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db

PAGES = ["/admin/status/", "/admin/status/request/?business_key=x", "/admin/status/person/?q=P1"]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_goes_to_the_login_page(url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("url", PAGES)
def test_non_staff_is_refused(url: str, django_user_model: Any) -> None:
    assert staff_client(django_user_model, staff=False).get(url).status_code == 403


def test_retry_refused_to_anonymous_and_non_staff(django_user_model: Any) -> None:
    assert Client().post("/admin/status/retry/", {"task_id": "1"}).status_code == 302
    clerk = staff_client(django_user_model, staff=False)
    assert clerk.post("/admin/status/retry/", {"task_id": "1"}).status_code == 403


def test_admin_home_links_to_the_dashboard(django_user_model: Any) -> None:
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client = Client()
    client.force_login(user)
    page = client.get("/admin/").content.decode()
    assert 'href="/admin/status/"' in page


@pytest.mark.slow
def test_dashboard_renders_the_sandbox_run(sandbox_run: SandboxRun, django_user_model: Any) -> None:
    page = staff_client(django_user_model).get("/admin/status/").content.decode()
    for canvas in ("chart-status", "chart-day", "chart-week"):
        assert f'id="{canvas}"' in page
    assert "chartjs-4.6.1/chart.umd.min.js" in page
    assert 'id="ops-charts"' in page  # the chart data, rendered by the server
    # The failure reason, linked to the filtered task list.
    assert "IDaaS refused the user" in page
    assert "cause=idaas.refused" in page  # the code, not the English text
    assert sandbox_run.mixed_key in page
    assert sandbox_run.good_key in page
    assert "queue drained" in page  # engine runs


@pytest.mark.slow
def test_failure_reason_link_opens_the_filtered_task_list(sandbox_run: SandboxRun, django_user_model: Any) -> None:
    from account_creation.ops.selectors import attempt_error_reasons, failure_reasons

    client = staff_client(django_user_model, username="boss")
    django_user_model.objects.filter(username="boss").update(is_superuser=True)
    reason = failure_reasons()[0]
    assert reason.count == len(sandbox_run.failing_numbers)
    listing = client.get(reason.link)
    assert listing.status_code == 200
    assert sum(1 for n in sandbox_run.failing_numbers if n in listing.content.decode()) == 2
    attempts = attempt_error_reasons()[0]
    assert client.get(attempts.link).status_code == 200


@pytest.mark.slow
def test_request_grid_and_retry_button(sandbox_run: SandboxRun, django_user_model: Any, departments: None) -> None:
    client = staff_client(django_user_model)
    url = f"/admin/status/request/?business_key={sandbox_run.mixed_key}"
    page = client.get(url).content.decode()
    assert page.count('class="cell status-') == 9  # 3 people x 3 systems
    assert page.count('data-status="completed"') == 3
    assert page.count('data-status="failed"') == 2
    assert page.count('data-status="blocked"') == 4
    assert page.count('<button type="submit" class="retry">') == 6
    assert re.search(r"attempts: \d", page)  # attempt counts shown per cell

    # The cause is fixed (the department gets a valid OU), then one person's IDaaS task retried.
    from departments.models import DepartmentMapping

    good_ou = DepartmentMapping.objects.get(idata_departmentcode="120000").ou
    DepartmentMapping.objects.filter(idata_departmentcode="999999").update(ou=good_ou)
    failed = AccountCreationTask.objects.get(employee_number=sandbox_run.failing_numbers[0], account_type="idaas")
    response = client.post("/admin/status/retry/", {"task_id": str(failed.pk), "next": url}, follow=True)
    assert response.redirect_chain[-1][0] == url
    assert f"1 task(s) put back to pending: #{failed.pk}." in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == TaskStatus.PENDING
    run_engine_until_quiet()
    person = AccountCreationTask.objects.filter(employee_number=sandbox_run.failing_numbers[0])
    assert set(person.values_list("status", flat=True)) == {TaskStatus.COMPLETED}


def test_retry_needs_the_csrf_token(django_user_model: Any) -> None:
    user = django_user_model.objects.create_superuser("op", "op@example.com", "pw-for-tests-only")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post("/admin/status/retry/", {"task_id": "1"}).status_code == 403


def test_retry_refuses_what_it_cannot_retry_and_ignores_foreign_next(django_user_model: Any) -> None:
    client = staff_client(django_user_model)
    response = client.post(
        "/admin/status/retry/", {"task_id": ["424242", "nope"], "next": "https://evil.example/"}, follow=False
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/status/"
    page = client.get("/admin/status/").content.decode()
    assert "Task #424242 not retried" in page
    assert "Not a task id" in page


def test_dashboard_messages_and_refusals_follow_the_browsers_language(django_user_model: Any) -> None:
    client = staff_client(django_user_model)
    client.post("/admin/status/retry/", {"task_id": ["424242", "nope"]}, HTTP_ACCEPT_LANGUAGE="zh-CN")
    page = client.get("/admin/status/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "任务 #424242 未重试" in page
    assert "不是任务 ID：&#x27;nope&#x27;。" in page
    live = client.get("/admin/status/live/", {"view": "nope"}, HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert live.status_code == 400
    assert live.json()["detail"].startswith("view 必须是以下之一：dashboard")
    clerk = staff_client(django_user_model, username="clerk", perms=())
    refused = clerk.get("/admin/status/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert refused.status_code == 403
    assert "您缺少此页面所需的权限（查看账号创建任务）" in refused.content.decode()
    english = clerk.get("/admin/status/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "You lack the permission this page needs (view account creation tasks)" in english


@pytest.mark.slow
def test_person_search_shows_three_accounts_and_history(sandbox_run: SandboxRun, django_user_model: Any) -> None:
    client = staff_client(django_user_model)
    page = client.get("/admin/status/person/", {"q": "P100001"}).content.decode()
    task = AccountCreationTask.objects.get(employee_number="P100001", account_type="welink")
    assert "zP100001" in page  # the IDaaS username
    assert "zhangsan@corp.example.com" in page
    assert task.result
    assert task.result["account_id"] in page
    assert page.count('data-outcome="succeeded"') >= 3
    by_name = client.get("/admin/status/person/", {"q": "三"}).content.decode()
    assert "zP100001" in by_name  # one match: straight to the person
    several = client.get("/admin/status/person/", {"q": "P"}).content.decode()
    assert "6 people match" in several
    assert "P200003" in several
    nobody = client.get("/admin/status/person/", {"q": "no-such-person"}).content.decode()
    assert "Nobody matches" in nobody


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_page_queries_do_not_grow_with_data(django_user_model: Any, api_client: Any, departments: None) -> None:
    client = staff_client(django_user_model)
    urls = ["/admin/status/", "/admin/status/request/?business_key=grow-0", "/admin/status/person/?q=P500000"]

    def add(n: int, people: int) -> None:
        users = [make_user(f"P5{n}{i:04d}", name="张三") for i in range(people)]
        body = make_request(users, business_key=f"grow-{n}")
        assert api_client.post("/account-creation/create_accounts/", body, format="json").status_code == 201

    from account_creation.connectors import override_connectors
    from account_creation.connectors.fake import FakeConnector
    from account_creation.services.engine import AccountCreationService

    add(0, 2)
    with override_connectors({s: FakeConnector(s) for s in ("idaas", "welink", "email")}):
        AccountCreationService(max_tasks=500).run()
    small = [_queries(client, url) for url in urls]
    for n in range(1, 4):
        add(n, 15)
    add(9, 1)
    with override_connectors({s: FakeConnector(s) for s in ("idaas", "welink", "email")}):
        AccountCreationService(max_tasks=500).run()
        AccountCreationService(max_tasks=500).run()
    large = [_queries(client, url) for url in urls]
    assert large == small


@pytest.mark.parametrize("url", PAGES)
def test_staff_without_the_view_permission_is_refused(url: str, django_user_model: Any) -> None:
    """Staff status alone opened every person's accounts; now the pages need view on tasks."""
    response = staff_client(django_user_model, perms=()).get(url)
    assert response.status_code == 403
    assert b"ask an administrator" in response.content


def test_viewing_without_change_permission_shows_no_retry(django_user_model: Any, api_client: Any,
                                                         departments: None) -> None:
    from account_creation.connectors import override_connectors
    from account_creation.connectors.fake import FakeConnector
    from account_creation.services.engine import AccountCreationService

    api_client.post("/account-creation/create_accounts/", make_request(business_key="perm-1"), format="json")
    with override_connectors({s: FakeConnector(s, default="fail") for s in ("idaas", "welink", "email")}):
        AccountCreationService(max_tasks=10).run()
    failed = AccountCreationTask.objects.get(account_type="idaas")
    viewer = staff_client(django_user_model, username="viewer", perms=("view_accountcreationtask",))
    for url in ("/admin/status/request/?business_key=perm-1", "/admin/status/person/?q=P000126"):
        page = viewer.get(url)
        assert page.status_code == 200
        assert b'class="retry"' not in page.content
        assert b"retry-all" not in page.content
    assert viewer.post("/admin/status/retry/", {"task_id": str(failed.pk)}).status_code == 403
    failed.refresh_from_db()
    assert failed.status == TaskStatus.FAILED
    operator = staff_client(django_user_model, username="op2")
    assert b'class="retry"' in operator.get("/admin/status/request/?business_key=perm-1").content
