"""The task queue's database state: every change of a task's status, in one module.

The task table is the queue (see DESIGN.md, "Engine"). This module is procrastinate's
``manager.py`` for it — database state only, no downstream calls:

* :func:`task_claim_batch` — one short transaction picks eligible tasks (pending, due,
  dependencies completed, in run order), flips them to ``processing`` with a lease and
  writes each attempt's row, so attempts are counted at claim time and a task that kills
  its runner still uses up its attempts; PostgreSQL uses ``FOR UPDATE SKIP LOCKED``,
  SQLite serialises claimers with its IMMEDIATE transactions;
* :func:`task_renew_lease`, :func:`task_finish_success`, :func:`task_finish_failure` —
  every write after the claim is **fenced** on ``status='processing' AND locked_by=<runner>``:
  a runner that lost its lease cannot overwrite anyone's result. The success path has a
  one-statement PostgreSQL twin right beside the ORM one it mirrors;
* :func:`task_recover_expired_leases` — tasks of a vanished runner go back to the queue (or
  fail when out of attempts, blocking their dependents);
* blocking and releasing a person's dependents.

The runner (``services/engine.py``) calls these; the policy of how long to wait is
``services/backoff.py``; reads are ``account_creation/selectors.py``.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from account_creation.account_types import registry
from account_creation.connectors.base import AccountResult
from account_creation.messages import final_reason, message
from account_creation.models import AccountCreationLog, AccountCreationTask, AttemptOutcome, TaskStatus
from account_creation.selectors import attempt_counts, eligible_tasks
from account_creation.services.backoff import RetryStrategy
from account_creation.services.cancel import cancel_if_request_cancelled
from account_creation.services.sql import update_rows, write_transaction
from accountsync.errors import ConnectorError
from accountsync.logging import kv
from accountsync.messages import Message
from accountsync.redaction import redact_text, stored_details
from callbacks.services import (
    RequestRef,
    callback_events_emit,
    callbacks_configured,
    people_of_tasks,
    requests_with_callbacks,
)

logger = logging.getLogger(__name__)


@dataclass
class Claim:
    task: AccountCreationTask
    log_id: int
    attempt: int  # execution_attempt (all attempts of the task, from 1)
    claimed_at: float  # monotonic, for the duration
    claimed_at_lease: float = 0.0  # monotonic time the lease was last set
    started: float = 0.0  # monotonic time the attempt itself began (after waiting in its batch)
    # Set when its request's client has a callback: its outcome writes callback events.
    notify: RequestRef | None = None
    # Some client has a callback: the outcome also looks for later requests that reused the
    # task (or whose dependents it blocks) and writes their events.
    callbacks: bool = False
    probe: bool = False  # the quarantine probe of its system

    def __post_init__(self) -> None:
        self.claimed_at_lease = self.claimed_at

    @property
    def attempt_in_budget(self) -> int:
        return self.attempt - self.task.attempt_base


def task_claim_batch(
    *,
    runner_id: str,
    limit: int,
    account_types: Iterable[str],
    now: datetime | None = None,
    due_by: datetime | None = None,
    employee_number: str | None = None,
    probe: bool = False,
) -> list[Claim]:
    """Claim up to ``limit`` eligible tasks for ``runner_id`` in one short transaction.

    ``due_by`` (default: now) is the moment tasks must be due at; a run passes its start
    time, so a task that failed during the run waits for the next run even with zero backoff.
    ``probe`` claims from quarantined systems too (the caller took their probe).
    """
    if limit <= 0:
        return []
    now = now or timezone.now()
    lease_until = now + timedelta(seconds=settings.ACCOUNT_CREATION_LEASE_SECONDS)
    lease_text = timezone.localtime(lease_until).isoformat()  # in TIME_ZONE, as every answer shows times
    host = socket.gethostname()
    with write_transaction():
        candidates = eligible_tasks(
            now=due_by or now, account_types=account_types, include_quarantined=probe, employee_number=employee_number
        )
        if connection.vendor == "postgresql":
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        tasks = list(candidates[:limit])
        if not tasks:
            return []
        ids = [task.pk for task in tasks]
        # The status guard makes the flip a compare-and-set (SQLite has no row locks).
        updated = AccountCreationTask.objects.filter(pk__in=ids, status=TaskStatus.PENDING).update(
            status=TaskStatus.PROCESSING,
            locked_by=runner_id,
            locked_until=lease_until,
            started_at=now,
            updated_at=now,
        )
        if updated != len(ids):  # pragma: no cover - impossible under SKIP LOCKED / IMMEDIATE
            raise RuntimeError(f"claim raced: flipped {updated} of {len(ids)} tasks")
        counts = attempt_counts(task_ids=ids)
        logs = []
        for task in tasks:
            task.status, task.locked_by, task.locked_until = TaskStatus.PROCESSING, runner_id, lease_until
            attempt = counts.get(task.pk, 0) + 1
            logs.append(
                AccountCreationLog(
                    task=task,
                    execution_attempt=attempt,
                    runner=runner_id,
                    outcome=AttemptOutcome.RUNNING,
                    execution_context={
                        "runner": runner_id,
                        "host": host,
                        "account_type": task.account_type,
                        "employee_number": task.employee_number,
                        "business_key": task.business_key,
                        "attempt_in_budget": attempt - task.attempt_base,
                        "max_attempts": settings.ACCOUNT_CREATION_MAX_RETRIES,
                        "lease_until": lease_text,
                    },
                )
            )
        AccountCreationLog.objects.bulk_create(logs)
        notify = requests_with_callbacks(task.request_id for task in tasks)
        callbacks = bool(notify) or callbacks_configured()
    started = time.monotonic()
    return [
        Claim(
            task=log.task, log_id=log.pk, attempt=log.execution_attempt, claimed_at=started,
            notify=notify.get(log.task.request_id), callbacks=callbacks, probe=probe,
        )
        for log in logs
    ]


def task_renew_lease(*, claim: Claim, runner_id: str) -> bool:
    """Extend a claimed task's lease before it runs late; False when the lease was lost."""
    now = timezone.now()
    renewed = AccountCreationTask.objects.filter(
        pk=claim.task.pk, status=TaskStatus.PROCESSING, locked_by=runner_id
    ).update(locked_until=now + timedelta(seconds=settings.ACCOUNT_CREATION_LEASE_SECONDS), updated_at=now)
    if renewed:
        claim.claimed_at_lease = time.monotonic()
    return bool(renewed)


def _text(msg: Message) -> str:
    """The stored text of a message: LANGUAGE_CODE's, as commands and logs read it."""
    return msg.render(settings.LANGUAGE_CODE)


def _block_dependents(
    task: AccountCreationTask, reason: Message, now: datetime, touched: list[tuple[int, int, str]] | None = None
) -> Counter[str]:
    """Block the person's pending dependents (in any request); returns how many, per account
    type, and adds each blocked task to ``touched`` (its events may be due)."""
    dependents = registry.dependents_of(task.account_type)
    if not dependents:
        return Counter()
    rows = list(
        AccountCreationTask.objects.filter(
            employee_number=task.employee_number, account_type__in=dependents, status=TaskStatus.PENDING
        ).values_list("pk", "account_type", "request_id")
    )
    if not rows:
        return Counter()
    waiting = {pk: account_type for pk, account_type, _ in rows}
    if touched is not None:
        touched += [(pk, request_pk, task.employee_number) for pk, _, request_pk in rows]
    blocked = message(
        "task.blocked", system=registry.get(task.account_type).label_param(), task=task.pk, reason=reason
    )
    AccountCreationTask.objects.filter(pk__in=list(waiting), status=TaskStatus.PENDING).update(
        status=TaskStatus.BLOCKED,
        last_error=_text(blocked),
        last_error_data=blocked.as_stored(),
        next_attempt_at=None,
        updated_at=now,
    )
    return Counter(waiting.values())


def _release_dependents(task: AccountCreationTask, now: datetime) -> int:
    dependents = registry.dependents_of(task.account_type)
    if not dependents:
        return 0
    return update_rows(
        AccountCreationTask,
        values={"status": TaskStatus.PENDING, "next_attempt_at": None, "last_error": "", "last_error_data": None,
                "updated_at": now},
        where={"employee_number": task.employee_number, "account_type": dependents, "status": TaskStatus.BLOCKED},
    )


@dataclass
class Outcome:
    kind: str  # "completed" | "retry" | "failed" | "dropped" | "cancelled" (a retry of a cancelled request)
    blocked: Counter[str] = field(default_factory=Counter)
    released: int = 0
    message: str = ""


def _finish_log(claim: Claim, now: datetime, **fields: Any) -> None:
    update_rows(
        AccountCreationLog,
        values={
            "finished_at": now,
            "duration_ms": int((time.monotonic() - (claim.started or claim.claimed_at)) * 1000),
            **fields,
        },
        where={"id": claim.log_id},
    )


def _fenced_update(task: AccountCreationTask, runner_id: str, **values: Any) -> int:
    """Write a claimed task's outcome only while this runner still holds its lease."""
    return update_rows(
        AccountCreationTask,
        values=values,
        where={"id": task.pk, "status": TaskStatus.PROCESSING, "locked_by": runner_id},
    )


def _dropped_success() -> Message:
    return message("attempt.dropped_success")


# One statement, so one round trip and atomic without a transaction block: complete the task
# if this runner still holds it, finish its attempt row (succeeded, or dropped when the fence
# did not match) and release the person's blocked dependents.
_POSTGRES_FINISH_SUCCESS = """
WITH done AS (
    UPDATE {task} SET status = %(completed)s, result = %(result)s, completed_at = %(now)s,
        locked_by = '', locked_until = NULL, next_attempt_at = NULL, last_error = '', last_error_data = NULL,
        updated_at = %(now)s
    WHERE id = %(task_id)s AND status = %(processing)s AND locked_by = %(runner)s
    RETURNING employee_number
), attempt AS (
    UPDATE {log} SET
        outcome = CASE WHEN EXISTS (SELECT 1 FROM done) THEN %(succeeded)s ELSE %(dropped)s END,
        error_message = CASE WHEN EXISTS (SELECT 1 FROM done) THEN '' ELSE %(dropped_message)s END,
        error_data = CASE WHEN EXISTS (SELECT 1 FROM done) THEN NULL ELSE %(dropped_data)s END,
        error_details = CASE WHEN EXISTS (SELECT 1 FROM done) THEN error_details ELSE %(dropped_details)s END,
        finished_at = %(now)s, duration_ms = %(duration)s
    WHERE id = %(log_id)s
    RETURNING 1
), released AS (
    UPDATE {task} SET status = %(pending)s, next_attempt_at = NULL, last_error = '', last_error_data = NULL,
        updated_at = %(now)s
    WHERE employee_number IN (SELECT employee_number FROM done)
        AND account_type = ANY(%(dependents)s) AND status = %(blocked)s
    RETURNING 1
)
SELECT (SELECT count(*) FROM done), (SELECT count(*) FROM released), (SELECT count(*) FROM attempt)
"""


def _finish_success_postgres(claim: Claim, runner_id: str, result: AccountResult, now: datetime) -> Outcome:
    task_meta, log_meta = AccountCreationTask._meta, AccountCreationLog._meta
    result_data = result.as_dict()
    json_field: Any = task_meta.get_field("result")
    details_field: Any = log_meta.get_field("error_details")
    data_field: Any = log_meta.get_field("error_data")
    when: Any = task_meta.get_field("updated_at")
    sql = _POSTGRES_FINISH_SUCCESS.format(
        task=connection.ops.quote_name(task_meta.db_table), log=connection.ops.quote_name(log_meta.db_table)
    )
    params = {
        "completed": TaskStatus.COMPLETED.value,
        "processing": TaskStatus.PROCESSING.value,
        "pending": TaskStatus.PENDING.value,
        "blocked": TaskStatus.BLOCKED.value,
        "succeeded": AttemptOutcome.SUCCEEDED.value,
        "dropped": AttemptOutcome.DROPPED.value,
        "result": json_field.get_db_prep_save(result_data, connection=connection),
        "dropped_message": _text(_dropped_success()),
        "dropped_data": data_field.get_db_prep_save(_dropped_success().as_stored(), connection=connection),
        "dropped_details": details_field.get_db_prep_save({"result": result_data}, connection=connection),
        "now": when.get_db_prep_value(now, connection),
        "task_id": claim.task.pk,
        "runner": runner_id,
        "log_id": claim.log_id,
        "duration": int((time.monotonic() - (claim.started or claim.claimed_at)) * 1000),
        # Never an empty array: PostgreSQL cannot type one; '' matches no account type.
        "dependents": registry.dependents_of(claim.task.account_type) or [""],
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        completed, released, _ = cursor.fetchone()
    if not completed:
        return Outcome("dropped")
    return Outcome("completed", released=released)


def task_finish_success(*, claim: Claim, runner_id: str, result: AccountResult) -> Outcome:
    task = claim.task
    now = timezone.now()
    # The one-statement path has no room for the callback outbox: a task whose request
    # wants callbacks takes the transaction below, which writes its events with it.
    if connection.vendor == "postgresql" and connection.get_autocommit() and not claim.callbacks:
        return _finish_success_postgres(claim, runner_id, result, now)
    with write_transaction(wait_for_flush=False):
        updated = _fenced_update(
            task,
            runner_id,
            status=TaskStatus.COMPLETED,
            result=result.as_dict(),
            completed_at=now,
            locked_by="",
            locked_until=None,
            next_attempt_at=None,
            last_error="",
            last_error_data=None,
            updated_at=now,
        )
        if not updated:
            _finish_log(
                claim,
                now,
                outcome=AttemptOutcome.DROPPED,
                error_message=_text(_dropped_success()),
                error_data=_dropped_success().as_stored(),
                error_details={"result": result.as_dict()},
            )
            return Outcome("dropped")
        _finish_log(claim, now, outcome=AttemptOutcome.SUCCEEDED, error_message="", error_data=None)
        released = _release_dependents(task, now)
        if claim.callbacks:
            _emit_events(claim, now)
    return Outcome("completed", released=released)


def _emit_events(claim: Claim, now: datetime, touched: Sequence[tuple[int, int, str]] = ()) -> None:
    """The outbox for a finished task: its own request's events, those of later requests that
    reused it, and those of requests whose tasks it blocked (inside the change's transaction)."""
    task = claim.task
    people = people_of_tasks([(task.pk, task.request_id, task.employee_number), *touched])
    callback_events_emit(people=people, now=now, known={task.request_id: claim.notify})


def task_finish_failure(
    *, claim: Claim, runner_id: str, error: BaseException, tb: str = "", spend: bool = True,
    retry_in: float | None = None,
) -> Outcome:
    """Record a failed attempt. ``spend=False`` (a system-wide fault: quarantine, rate limit)
    keeps the attempt row but not its cost: the task goes back to pending with its budget
    intact, due again after ``retry_in`` seconds (default: as soon as its system is out of quarantine)."""
    task = claim.task
    now = timezone.now()
    retryable = error.retryable if isinstance(error, ConnectorError) else True
    if isinstance(error, ConnectorError):
        reason = error.msg
    else:
        reason = message("task.unexpected_error", error=f"{type(error).__name__}: {error}")
    reason = reason.map_text(redact_text)
    # Only allow-listed keys (accountsync.redaction.STORED_DETAIL_KEYS): never raw answer fields.
    details = stored_details(error.details) if isinstance(error, ConnectorError) else {}
    details = {"error_type": type(error).__name__, "retryable": retryable, **(details or {})}
    strategy = RetryStrategy.from_settings()
    exhausted = strategy.exhausted(attempt_in_budget=claim.attempt_in_budget)
    with write_transaction(wait_for_flush=False):
        if not spend:
            # A quarantine holds the task back by itself: due again when the system is.
            next_at = now + timedelta(seconds=retry_in) if retry_in else None
            said = reason
            updated = _fenced_update(
                task,
                runner_id,
                status=TaskStatus.PENDING,
                next_attempt_at=next_at,
                attempt_base=task.attempt_base + 1,
                locked_by="",
                locked_until=None,
                last_error=_text(said),
                last_error_data=said.as_stored(),
                updated_at=now,
            )
            kind, log_outcome = "retry", AttemptOutcome.RETRY
            details.update(next_attempt_at=timezone.localtime(next_at).isoformat() if next_at else None, counted=False)
            if updated and cancel_if_request_cancelled(task_ids=[task.pk]):
                kind = "cancelled"
        elif retryable and not exhausted:
            delay = strategy.get_schedule_in(attempt_in_budget=claim.attempt_in_budget)
            next_at = now + timedelta(seconds=delay)
            said = message(
                "task.retry_scheduled",
                reason=reason,
                next_attempt_at=next_at,
                attempt=claim.attempt_in_budget,
                max_attempts=settings.ACCOUNT_CREATION_MAX_RETRIES,
            )
            updated = _fenced_update(
                task,
                runner_id,
                status=TaskStatus.PENDING,
                next_attempt_at=next_at,
                locked_by="",
                locked_until=None,
                last_error=_text(said),
                last_error_data=said.as_stored(),
                updated_at=now,
            )
            kind, log_outcome = "retry", AttemptOutcome.RETRY
            details["next_attempt_at"] = timezone.localtime(next_at).isoformat()
            if updated and cancel_if_request_cancelled(task_ids=[task.pk]):
                kind = "cancelled"
        else:
            # No attempt follows: neither the task nor its attempt row may promise one (a
            # timeout's "the next attempt looks the account up first").
            reason = final_reason(reason)
            if retryable:
                said = message("task.gave_up", reason=reason, attempts=claim.attempt_in_budget)
            else:
                said = message("task.permanent", reason=reason)
            updated = _fenced_update(
                task,
                runner_id,
                status=TaskStatus.FAILED,
                locked_by="",
                locked_until=None,
                next_attempt_at=None,
                last_error=_text(said),
                last_error_data=said.as_stored(),
                updated_at=now,
            )
            kind, log_outcome = "failed", AttemptOutcome.FAILED
        if not updated:
            dropped = message("attempt.dropped_failure", reason=reason)
            _finish_log(
                claim,
                now,
                outcome=AttemptOutcome.DROPPED,
                error_message=_text(dropped),
                error_data=dropped.as_stored(),
                error_details=details,
                traceback=redact_text(tb),
            )
            return Outcome("dropped", message=_text(said))
        _finish_log(
            claim,
            now,
            outcome=log_outcome,
            # The attempt row says what happened on that attempt (its outcome and details say
            # what came next); the task's last_error adds the next step.
            error_message=_text(reason),
            error_data=reason.as_stored(),
            error_details=details,
            traceback=redact_text(tb),
        )
        touched: list[tuple[int, int, str]] = []
        blocked = _block_dependents(task, said, now, touched) if kind == "failed" else Counter()
        if claim.callbacks and kind in ("failed", "cancelled"):
            _emit_events(claim, now, touched)
    return Outcome(kind, blocked=blocked, message=_text(said))


@dataclass
class Recovery:
    """What a lease recovery did: tasks put back or failed, and the dependents it blocked."""

    recovered: int = 0
    failed: int = 0
    blocked: Counter[str] = field(default_factory=Counter)


def task_recover_expired_leases(*, now: datetime | None = None) -> Recovery:
    """Put tasks whose runner vanished back in the queue (or fail them when out of attempts)."""
    now = now or timezone.now()
    recovery = Recovery()
    with write_transaction():
        expired = AccountCreationTask.objects.filter(status=TaskStatus.PROCESSING, locked_until__lt=now).order_by("id")
        if connection.vendor == "postgresql":
            expired = expired.select_for_update(skip_locked=True, of=("self",))
        tasks = list(expired[:1000])
        if not tasks:
            return recovery
        ids = [task.pk for task in tasks]
        AccountCreationLog.objects.filter(task_id__in=ids, outcome=AttemptOutcome.RUNNING).update(
            outcome=AttemptOutcome.LOST,
            finished_at=now,
            error_message=_text(message("attempt.lost")),
            error_data=message("attempt.lost").as_stored(),
        )
        counts = attempt_counts(task_ids=ids)
        retry_ids, fail_tasks = [], []
        for task in tasks:
            if RetryStrategy.from_settings().exhausted(attempt_in_budget=counts.get(task.pk, 0) - task.attempt_base):
                fail_tasks.append(task)
            else:
                retry_ids.append(task.pk)
        guard = Q(status=TaskStatus.PROCESSING, locked_until__lt=now)
        AccountCreationTask.objects.filter(guard, pk__in=retry_ids).update(
            status=TaskStatus.PENDING,
            locked_by="",
            locked_until=None,
            next_attempt_at=None,
            last_error=_text(message("task.lease_expired")),
            last_error_data=message("task.lease_expired").as_stored(),
            updated_at=now,
        )
        cancel_if_request_cancelled(task_ids=retry_ids)
        reason = message("task.lease_expired_last_attempt")
        touched: list[tuple[int, int, str]] = []
        for task in fail_tasks:
            gave_up = message("task.gave_up", reason=reason, attempts=counts.get(task.pk, 0) - task.attempt_base,
)
            AccountCreationTask.objects.filter(guard, pk=task.pk).update(
                status=TaskStatus.FAILED,
                locked_by="",
                locked_until=None,
                next_attempt_at=None,
                last_error=_text(gave_up),
                last_error_data=gave_up.as_stored(),
                updated_at=now,
            )
            recovery.blocked += _block_dependents(task, gave_up, now, touched)
        if fail_tasks or retry_ids:
            changed = [(task.pk, task.request_id, task.employee_number) for task in tasks]
            callback_events_emit(people=people_of_tasks(changed + touched), now=now)
    recovery.recovered, recovery.failed = len(tasks), len(fail_tasks)
    logger.warning(
        "leases recovered %s", kv(count=len(tasks), failed=len(fail_tasks), blocked=recovery.blocked.total())
    )
    return recovery

