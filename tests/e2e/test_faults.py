"""Random errors and timeouts-after-commit on every system: everything completes, exactly once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from account_creation.models import AccountCreationLog, AccountCreationTask, AttemptOutcome, TaskStatus
from sandbox.server import SandboxServer
from tests.e2e.conftest import people, result_of, run_times, run_until_quiet, set_faults, statuses

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FAULT_RUNS = 4
TIMEOUT_MARKER = "no answer within"


def test_errors_and_timeouts_after_commit_end_in_one_account_each(
    sandbox: SandboxServer, submit: Any, settings: Any
) -> None:
    # Each run makes at most one attempt per task, so a task can spend up to FAULT_RUNS
    # attempts against the faults before they are switched off; 10 leaves room for those
    # plus the clean attempts after (the default 5 could run out on an unlucky draw).
    settings.ACCOUNT_CREATION_MAX_RETRIES = 10
    settings.ACCOUNT_CREATION_HTTP_TIMEOUT = 1.0
    everyone = people(30, start=2000)
    submit(everyone)

    # The held answers arrive a bit after the client gave up: the account exists anyway.
    set_faults(sandbox, error_rate=0.3, timeout_rate=0.1, timeout_hold_ms=1500, seed=20240605)
    run_times(FAULT_RUNS, concurrency=4)
    faults = sandbox.state["totals"]["faults_by_system"]
    for system in ("idaas", "welink", "email"):
        assert faults[system]["error"] > 0, faults
    assert sum(faults[system]["timeout"] for system in faults) > 0, faults

    set_faults(sandbox)
    run_until_quiet(concurrency=4)

    assert statuses() == {TaskStatus.COMPLETED: 90}
    state = sandbox.state
    numbers = {number for number, _ in everyone}
    tasks = {(t.employee_number, t.account_type): t for t in AccountCreationTask.objects.all()}
    # One account per person and system (the sandbox keys them; the sets must match exactly).
    assert {u["employeeNumber"] for u in state["accounts"]["idaas"]} == numbers
    assert {u["corpUserId"] for u in state["accounts"]["welink"]} == numbers
    usernames = {result_of(tasks[number, "idaas"])["username"] for number in numbers}
    assert {m["SAMAccountName"] for m in state["accounts"]["email"]} == usernames
    assert len(state["accounts"]["email"]) == len({m["Alias"] for m in state["accounts"]["email"]}) == 30
    welink_ids = {u["corpUserId"]: u["userId"] for u in state["accounts"]["welink"]}
    for number in numbers:
        assert result_of(tasks[number, "welink"])["account_id"] == welink_ids[number]
        assert len({result_of(tasks[number, system])["email"] for system in ("idaas", "welink", "email")}) == 1

    # No task ever succeeded twice, and every task's last attempt is its only success.
    logs = list(AccountCreationLog.objects.order_by("task_id", "execution_attempt"))
    by_task: dict[int, list[AccountCreationLog]] = {}
    for log in logs:
        by_task.setdefault(log.task_id, []).append(log)
    outcomes = Counter(log.outcome for log in logs)
    assert outcomes[AttemptOutcome.SUCCEEDED] == 90, outcomes
    assert outcomes[AttemptOutcome.RETRY] > 0, outcomes
    assert set(outcomes) <= {AttemptOutcome.SUCCEEDED, AttemptOutcome.RETRY}, outcomes
    for attempts in by_task.values():
        assert [log.outcome for log in attempts].count(AttemptOutcome.SUCCEEDED) == 1
        assert attempts[-1].outcome == AttemptOutcome.SUCCEEDED
        assert [log.execution_attempt for log in attempts] == list(range(1, len(attempts) + 1))

    # Tasks that saw a timeout: that attempt was recorded as a retry, a later one succeeded.
    timed_out = {
        task_id: attempts for task_id, attempts in by_task.items()
        if any(TIMEOUT_MARKER in log.error_message for log in attempts)
    }
    assert timed_out, "the faults produced no timeout on any task"
    adopted_after_timeout = 0
    for task_id, attempts in timed_out.items():
        first = next(i for i, log in enumerate(attempts) if TIMEOUT_MARKER in log.error_message)
        assert attempts[first].outcome == AttemptOutcome.RETRY
        assert (attempts[first].error_details or {})["retryable"] is True
        assert attempts[-1].outcome == AttemptOutcome.SUCCEEDED
        assert len(attempts) > first + 1
        task = AccountCreationTask.objects.get(pk=task_id)
        if task.account_type in ("idaas", "email"):
            # Neither has a look-up, and the sandbox carried the timed-out call out: the retry
            # met the duplicate answer (409 / "is of type UserMailbox") and adopted the account.
            assert result_of(task)["adopted"] is True, result_of(task)
            adopted_after_timeout += 1
    duplicates = state["totals"]["duplicates_refused"]
    assert duplicates["idaas"] + duplicates["email"] >= adopted_after_timeout
