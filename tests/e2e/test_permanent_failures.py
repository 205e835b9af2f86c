"""Permanent failures: the operator reads why, fixes the cause, retries, and the work completes."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from account_creation.connectors import reset_connectors
from account_creation.models import AccountCreationTask, TaskStatus
from sandbox.server import SandboxServer
from tests.e2e.conftest import all_pages, run_until_quiet, statuses

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def tasks_of(number: str) -> dict[str, AccountCreationTask]:
    return {task.account_type: task for task in AccountCreationTask.objects.filter(employee_number=number)}


def test_an_ou_idaas_refuses_fails_blocks_dependents_then_retry_completes(
    sandbox: SandboxServer, submit: Any, api_client: APIClient
) -> None:
    # A DN our validation accepts (CN= containers are allowed) but the directory refuses.
    response = api_client.post(
        "/department-mappings/",
        {"idata_departmentcode": "990000", "idaas_departmentcode": "WW990000", "department_name": "销售部",
         "ou": "CN=Staff,DC=example,DC=com"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    mapping_id = response.json()["id"]
    submit([("P004000", "王芳")], department_code="990000")
    submit([("P004001", "李雷")])
    run_until_quiet(concurrency=3)

    assert {t: task.status for t, task in tasks_of("P004001").items()} == dict.fromkeys(
        ("idaas", "welink", "email"), TaskStatus.COMPLETED)
    failed = tasks_of("P004000")
    idaas = failed["idaas"]
    assert idaas.status == TaskStatus.FAILED
    # Readable by an operator: which system, what it said, what to check.
    assert idaas.last_error.startswith("IDaaS refused the user (HTTP 400, code 400: ")
    assert "ou part 'CN=Staff': only OU= and DC= are accepted" in idaas.last_error
    assert "Check the OU 'CN=Staff,DC=example,DC=com'" in idaas.last_error
    assert idaas.logs.count() == 1  # permanent: not retried on its own
    for dependent in ("welink", "email"):
        assert failed[dependent].status == TaskStatus.BLOCKED
        assert failed[dependent].last_error.startswith(
            f"Blocked: this account needs the person's IDaaS account, and IDaaS task #{idaas.pk} failed: "
        )
        assert failed[dependent].logs.count() == 0
    assert "P004000" not in {user["employeeNumber"] for user in sandbox.state["accounts"]["idaas"]}
    detail = api_client.get(f"/account-creation/{idaas.pk}/").json()
    assert detail["status"] == "failed"
    assert detail["last_error"] == idaas.last_error

    # Fix the cause, retry the failed task: it completes and releases its dependents.
    fixed = api_client.patch(f"/department-mappings/{mapping_id}/", {"ou": "OU=销售部,DC=example,DC=com"},
                             format="json")
    assert fixed.status_code == 200, fixed.json()
    retried = api_client.post(f"/account-creation/{idaas.pk}/retry/")
    assert retried.status_code == 200, retried.json()
    assert retried.json()["status"] == "pending"
    run_until_quiet(concurrency=3)

    assert statuses() == {TaskStatus.COMPLETED: 6}
    user = next(u for u in sandbox.state["accounts"]["idaas"] if u["employeeNumber"] == "P004000")
    assert user["ou"] == "OU=销售部,DC=example,DC=com"
    assert user["create_calls"] == 2  # the refused call and the one that created it
    logs = all_pages(api_client, f"/account-creation/{idaas.pk}/logs/")
    assert [log["outcome"] for log in logs] == ["failed", "succeeded"]
    assert api_client.post(f"/account-creation/{idaas.pk}/retry/").status_code == 409


def test_wrong_welink_credentials_quarantine_welink_then_a_release_after_the_fix_completes(
    sandbox: SandboxServer, submit: Any, api_client: APIClient, settings: Any
) -> None:
    good_secret = settings.WELINK_CLIENT_SECRET
    settings.WELINK_CLIENT_SECRET = "wrong-welink-secret-0000"  # noqa: S105 - a test value
    reset_connectors()
    numbers = ["P005000", "P005001", "P005002"]
    submit([(number, name) for number, name in zip(numbers, ["韩梅梅", "林涛", "吉姆"], strict=True)])
    run_until_quiet(concurrency=3)

    # Issue #17: no task can fix a wrong secret: WeLink is quarantined, its tasks wait unspent.
    welink = AccountCreationTask.objects.filter(account_type="welink").order_by("pk")
    assert {task.status for task in welink} == {TaskStatus.PENDING}
    tried = [task for task in welink if task.logs.exists()]
    assert tried  # the ones in flight when the refusal came; the others were never attempted
    for task in tried:
        assert task.last_error.startswith(
            "WeLink refused the client credentials (code 10007: wrong client id or secret). "
            "Check WELINK_CLIENT_ID and WELINK_CLIENT_SECRET"
        ), task.last_error
    for task in welink:
        assert task.logs.count() == task.attempt_base  # attempts made, none spent
    # Email depends on IDaaS only: it went ahead.
    assert AccountCreationTask.objects.exclude(account_type="welink").filter(
        status=TaskStatus.COMPLETED).count() == 6
    # The refusal was remembered: one token request, not one per task (WeLink locks clients).
    state = sandbox.state
    assert state["totals"]["requests"]["welink"] == 1
    assert state["accounts"]["welink"] == []

    settings.WELINK_CLIENT_SECRET = good_secret
    reset_connectors()
    assert api_client.post("/account-creation/systems/welink/release/").status_code == 200
    run_until_quiet(concurrency=3)

    assert statuses() == {TaskStatus.COMPLETED: 9}
    assert {u["corpUserId"] for u in sandbox.state["accounts"]["welink"]} == set(numbers)
    for task in welink:
        detail = api_client.get(f"/account-creation/{task.pk}/").json()
        assert detail["status"] == "completed"
        assert detail["attempts_left"] == 4  # only the attempt that succeeded counts
        assert detail["last_error"] == ""
