"""Downstream health, end to end against the sandbox: waiting for configuration, quarantine,
probes and releases, rate-limited answers. Real API, engine, connectors and HTTP."""

from __future__ import annotations

import io
import re
import time
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from account_creation.connectors import reset_connectors
from account_creation.models import AccountCreationLog, AccountCreationTask, DownstreamSystem, TaskStatus
from conftest import client_with_key, issue_key
from sandbox.server import SandboxServer
from tests.e2e.conftest import people, run_times, run_until_quiet, set_faults, statuses

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def tasks_of(system: str) -> list[AccountCreationTask]:
    return list(AccountCreationTask.objects.filter(account_type=system))


def attempts_of(system: str) -> int:
    return AccountCreationLog.objects.filter(task__account_type=system).count()


def systems(client: APIClient) -> dict[str, dict[str, Any]]:
    response = client.get("/account-creation/systems/")
    assert response.status_code == 200, response.content
    return {item["name"]: item for item in response.json()}


def dry_run() -> str:
    out = io.StringIO()
    call_command("process_account_creation_tasks", "--dry-run", stdout=out)
    return out.getvalue()


def test_an_unmapped_department_waits_without_spending_attempts_and_runs_once_mapped(
    sandbox: SandboxServer, submit: Any, api_client: APIClient
) -> None:
    submit([("P007001", "王芳")], department_code="770000")
    submit([("P007002", "李雷")])
    for _ in range(3):  # as many runs as it takes: nothing is spent while the mapping is missing
        run_times(1, concurrency=2)
    waiting = AccountCreationTask.objects.get(employee_number="P007001", account_type="idaas")
    assert waiting.status == TaskStatus.PENDING
    assert waiting.logs.count() == 0
    assert AccountCreationTask.objects.filter(employee_number="P007002", status=TaskStatus.COMPLETED).count() == 3
    shown = api_client.get(f"/account-creation/{waiting.pk}/").json()
    assert "department code 770000" in shown["waiting_for"]
    assert "load_department_mappings" in shown["waiting_for"]
    assert shown["attempts_left"] == 5
    assert "1 wait: Waiting for a department mapping for department code 770000" in dry_run()

    response = api_client.post(
        "/department-mappings/",
        {"idata_departmentcode": "770000", "idaas_departmentcode": "WW770000", "department_name": "新部门",
         "ou": "OU=新部门,DC=example,DC=com"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response["X-Released-Tasks"] == "1"
    run_until_quiet(concurrency=2)
    for task in AccountCreationTask.objects.filter(employee_number="P007001"):
        assert task.status == TaskStatus.COMPLETED, task.last_error
        assert task.logs.count() == 1  # completed at its first attempt, no retry by hand


def test_a_wrong_welink_secret_quarantines_welink_and_the_probe_completes_all_after_the_fix(
    sandbox: SandboxServer, submit: Any, api_client: APIClient, settings: Any
) -> None:
    good_secret = settings.WELINK_CLIENT_SECRET
    settings.WELINK_CLIENT_SECRET = "rotated-but-not-updated"  # noqa: S105 - a wrong value on purpose
    settings.ACCOUNT_CREATION_QUARANTINE_PROBE_SECONDS = 3600
    reset_connectors()
    submit(people(12, start=7100))
    run_until_quiet(concurrency=4)

    # A handful of attempts in all (those already in flight), not one per task, none spent.
    assert attempts_of("welink") <= 4
    assert {task.status for task in tasks_of("welink")} == {TaskStatus.PENDING}
    assert all(task.attempt_base == task.logs.count() for task in tasks_of("welink"))
    # Other systems keep flowing.
    assert {task.status for task in tasks_of("idaas") + tasks_of("email")} == {TaskStatus.COMPLETED}
    welink = systems(api_client)["welink"]
    assert welink["state"] == "quarantined"
    assert "WELINK_CLIENT_SECRET" in welink["reason"]
    assert welink["reason"].startswith("WeLink refused the client credentials")
    # The same stored reason in Chinese for a Chinese reader (API and /healthz).
    chinese = api_client.get("/account-creation/systems/", HTTP_ACCEPT_LANGUAGE="zh-CN").json()
    (reason_zh,) = [item["reason"] for item in chinese if item["name"] == "welink"]
    assert reason_zh.startswith("WeLink 拒绝了客户端凭据")
    assert "请检查 WELINK_CLIENT_ID 和 WELINK_CLIENT_SECRET" in reason_zh
    health_zh = api_client.get("/healthz", HTTP_ACCEPT_LANGUAGE="zh-CN").json()
    assert health_zh["systems"]["welink"]["reason"] == reason_zh
    assert any(reason_zh in warning for warning in health_zh["warnings"])
    assert "rotated-but-not-updated" not in str(systems(api_client))
    assert welink["since"]
    assert welink["nextProbeAt"]
    assert welink["waitingTasks"] == 12
    assert systems(api_client)["idaas"]["state"] == "ok"
    assert "12 wait: welink quarantined since" in dry_run()
    health = api_client.get("/healthz").json()
    assert health["systems"]["welink"]["state"] == "quarantined"
    assert any("welink is quarantined" in warning for warning in health["warnings"])

    # The secret is fixed; the probe is due: one task tries, its success releases every runner.
    settings.WELINK_CLIENT_SECRET = good_secret
    reset_connectors()
    DownstreamSystem.objects.filter(name="welink").update(next_probe_at="2000-01-01T00:00:00Z")
    run_until_quiet(concurrency=4)
    assert statuses() == {TaskStatus.COMPLETED: 36}
    assert systems(api_client)["welink"]["state"] == "ok"


def test_a_503_outage_quarantines_after_the_threshold_and_a_release_resumes(
    sandbox: SandboxServer, submit: Any, api_client: APIClient, settings: Any
) -> None:
    settings.ACCOUNT_CREATION_QUARANTINE_AFTER = 3
    settings.ACCOUNT_CREATION_QUARANTINE_PROBE_SECONDS = 3600
    submit(people(10, start=7200))
    set_faults(sandbox, error_rate=1.0, systems=["welink"])
    run_times(4, concurrency=2)  # not "until quiet": quarantined tasks wait on purpose
    welink = systems(api_client)["welink"]
    assert welink["state"] == "quarantined"
    assert re.match(r"\d+ failures in a row without a usable answer \(last: WeLink .*HTTP 50[03]", welink["reason"])
    chinese = api_client.get("/account-creation/systems/", HTTP_ACCEPT_LANGUAGE="zh-CN").json()
    (reason_zh,) = [item["reason"] for item in chinese if item["name"] == "welink"]
    assert re.match(r"连续 \d+ 次失败，未得到可用的应答（最后一次：WeLink .*HTTP 50[03]", reason_zh), reason_zh
    health_zh = api_client.get("/healthz", HTTP_ACCEPT_LANGUAGE="zh-CN").json()
    assert health_zh["systems"]["welink"]["reason"] == reason_zh
    spent = sum(task.logs.count() - task.attempt_base for task in tasks_of("welink"))
    assert spent <= 3  # the failures before the threshold; none after
    assert {task.status for task in tasks_of("welink")} == {TaskStatus.PENDING}
    assert {task.status for task in tasks_of("email")} == {TaskStatus.COMPLETED}

    set_faults(sandbox)
    read_only = client_with_key(issue_key("reader", origin_systems=("oa",), scopes=("read",)))
    assert read_only.post("/account-creation/systems/welink/release/").status_code == 403
    operator = client_with_key(issue_key("operator", origin_systems=("oa",), scopes=("read", "retry")))
    released = operator.post("/account-creation/systems/welink/release/")
    assert released.status_code == 200, released.content
    assert released.json()["state"] == "ok"
    assert operator.post("/account-creation/systems/nosuch/release/").status_code == 404
    run_until_quiet(concurrency=2)
    assert statuses() == {TaskStatus.COMPLETED: 30}


def test_a_failing_probe_extends_the_quarantine(
    sandbox: SandboxServer, submit: Any, api_client: APIClient, settings: Any
) -> None:
    settings.ACCOUNT_CREATION_QUARANTINE_AFTER = 2
    settings.ACCOUNT_CREATION_QUARANTINE_PROBE_SECONDS = 3600
    submit(people(4, start=7300))
    set_faults(sandbox, error_rate=1.0, systems=["welink"])
    run_times(3, concurrency=1)
    first = DownstreamSystem.objects.get(name="welink")
    DownstreamSystem.objects.filter(name="welink").update(next_probe_at="2000-01-01T00:00:00Z")
    before = attempts_of("welink")
    run_times(1, concurrency=2)
    assert attempts_of("welink") == before + 1  # exactly one probe
    after = DownstreamSystem.objects.get(name="welink")
    assert after.state == "quarantined"
    assert after.since == first.since
    assert after.next_probe_at is not None
    assert after.next_probe_at.year > 2000


def test_rate_limited_answers_slow_the_system_and_spend_no_attempts(
    sandbox: SandboxServer, submit: Any, api_client: APIClient, settings: Any
) -> None:
    settings.ACCOUNT_CREATION_MAX_RETRIES = 2
    submit(people(30, start=7400))
    set_faults(sandbox, rate_limit_per_s=10, systems=["welink"])
    started = time.monotonic()
    run_until_quiet(concurrency=8)
    assert statuses() == {TaskStatus.COMPLETED: 90}
    row = DownstreamSystem.objects.get(name="welink")
    assert row.rate_limited >= 1
    assert row.rate_allowed is not None  # slowed down for every runner
    assert time.monotonic() - started < 60
    metrics = client_with_key(issue_key("prom", scopes=("metrics",))).get("/metrics").content.decode()
    assert f'accountsync_rate_limited_answers_total{{system="welink"}} {float(row.rate_limited)}' in metrics
    assert 'accountsync_system_quarantined{system="welink"} 0.0' in metrics
