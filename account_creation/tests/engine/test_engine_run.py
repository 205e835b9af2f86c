"""The engine's behaviour through AccountCreationService and the command."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from account_creation.connectors.base import AccountResult
from account_creation.messages import stop_reason_text
from account_creation.models import AccountCreationLog, AccountCreationTask, AttemptOutcome, EngineRun, TaskStatus
from account_creation.services.backoff import backoff_seconds
from account_creation.services.engine import AccountCreationService
from account_creation.services.queue import task_claim_batch, task_finish_success, task_recover_expired_leases

pytestmark = pytest.mark.django_db


def statuses(number="P000126"):
    return dict(
        AccountCreationTask.objects.filter(employee_number=number).values_list("account_type", "status")
    )


def run(**kwargs):
    kwargs.setdefault("max_tasks", 50)
    return AccountCreationService(**kwargs).run()


def test_one_run_completes_a_person_in_dependency_order(submit, fakes):
    submit()
    summary = run()
    assert statuses() == {"idaas": "completed", "welink": "completed", "email": "completed"}
    # IDaaS was called before WeLink and Email.
    assert fakes["idaas"].call_times[0] < fakes["welink"].call_times[0]
    assert fakes["idaas"].call_times[0] < fakes["email"].call_times[0]
    assert summary.total("completed") == 3
    task = AccountCreationTask.objects.get(account_type="email")
    assert task.result is not None
    assert task.result["email"].endswith("@corp.example.com")
    assert task.logs.get().outcome == AttemptOutcome.SUCCEEDED


def test_every_system_gets_the_same_address_and_username(submit, fakes):
    submit()
    run()
    emails = {call.email for f in fakes.values() for call in f.calls}
    usernames = {call.username for f in fakes.values() for call in f.calls}
    assert len(emails) == 1
    assert len(usernames) == 1


def test_dependents_wait_while_idaas_retries(submit, fakes, settings):
    settings.ACCOUNT_CREATION_BACKOFF_BASE_SECONDS = 60
    fakes["idaas"].script_for("P000126", "retry")
    submit()
    run()
    assert statuses() == {"idaas": "pending", "welink": "pending", "email": "pending"}
    assert fakes["welink"].calls == []
    assert fakes["email"].calls == []
    idaas = AccountCreationTask.objects.get(account_type="idaas")
    assert idaas.next_attempt_at is not None
    assert idaas.next_attempt_at > timezone.now() + timedelta(seconds=25)
    assert "503" in idaas.last_error
    # Not due yet: a second run does nothing.
    run()
    assert len(fakes["idaas"].calls) == 1


def test_retry_with_zero_backoff_completes_on_the_next_run(submit, fakes, settings):
    settings.ACCOUNT_CREATION_BACKOFF_BASE_SECONDS = 0
    fakes["idaas"].script_for("P000126", "retry", "boom")
    submit()
    run()
    run()
    assert statuses()["idaas"] == "pending"
    run()
    assert statuses() == {"idaas": "completed", "welink": "completed", "email": "completed"}
    logs = list(AccountCreationLog.objects.filter(task__account_type="idaas").order_by("execution_attempt"))
    assert [log.outcome for log in logs] == ["retry", "retry", "succeeded"]
    assert "ValueError" in logs[1].error_message
    assert "Traceback" in logs[1].traceback


def test_backoff_grows_exponentially_with_jitter_and_cap(settings):
    settings.ACCOUNT_CREATION_BACKOFF_BASE_SECONDS = 60
    settings.ACCOUNT_CREATION_BACKOFF_MAX_SECONDS = 600
    for attempt, full in [(1, 60), (2, 120), (3, 240), (4, 480), (5, 600), (9, 600)]:
        delays = [backoff_seconds(attempt) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full / 10  # jittered, not constant


def test_retries_exhausted_fail_the_task_and_block_dependents(submit, fakes, settings):
    settings.ACCOUNT_CREATION_BACKOFF_BASE_SECONDS = 0
    settings.ACCOUNT_CREATION_MAX_RETRIES = 3
    fakes["idaas"].default = "retry"
    submit()
    for _ in range(5):
        run()
    assert statuses() == {"idaas": "failed", "welink": "blocked", "email": "blocked"}
    assert len(fakes["idaas"].calls) == 3
    welink = AccountCreationTask.objects.get(account_type="welink")
    idaas = AccountCreationTask.objects.get(account_type="idaas")
    assert f"IDaaS task #{idaas.pk}" in welink.last_error
    assert "Gave up after 3 attempts" in idaas.last_error
    assert "retried automatically" not in idaas.last_error.lower()  # no contradiction


def test_permanent_error_fails_at_once(submit, fakes):
    fakes["idaas"].script_for("P000126", "fail")
    submit()
    summary = run()
    assert statuses() == {"idaas": "failed", "welink": "blocked", "email": "blocked"}
    assert len(fakes["idaas"].calls) == 1
    assert summary.per_type["idaas"]["failed"] == 1
    assert summary.per_type["welink"]["blocked"] == 1
    assert summary.per_type["email"]["blocked"] == 1


def test_welink_failure_does_not_block_email(submit, fakes):
    fakes["welink"].script_for("P000126", "fail")
    submit()
    run()
    assert statuses() == {"idaas": "completed", "welink": "failed", "email": "completed"}


def test_retry_api_releases_blocked_dependents_after_idaas_completes(submit, fakes, api_client):
    fakes["idaas"].script_for("P000126", "fail")
    submit()
    run()
    welink = AccountCreationTask.objects.get(account_type="welink")
    idaas = AccountCreationTask.objects.get(account_type="idaas")
    # Retrying a completed or pending task is refused.
    assert api_client.post(f"/account-creation/{idaas.pk}/retry/").status_code == 200
    assert api_client.post(f"/account-creation/{idaas.pk}/retry/").status_code == 409
    assert statuses()["welink"] == "blocked"
    run()
    assert statuses() == {"idaas": "completed", "welink": "completed", "email": "completed"}
    # Old attempt logs stay visible; the budget is fresh.
    logs = api_client.get(f"/account-creation/{idaas.pk}/logs/").json()["results"]
    assert [log["outcome"] for log in logs] == ["failed", "succeeded"]
    detail = api_client.get(f"/account-creation/{idaas.pk}/").json()
    assert detail["attempts"] == 2
    assert api_client.post(f"/account-creation/{welink.pk}/retry/").status_code == 409


def test_retrying_a_blocked_task_retries_its_failed_dependency(submit, fakes, api_client):
    fakes["idaas"].script_for("P000126", "fail")
    submit()
    run()
    welink = AccountCreationTask.objects.get(account_type="welink")
    response = api_client.post(f"/account-creation/{welink.pk}/retry/")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "pending"
    assert statuses()["idaas"] == "pending"
    run()
    # IDaaS completing released the blocked Email task, which ran in the same run.
    assert statuses() == {"idaas": "completed", "welink": "completed", "email": "completed"}


def test_retry_failed_command_gives_a_fresh_budget(submit, fakes, settings):
    settings.ACCOUNT_CREATION_MAX_RETRIES = 1
    fakes["idaas"].script_for("P000126", "retry")
    submit()
    run()
    assert statuses()["idaas"] == "failed"
    out = StringIO()
    call_command("process_account_creation_tasks", "--retry-failed", "--account-type", "idaas", stdout=out)
    assert "1 task(s) put back to pending" in out.getvalue()
    run()
    assert statuses() == {"idaas": "completed", "welink": "completed", "email": "completed"}


def test_a_lost_lease_fences_the_late_result(submit, fakes):
    submit(systems=["idaas"])
    [claim] = task_claim_batch(runner_id="slow-runner", limit=1, account_types=["idaas"])
    # The lease expires; another run recovers and completes the task.
    AccountCreationTask.objects.filter(pk=claim.task.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    run()
    assert statuses() == {"idaas": "completed"}
    before = AccountCreationTask.objects.get(pk=claim.task.pk).result
    outcome = task_finish_success(
        claim=claim, runner_id="slow-runner", result=AccountResult(account_id="late", username="x", email="x@y")
    )
    assert outcome.kind == "dropped"
    assert AccountCreationTask.objects.get(pk=claim.task.pk).result == before
    outcomes = list(
        AccountCreationLog.objects.filter(task_id=claim.task.pk).order_by("execution_attempt").values_list(
            "outcome", flat=True
        )
    )
    assert outcomes == ["dropped", "succeeded"]


def test_recovery_returns_expired_tasks_and_counts_their_attempts(submit, fakes, settings):
    settings.ACCOUNT_CREATION_MAX_RETRIES = 2
    submit(systems=["idaas"])
    for _ in range(2):
        task_claim_batch(runner_id="killed", limit=1, account_types=["idaas"])
        AccountCreationTask.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
        assert task_recover_expired_leases().recovered == 1
    # Two attempts used by killed runners: the budget is spent, the task failed.
    task = AccountCreationTask.objects.get()
    assert task.status == TaskStatus.FAILED
    assert list(task.logs.values_list("outcome", flat=True)) == ["lost", "lost"]
    assert "runner stopped during the last allowed attempt" in task.last_error
    assert "Gave up after 2 attempts" in task.last_error


def test_max_tasks_limits_the_run(submit, fakes):
    submit(numbers=[f"E{i:03d}" for i in range(10)], systems=["idaas"])
    summary = run(max_tasks=4)
    assert summary.total("claimed") == 4
    assert AccountCreationTask.objects.filter(status="completed").count() == 4
    assert summary.stop_reason == "max_tasks?limit=4"
    assert EngineRun.objects.get().stop_reason == "max_tasks?limit=4"
    assert stop_reason_text(summary.stop_reason, "en") == "max tasks reached (--max-tasks 4)"
    assert stop_reason_text(summary.stop_reason, "zh-hans") == "已达到任务数上限（--max-tasks 4）"


def test_old_failures_do_not_starve_new_work(submit, fakes, settings):
    settings.ACCOUNT_CREATION_BACKOFF_BASE_SECONDS = 3600
    fakes["idaas"].default = "retry"
    submit(numbers=[f"OLD{i}" for i in range(5)], systems=["idaas"])
    run()
    fakes["idaas"].default = "ok"
    submit(numbers=["NEW1"], systems=["idaas"])
    run(max_tasks=1)
    assert AccountCreationTask.objects.get(employee_number="NEW1").status == "completed"


def test_disabled_switch_does_nothing(submit, fakes, settings):
    settings.ACCOUNT_CREATION_ENABLED = False
    submit()
    out = StringIO()
    call_command("process_account_creation_tasks", stdout=out)
    assert "disabled" in out.getvalue()
    assert fakes["idaas"].calls == []
    assert statuses()["idaas"] == "pending"


def test_dry_run_writes_nothing_and_explains_waits(submit, fakes, settings):
    settings.ACCOUNT_CREATION_BACKOFF_BASE_SECONDS = 600
    fakes["idaas"].script_for("P1", "retry")
    submit(numbers=["P1"])
    run()
    submit(numbers=["P2"])
    before = list(AccountCreationTask.objects.values_list("id", "status", "updated_at"))
    logs_before = AccountCreationLog.objects.count()
    runs_before = EngineRun.objects.count()
    out = StringIO()
    call_command("process_account_creation_tasks", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "1 task(s) would run" in text
    assert "4 wait for a dependency" in text  # both people's WeLink and Email
    assert "1 wait for their backoff" in text
    assert list(AccountCreationTask.objects.values_list("id", "status", "updated_at")) == before
    assert AccountCreationLog.objects.count() == logs_before
    assert EngineRun.objects.count() == runs_before
    assert len(fakes["idaas"].calls) == 1


def test_command_prints_summary_table_and_records_run(submit, fakes):
    submit()
    out = StringIO()
    call_command("process_account_creation_tasks", "--max-tasks=50", stdout=out)
    text = out.getvalue()
    assert "claimed" in text
    assert "completed" in text
    total_row = next(line for line in text.splitlines() if line.startswith("total"))
    assert total_row.split() == ["total", "3", "3", "0", "0", "0"]
    run_row = EngineRun.objects.get()
    assert run_row.completed == 3
    assert run_row.finished_at is not None


def test_a_drained_run_stores_the_code_and_the_command_prints_it_in_language_code(submit, fakes, settings, caplog):
    submit()
    caplog.set_level(logging.INFO, logger="account_creation.services.engine")
    out = StringIO()
    call_command("process_account_creation_tasks", "--max-tasks=50", stdout=out)
    assert EngineRun.objects.get().stop_reason == "drained"
    assert "finished in" in out.getvalue()
    assert ": queue drained (nothing due)." in out.getvalue()
    # The structured log carries the code, not a sentence.
    (finished,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("run finished")]
    assert "stop=drained" in finished

    settings.LANGUAGE_CODE = "zh-hans"
    submit(numbers=["P000127"])
    out = StringIO()
    call_command("process_account_creation_tasks", "--max-tasks=50", stdout=out)
    assert list(EngineRun.objects.values_list("stop_reason", flat=True)) == ["drained", "drained"]
    assert "结束：队列已清空（没有到期的任务）。" in out.getvalue()
    assert "queue drained" not in out.getvalue()


def test_stop_reasons_are_codes_with_parameters_and_old_english_rows_read_as_they_are():
    from account_creation.messages import stop_reason, stop_reason_code

    assert stop_reason("drained") == "drained"
    assert stop_reason("time_budget", seconds="2.5") == "time_budget?seconds=2.5"
    assert stop_reason_code("time_budget?seconds=2.5") == "time_budget"
    assert stop_reason_text("time_budget?seconds=2.5", "en") == "time budget reached (--max-seconds 2.5)"
    assert stop_reason_text("time_budget?seconds=2.5", "zh-hans") == "已达到运行时间上限（--max-seconds 2.5）"
    assert stop_reason_text("stop_requested", "zh-hans") == "收到停止请求（SIGTERM 或 SIGINT）"
    assert stop_reason_text("database_unavailable", "zh-hans") == "数据库不可用"
    # A row written by an older version holds English text: shown, and reported, as it is.
    assert stop_reason_code("max tasks reached (50)") == "max tasks reached (50)"
    assert stop_reason_text("max tasks reached (50)", "zh-hans") == "max tasks reached (50)"
    assert stop_reason_text("", "zh-hans") == ""
    with pytest.raises(KeyError):
        stop_reason("no_such_reason")


def test_a_set_stop_event_stops_claiming_with_its_code(submit, fakes):
    submit()
    stop = threading.Event()
    stop.set()
    summary = run(stop_event=stop)
    assert summary.total("claimed") == 0
    assert summary.stop_reason == "stop_requested"


def test_the_time_budget_stops_claiming_with_its_code(submit, fakes):
    submit()
    summary = run(max_seconds=1e-9)
    assert summary.stop_reason == "time_budget?seconds=1e-09"
    assert EngineRun.objects.get().stop_reason == "time_budget?seconds=1e-09"


def test_unconfigured_system_is_not_claimed(submit, settings):
    from account_creation.connectors import missing_configuration

    settings.WELINK_CLIENT_ID = ""
    submit()
    # The person's IDaaS account exists, so WeLink and Email would be due.
    AccountCreationTask.objects.filter(account_type="idaas").update(status=TaskStatus.COMPLETED)
    assert missing_configuration()["welink"] == ["WELINK_CLIENT_ID"]

    err, out = StringIO(), StringIO()
    call_command("process_account_creation_tasks", "--dry-run", stdout=out, stderr=err)
    assert "welink is not configured: set WELINK_CLIENT_ID" in err.getvalue()
    would_run = [line for line in out.getvalue().splitlines() if line.startswith("  #")]
    assert len(would_run) == 1
    assert "email" in would_run[0]

    # A run limited to WeLink claims nothing and says why.
    summary = AccountCreationService(account_types=["welink"]).run()
    assert summary.total("claimed") == 0
    assert summary.stop_reason == "no_account_type"
    assert stop_reason_text(summary.stop_reason, "en") == "no configured account type"
    assert summary.unconfigured == {"welink": ["WELINK_CLIENT_ID"]}
    assert statuses()["welink"] == "pending"
