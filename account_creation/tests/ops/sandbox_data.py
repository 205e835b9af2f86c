"""Real data for the operability tests: requests through the API, the engine with the real
connectors against the sandbox, some people failing (a department whose OU IDaaS refuses) so
there is something to retry, and some attempts retried (injected downstream errors).

(A department with *no* mapping does not fail any more: its tasks wait for the mapping.)"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.test import Client

from account_creation.connectors import reset_connectors
from account_creation.models import AccountCreationTask, TaskStatus
from account_creation.services.engine import AccountCreationService
from conftest import make_request, make_user
from sandbox.faults import faults_from_payload
from sandbox.server import SandboxServer

UNKNOWN_DEPARTMENT = "999999"  # mapped to an OU IDaaS refuses (CN= is not accepted)
REFUSED_OU = "CN=Refused,DC=example,DC=com"
MAX_RUNS = 12


@dataclass
class SandboxRun:
    good_key: str
    mixed_key: str
    failing_numbers: list[str]
    runs: int = 0
    summaries: list[Any] = field(default_factory=list)


def point_settings_at(server: SandboxServer, settings: Any) -> None:
    settings.IDAAS_BASE_URL = server.url
    settings.WELINK_BASE_URL = server.url
    settings.EMAIL_BASE_URL = server.url
    settings.ACCOUNT_CREATION_HTTP_TIMEOUT = 5.0
    settings.ACCOUNT_CREATION_BACKOFF_BASE_SECONDS = 0  # a retry happens at the next run
    settings.ACCOUNT_CREATION_MAX_RETRIES = 2
    reset_connectors()


def _post(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/account-creation/create_accounts/", body, format="json")
    assert response.status_code in (201, 207), response.content
    answer: dict[str, Any] = response.json()
    return answer


def run_engine_until_quiet() -> list[Any]:
    summaries = []
    for _ in range(MAX_RUNS):
        summary = AccountCreationService(max_tasks=500, concurrency=1).run()
        summaries.append(summary)
        if not summary.total("claimed"):
            return summaries
    raise AssertionError(f"the engine still claimed work after {MAX_RUNS} runs")


def make_sandbox_run(*, api_client: Any, server: SandboxServer, settings: Any) -> SandboxRun:
    """Two requests: one that completes, one where two people's department has an OU IDaaS refuses."""
    from departments.models import DepartmentMapping

    point_settings_at(server, settings)
    # Written past the admin's OU validation on purpose: IDaaS refuses it for these people only.
    DepartmentMapping.objects.update_or_create(
        idata_departmentcode=UNKNOWN_DEPARTMENT, defaults={"idaas_departmentcode": "X999", "ou": REFUSED_OU}
    )
    stamp = time.monotonic_ns()
    good_key, mixed_key = f"ops-good-{stamp}", f"ops-mixed-{stamp}"
    _post(api_client, make_request(
        [make_user("P100001", name="张三"), make_user("P100002", name="李四"), make_user("P100003", name="王五")],
        business_key=good_key,
    ))
    failing = ["P200002", "P200003"]
    _post(api_client, make_request(
        [
            make_user("P200001", name="赵六"),
            make_user(failing[0], name="钱七", departmentCode=UNKNOWN_DEPARTMENT),
            make_user(failing[1], name="孙八", departmentCode=UNKNOWN_DEPARTMENT),
        ],
        business_key=mixed_key,
    ))
    # Every third downstream call answers 500 for a while: retried attempts in the history.
    # Not IDaaS: the failing people must fail for their OU, not for an injected error.
    server.world.set_faults(faults_from_payload({"error_rate": 0.3, "seed": 11, "systems": ["welink", "email"]}))
    summaries = run_engine_until_quiet()
    server.world.set_faults(faults_from_payload({}))
    # What the fault left failed (retries used up) goes again without faults, so the only
    # failures left are the people with the unknown department (and their blocked tasks).
    leftover = AccountCreationTask.objects.filter(status__in=[TaskStatus.FAILED, TaskStatus.BLOCKED]).exclude(
        employee_number__in=failing
    )
    if leftover.exists():
        from account_creation.services.retry import task_retry_many

        task_retry_many(task_ids=list(leftover.values_list("pk", flat=True)))
        summaries += run_engine_until_quiet()
    return SandboxRun(good_key=good_key, mixed_key=mixed_key, failing_numbers=failing,
                      runs=len(summaries), summaries=summaries)


def staff_client(
    django_user_model: Any,
    *,
    staff: bool = True,
    username: str = "operator",
    perms: tuple[str, ...] = ("view_accountcreationtask", "change_accountcreationtask"),
) -> Client:
    """A signed-in user; an operator (staff, may view and retry tasks) unless told otherwise."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(username=username, password="pw-for-tests-only", is_staff=staff)
    if perms:
        granted = Permission.objects.filter(content_type__app_label="account_creation", codename__in=perms)
        user.user_permissions.add(*granted)
    client = Client()
    client.force_login(user)
    return client
