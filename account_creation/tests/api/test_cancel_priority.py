"""Cancellation, priority and one person on demand, through HTTP, the services and the command."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from account_creation.connectors import override_connectors
from account_creation.connectors.fake import FakeConnector
from account_creation.models import AccountCreationLog, AccountCreationTask, MailboxAddress, TaskStatus
from account_creation.services.engine import AccountCreationService
from account_creation.services.queue import task_claim_batch, task_finish_failure, task_finish_success
from accountsync.errors import RetryableError
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db

CREATE = "/account-creation/create_accounts/"
REQUESTS = "/account-creation/requests/"
TYPES = ("idaas", "welink", "email")


@pytest.fixture
def fakes():
    connectors = {system: FakeConnector(system) for system in TYPES}
    with override_connectors(connectors):
        yield connectors


def create(client, users=None, **overrides):
    response = client.post(CREATE, make_request(users, **overrides), format="json")
    assert response.status_code in (200, 201, 207), response.json()
    return response.json()


def cancel(client, request_id):
    return client.post(f"{REQUESTS}{request_id}/cancel/")


def statuses(number="P000126"):
    return dict(AccountCreationTask.objects.filter(employee_number=number).values_list("account_type", "status"))


# --- cancellation ----------------------------------------------------------------------


def test_cancel_withdraws_every_task_that_has_not_started(api_client, departments, fakes):
    request_id = create(api_client)["requestId"]
    MailboxAddress.objects.create(
        employee_number="P000126", local_part="zhangsan", base_local_part="zhangsan", domain="corp.example.com",
        address="zhangsan@corp.example.com",
    )
    response = cancel(api_client, request_id)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["cancelledTasks"] == 3
    assert body["status"] == "cancelled"
    assert body["cancelledAt"] is not None
    assert body["progress"]["cancelled"] == 3
    assert statuses() == {"idaas": "cancelled", "welink": "cancelled", "email": "cancelled"}
    assert "Cancelled by API client" in body["people"][0]["accounts"]["idaas"]["lastError"]
    # The address allocated to a person whose IDaaS account was never created is released.
    assert not MailboxAddress.objects.filter(employee_number="P000126").exists()
    # Nothing cancelled is ever attempted.
    AccountCreationService(max_tasks=50).run()
    assert not any(fake.calls for fake in fakes.values())
    assert not AccountCreationLog.objects.exists()


def test_cancelling_a_finished_request_answers_409_saying_so(api_client, departments, fakes):
    request_id = create(api_client)["requestId"]
    AccountCreationService(max_tasks=50).run()
    refused = cancel(api_client, request_id)
    assert refused.status_code == 409
    assert refused.json()["code"] == "request_finished"
    assert "already finished (completed)" in refused.json()["detail"]
    assert statuses() == {"idaas": "completed", "welink": "completed", "email": "completed"}
    again = cancel(api_client, create(api_client, [make_user("P2")], business_key="k2")["requestId"])
    assert again.status_code == 200
    assert cancel(api_client, again.json()["requestId"]).status_code == 409


def test_cancelled_tasks_never_block_a_later_request_for_the_same_person(api_client, departments, fakes):
    cancel(api_client, create(api_client)["requestId"])
    later = create(api_client, business_key="65091")
    assert later["created_tasks"] == 3
    assert later["warnings"] == []
    AccountCreationService(max_tasks=50).run()
    tasks = AccountCreationTask.objects.filter(employee_number="P000126")
    assert sorted(tasks.values_list("status", flat=True)) == ["cancelled"] * 3 + ["completed"] * 3
    stats = api_client.get("/account-creation/task_stats/").json()
    assert stats["cancelled_tasks"] == 3
    assert stats["failed_tasks"] == 0
    assert stats["overall_completion_rate"] == 100.0


def test_a_running_task_finishes_and_keeps_its_result(api_client, departments):
    request_id = create(api_client)["requestId"]
    [claim] = task_claim_batch(runner_id="r1", limit=1, account_types=TYPES)
    assert claim.task.account_type == "idaas"
    body = cancel(api_client, request_id).json()
    assert body["cancelledTasks"] == 2
    assert body["status"] == "in_progress"
    assert statuses() == {"idaas": "processing", "welink": "cancelled", "email": "cancelled"}
    from account_creation.connectors.base import AccountResult

    task_finish_success(claim=claim, runner_id="r1", result=AccountResult("id-1", "zP000126", "z@x"))
    body = api_client.get(f"{REQUESTS}{request_id}/").json()
    assert statuses() == {"idaas": "completed", "welink": "cancelled", "email": "cancelled"}
    assert body["status"] == "cancelled"
    assert body["people"][0]["accounts"]["idaas"]["username"] == "zP000126"
    assert cancel(api_client, request_id).status_code == 409


def test_a_running_task_that_would_retry_is_cancelled_instead(api_client, departments):
    request_id = create(api_client)["requestId"]
    [claim] = task_claim_batch(runner_id="r1", limit=1, account_types=TYPES)
    cancel(api_client, request_id)
    outcome = task_finish_failure(claim=claim, runner_id="r1", error=RetryableError("503"))
    assert outcome.kind == "cancelled"
    assert statuses()["idaas"] == "cancelled"
    assert api_client.get(f"{REQUESTS}{request_id}/").json()["status"] == "cancelled"


def test_cancelled_is_its_own_status_in_the_admin_filters_and_metrics(api_client, departments, admin_client):
    cancel(api_client, create(api_client)["requestId"])
    page = admin_client.get("/admin/account_creation/accountcreationtask/", {"status__exact": "cancelled"})
    assert page.status_code == 200
    assert page.context["cl"].result_count == 3
    from prometheus_client import generate_latest

    from account_creation.ops.metrics import metrics_registry

    text = generate_latest(metrics_registry()).decode()
    assert 'accountsync_tasks{status="cancelled",system="idaas"} 1.0' in text


# --- priority --------------------------------------------------------------------------


def test_a_high_priority_person_is_claimed_before_a_normal_backlog(api_client, departments):
    backlog = [make_user(f"B{i:04d}", name="李四") for i in range(1000)]
    create(api_client, backlog, business_key="backlog")
    urgent = create(api_client, [make_user("URGENT1", name="王五")], business_key="urgent", priority="high")
    assert urgent["success"] is True
    first = task_claim_batch(runner_id="r1", limit=20, account_types=TYPES)
    assert first[0].task.employee_number == "URGENT1"
    assert first[0].task.account_type == "idaas"
    from account_creation.connectors.base import AccountResult

    task_finish_success(claim=first[0], runner_id="r1", result=AccountResult("id", "wURGENT1", "w@x"))
    # IDaaS before WeLink and Email still holds; once it completed they lead the next batch.
    second = task_claim_batch(runner_id="r1", limit=20, account_types=TYPES)
    assert [(c.task.employee_number, c.task.account_type) for c in second[:2]] == [
        ("URGENT1", "welink"), ("URGENT1", "email"),
    ]
    assert api_client.get(f"{REQUESTS}{urgent['requestId']}/").json()["priority"] == "high"
    task = api_client.get("/account-creation/", {"employee_number": "URGENT1"}).json()["results"][0]
    assert task["priority"] == "high"


def test_priority_is_validated(api_client, departments):
    response = api_client.post(CREATE, make_request(priority="urgent"), format="json")
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["priority"]


@pytest.mark.skipif(django_settings.DATABASE_VENDOR != "postgresql", reason="a PostgreSQL plan")
def test_the_claim_with_priority_is_an_index_scan_on_postgresql(api_client, departments):
    from django.utils import timezone

    from account_creation.selectors import eligible_tasks

    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            plan = eligible_tasks(now=timezone.now())[:50].explain()
        finally:
            cursor.execute("SET enable_seqscan = on")
    assert "task_claim_idx" in plan
    assert "Sort" not in plan.split("->")[1]


# --- one person on demand --------------------------------------------------------------


def test_one_person_runs_now_in_order_and_the_command_says_what_happened(api_client, departments, fakes):
    create(api_client, [make_user("P000126"), make_user("P000127", name="李四")])
    out = StringIO()
    call_command("process_account_creation_tasks", "--employee-number", "P000126", stdout=out)
    text = out.getvalue()
    assert statuses("P000126") == {"idaas": "completed", "welink": "completed", "email": "completed"}
    assert statuses("P000127") == {"idaas": "pending", "welink": "pending", "email": "pending"}
    assert fakes["idaas"].call_times[0] < fakes["welink"].call_times[0]
    assert "Employee P000126: 3 attempt(s)" in text
    assert "attempt: idaas task" in text
    assert "completed" in text
    assert re.search(r"now: email task #\d+ completed: created \(zP000126, zhangsan@corp.example.com", text)


def test_on_demand_reports_why_a_task_waits(api_client, departments, fakes, settings):
    settings.ACCOUNT_CREATION_BACKOFF_BASE_SECONDS = 3600
    fakes["idaas"].script_for("P000126", "retry")
    create(api_client)
    out = StringIO()
    call_command("process_account_creation_tasks", "--employee-number", "P000126", stdout=out)
    text = out.getvalue()
    assert "attempt: idaas task" in text
    assert "retry" in text
    assert "waits for its next attempt at" in text
    assert "waits for the idaas account to be created first" in text
    assert len(fakes["idaas"].calls) == 1


def test_on_demand_for_an_unknown_person_says_what_to_check(departments):
    with pytest.raises(CommandError, match="has no account creation task"):
        call_command("process_account_creation_tasks", "--employee-number", "NOBODY", stdout=StringIO())


def test_on_demand_leaves_a_task_another_runner_holds(api_client, departments, fakes):
    create(api_client)
    task_claim_batch(runner_id="other-runner", limit=1, account_types=TYPES)
    out = StringIO()
    call_command("process_account_creation_tasks", "--employee-number", "P000126", stdout=out)
    assert not fakes["idaas"].calls
    assert "another runner holds it (other-runner)" in out.getvalue()
    assert statuses()["idaas"] == TaskStatus.PROCESSING


def test_the_person_page_runs_a_person_now_for_operators_who_may_change_tasks(
    api_client, departments, fakes, django_user_model
):
    from account_creation.tests.ops.sandbox_data import staff_client

    create(api_client)
    viewer = staff_client(django_user_model, username="viewer", perms=("view_accountcreationtask",))
    page = viewer.get("/admin/status/person/", {"employee": "P000126"}).content.decode()
    assert 'id="run-now"' not in page
    assert viewer.post("/admin/status/run-now/", {"employee": "P000126"}).status_code == 403
    assert statuses()["idaas"] == "pending"

    operator = staff_client(django_user_model)
    page = operator.get("/admin/status/person/", {"employee": "P000126"}).content.decode()
    assert 'id="run-now"' in page
    response = operator.post("/admin/status/run-now/", {"employee": "P000126"}, follow=True)
    assert response.redirect_chain[-1][0] == "/admin/status/person/?employee=P000126"
    assert statuses() == {"idaas": "completed", "welink": "completed", "email": "completed"}
    text = response.content.decode()
    assert "Ran 3 attempt(s) for P000126" in text
    assert "zhangsan@corp.example.com" in text


def test_cancel_and_request_messages_follow_accept_language(api_client, departments, fakes):
    request_id = create(api_client)["requestId"]
    cancelled = api_client.post(f"{REQUESTS}{request_id}/cancel/", HTTP_ACCEPT_LANGUAGE="zh-CN").json()
    assert "撤回" in cancelled["people"][0]["accounts"]["idaas"]["lastError"]
    english = api_client.get(f"{REQUESTS}{request_id}/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert english["people"][0]["accounts"]["idaas"]["lastError"].startswith("Cancelled by API client")
    refused = api_client.post(f"{REQUESTS}{request_id}/cancel/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert refused.status_code == 409
    assert "已结束" in refused.json()["detail"]


def test_on_demand_and_the_request_say_what_a_waiting_task_waits_for(
    api_client, departments, fakes, django_user_model
):
    from account_creation.tests.ops.sandbox_data import staff_client

    request_id = create(api_client, [make_user("P000126", departmentCode="999999")])["requestId"]
    out = StringIO()
    call_command("process_account_creation_tasks", "--employee-number", "P000126", stdout=out)
    text = out.getvalue()
    assert not fakes["idaas"].calls
    assert re.search(r"now: idaas task #\d+ pending: Waiting for a department mapping for department code 999999",
                     text), text
    assert "due; runs at the next run" not in text
    account = api_client.get(f"{REQUESTS}{request_id}/").json()["people"][0]["accounts"]["idaas"]
    assert account["status"] == "pending"
    assert account["attempts"] == 0
    assert "department code 999999" in account["waitingFor"]
    chinese = api_client.get(f"{REQUESTS}{request_id}/", HTTP_ACCEPT_LANGUAGE="zh-CN").json()
    assert "999999" in chinese["people"][0]["accounts"]["idaas"]["waitingFor"]
    assert "Waiting" not in chinese["people"][0]["accounts"]["idaas"]["waitingFor"]
    assert chinese["people"][0]["accounts"]["welink"]["waitingFor"] is None
    page = staff_client(django_user_model).get("/admin/status/person/", {"employee": "P000126"}).content.decode()
    assert "Waiting for a department mapping for department code 999999" in page


def test_on_demand_says_a_quarantined_system_holds_the_task(api_client, departments, fakes):
    from datetime import timedelta

    from django.utils import timezone

    from account_creation.models import DownstreamSystem, SystemState

    create(api_client)
    now = timezone.now()
    DownstreamSystem.objects.update_or_create(
        name="idaas", defaults={"state": SystemState.QUARANTINED, "reason": "credentials refused", "since": now,
                                "next_probe_at": now + timedelta(hours=1)},
    )
    out = StringIO()
    call_command("process_account_creation_tasks", "--employee-number", "P000126", stdout=out)
    assert not fakes["idaas"].calls
    assert "waits: the system is quarantined since" in out.getvalue()
    assert "(credentials refused)" in out.getvalue()
    assert "/account-creation/systems/idaas/release/" in out.getvalue()
