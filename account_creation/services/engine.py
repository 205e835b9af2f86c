"""The engine: recover expired leases, claim due tasks, run them, record outcomes.

The task table is the queue (see DESIGN.md, "Engine"):

* a **claim** is one short transaction that picks eligible tasks (pending, due,
  dependencies completed; IDaaS, then WeLink, then Email, then oldest first), flips them
  to ``processing`` with a lease, and writes each attempt's log row — so attempts are
  counted at claim time and a task that kills its runner still uses up its attempts;
  PostgreSQL uses ``FOR UPDATE SKIP LOCKED``, SQLite serialises claimers with its
  IMMEDIATE transactions;
* downstream calls happen with no transaction open;
* every write after the claim is **fenced** on ``status='processing' AND
  locked_by=<runner>``: a runner that lost its lease cannot overwrite anyone's result.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import socket
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from account_creation.connectors import configure_pool, get_connector, missing_configuration
from account_creation.connectors.base import AccountResult, ConnectorError
from account_creation.models import (
    ACCOUNT_TYPE_CHOICES,
    ACCOUNT_TYPE_DEPENDENCIES,
    AccountCreationLog,
    AccountCreationTask,
    AttemptOutcome,
    EngineRun,
    TaskStatus,
)
from account_creation.services import metrics
from account_creation.services.prepare import BatchPreparer
from account_creation.services.sql import update_rows
from accountsync.logging import kv
from accountsync.redaction import redact_data, redact_text

logger = logging.getLogger(__name__)

ALL_ACCOUNT_TYPES = [value for value, _ in ACCOUNT_TYPE_CHOICES]
# Tasks claimed at once: enough to amortise the claim's queries, few enough that a slow
# downstream system does not leave claimed tasks waiting long (leases are renewed anyway).
CLAIM_BATCH_MIN = 20
CLAIM_BATCH_MAX = 100


# SQLite has one writer at a time, and a connection that finds the database locked sleeps
# in growing steps (1, 2, 5 … 100 ms) before trying again: with many engine threads those
# sleeps cost more than the downstream calls. Threads of one process therefore take turns
# on this lock (waking at once when it is free); other processes still queue on SQLite's
# own lock. PostgreSQL locks rows, so it needs no such turn-taking.
_sqlite_writer = threading.Lock()


@contextmanager
def write_transaction(*, wait_for_flush: bool = True) -> Iterator[None]:
    """One short write transaction (durable: never nested in a caller's transaction).

    ``wait_for_flush=False`` lets PostgreSQL acknowledge the commit before its WAL reaches
    the disk (``synchronous_commit = off`` for this transaction only; ~1 ms saved per task
    here). Used for attempt outcomes: a database crash can forget the last fraction of a
    second of them, but never corrupts anything — those tasks stay ``processing``, their
    leases expire, they run again and the connectors adopt the accounts already created.
    Claims keep the full guarantee, so attempts are never under-counted.
    """
    if connection.vendor == "sqlite":
        with _sqlite_writer, transaction.atomic(durable=True):
            yield
        return
    with transaction.atomic(durable=True):
        if wait_for_flush:
            # The engine's connections default to asynchronous commits (see
            # use_async_commits); this transaction waits for its flush.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO ON")
        yield


def use_async_commits() -> None:
    """PostgreSQL: let this connection's commits return before their WAL flush.

    Only the engine calls this, for its own connections: attempt outcomes then cost no disk
    wait (~1 ms per task here). A database crash can forget the last fraction of a second of
    outcomes but corrupts nothing: those tasks stay ``processing``, their leases expire, they
    run again and the connectors adopt the accounts already created. Claims and recoveries
    still wait for their flush (``write_transaction()``), so attempts are never under-counted.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO OFF")


def dependents_of(account_type: str) -> list[str]:
    return [t for t, deps in ACCOUNT_TYPE_DEPENDENCIES.items() if account_type in deps]


def new_runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def backoff_seconds(attempt_in_budget: int, *, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random.

    attempt 1 -> base, 2 -> 2*base, 3 -> 4*base … capped at the maximum; the delay lies
    in [d/2, d] so concurrent failures spread out but never retry sooner than half of it.
    """
    base = settings.ACCOUNT_CREATION_BACKOFF_BASE_SECONDS
    cap = settings.ACCOUNT_CREATION_BACKOFF_MAX_SECONDS
    if base <= 0:
        return 0.0
    delay = min(cap, base * (2 ** max(0, attempt_in_budget - 1)))
    return delay / 2 + (rng or random).uniform(0, delay / 2)


def _dependencies_met() -> Q:
    """Q: every dependency of the task's account type has a completed task of the same person."""
    condition = Q()
    for account_type, dependencies in ACCOUNT_TYPE_DEPENDENCIES.items():
        clause: Any = Q(account_type=account_type)
        for dependency in dependencies:
            clause &= Exists(
                AccountCreationTask.objects.filter(
                    employee_number=OuterRef("employee_number"),
                    account_type=dependency,
                    status=TaskStatus.COMPLETED,
                )
            )
        condition |= clause
    return condition


def eligible_tasks(*, now: datetime, account_types: Iterable[str]) -> Any:
    account_types = list(account_types)
    queryset = AccountCreationTask.objects.filter(status=TaskStatus.PENDING)
    if set(account_types) != set(ALL_ACCOUNT_TYPES):
        # Only when needed: with it the planners may leave the claim index for another one.
        queryset = queryset.filter(account_type__in=account_types)
    return (
        queryset.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(_dependencies_met())
        .order_by("sequence", "id")
    )


@dataclass
class Claim:
    task: AccountCreationTask
    log_id: int
    attempt: int  # execution_attempt (all attempts of the task, from 1)
    claimed_at: float  # monotonic, for the duration
    claimed_at_lease: float = 0.0  # monotonic time the lease was last set
    started: float = 0.0  # monotonic time the attempt itself began (after waiting in its batch)

    def __post_init__(self) -> None:
        self.claimed_at_lease = self.claimed_at

    @property
    def attempt_in_budget(self) -> int:
        return self.attempt - self.task.attempt_base


def _attempt_counts(task_ids: list[int]) -> dict[int, int]:
    return dict(
        AccountCreationLog.objects.filter(task_id__in=task_ids)
        .order_by()
        .values("task_id")
        .annotate(n=Count("id"))
        .values_list("task_id", "n")
    )


def task_claim_batch(
    *,
    runner_id: str,
    limit: int,
    account_types: Iterable[str],
    now: datetime | None = None,
    due_by: datetime | None = None,
) -> list[Claim]:
    """Claim up to ``limit`` eligible tasks for ``runner_id`` in one short transaction.

    ``due_by`` (default: now) is the moment tasks must be due at; a run passes its start
    time, so a task that failed during the run waits for the next run even with zero backoff.
    """
    if limit <= 0:
        return []
    now = now or timezone.now()
    lease_until = now + timedelta(seconds=settings.ACCOUNT_CREATION_LEASE_SECONDS)
    host = socket.gethostname()
    with write_transaction():
        candidates = eligible_tasks(now=due_by or now, account_types=account_types)
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
        counts = _attempt_counts(ids)
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
                        "lease_until": lease_until.isoformat(),
                    },
                )
            )
        AccountCreationLog.objects.bulk_create(logs)
    started = time.monotonic()
    return [Claim(task=log.task, log_id=log.pk, attempt=log.execution_attempt, claimed_at=started) for log in logs]


def task_renew_lease(*, claim: Claim, runner_id: str) -> bool:
    """Extend a claimed task's lease before it runs late; False when the lease was lost."""
    now = timezone.now()
    renewed = AccountCreationTask.objects.filter(
        pk=claim.task.pk, status=TaskStatus.PROCESSING, locked_by=runner_id
    ).update(locked_until=now + timedelta(seconds=settings.ACCOUNT_CREATION_LEASE_SECONDS), updated_at=now)
    if renewed:
        claim.claimed_at_lease = time.monotonic()
    return bool(renewed)


def _block_dependents(task: AccountCreationTask, reason: str, now: datetime) -> Counter[str]:
    """Block the person's pending dependents; returns how many, per account type."""
    dependents = dependents_of(task.account_type)
    if not dependents:
        return Counter()
    waiting = dict(
        AccountCreationTask.objects.filter(
            employee_number=task.employee_number, account_type__in=dependents, status=TaskStatus.PENDING
        ).values_list("pk", "account_type")
    )
    if not waiting:
        return Counter()
    AccountCreationTask.objects.filter(pk__in=list(waiting), status=TaskStatus.PENDING).update(
        status=TaskStatus.BLOCKED,
        last_error=f"Blocked: the {task.account_type} task #{task.pk} it depends on failed: {reason}",
        next_attempt_at=None,
        updated_at=now,
    )
    return Counter(waiting.values())


def _release_dependents(task: AccountCreationTask, now: datetime) -> int:
    dependents = dependents_of(task.account_type)
    if not dependents:
        return 0
    return update_rows(
        AccountCreationTask,
        values={"status": TaskStatus.PENDING, "next_attempt_at": None, "last_error": "", "updated_at": now},
        where={"employee_number": task.employee_number, "account_type": dependents, "status": TaskStatus.BLOCKED},
    )


@dataclass
class Outcome:
    kind: str  # "completed" | "retry" | "failed" | "dropped"
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


DROPPED_SUCCESS_MESSAGE = (
    "The account was created, but this runner's lease had expired; "
    "the result was dropped and the next attempt adopts the existing account."
)

# One statement, so one round trip and atomic without a transaction block: complete the task
# if this runner still holds it, finish its attempt row (succeeded, or dropped when the fence
# did not match) and release the person's blocked dependents.
_POSTGRES_FINISH_SUCCESS = """
WITH done AS (
    UPDATE {task} SET status = %(completed)s, result = %(result)s, completed_at = %(now)s,
        locked_by = '', locked_until = NULL, next_attempt_at = NULL, last_error = '', updated_at = %(now)s
    WHERE id = %(task_id)s AND status = %(processing)s AND locked_by = %(runner)s
    RETURNING employee_number
), attempt AS (
    UPDATE {log} SET
        outcome = CASE WHEN EXISTS (SELECT 1 FROM done) THEN %(succeeded)s ELSE %(dropped)s END,
        error_message = CASE WHEN EXISTS (SELECT 1 FROM done) THEN '' ELSE %(dropped_message)s END,
        error_details = CASE WHEN EXISTS (SELECT 1 FROM done) THEN error_details ELSE %(dropped_details)s END,
        finished_at = %(now)s, duration_ms = %(duration)s
    WHERE id = %(log_id)s
    RETURNING 1
), released AS (
    UPDATE {task} SET status = %(pending)s, next_attempt_at = NULL, last_error = '', updated_at = %(now)s
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
        "dropped_message": DROPPED_SUCCESS_MESSAGE,
        "dropped_details": details_field.get_db_prep_save({"result": result_data}, connection=connection),
        "now": when.get_db_prep_value(now, connection),
        "task_id": claim.task.pk,
        "runner": runner_id,
        "log_id": claim.log_id,
        "duration": int((time.monotonic() - (claim.started or claim.claimed_at)) * 1000),
        # Never an empty array: PostgreSQL cannot type one; '' matches no account type.
        "dependents": dependents_of(claim.task.account_type) or [""],
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
    if connection.vendor == "postgresql" and connection.get_autocommit():
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
            updated_at=now,
        )
        if not updated:
            _finish_log(
                claim,
                now,
                outcome=AttemptOutcome.DROPPED,
                error_message=DROPPED_SUCCESS_MESSAGE,
                error_details={"result": result.as_dict()},
            )
            return Outcome("dropped")
        _finish_log(claim, now, outcome=AttemptOutcome.SUCCEEDED, error_message="")
        released = _release_dependents(task, now)
    return Outcome("completed", released=released)


def task_finish_failure(
    *, claim: Claim, runner_id: str, error: BaseException, tb: str = ""
) -> Outcome:
    task = claim.task
    now = timezone.now()
    retryable = error.retryable if isinstance(error, ConnectorError) else True
    message = redact_text(error.message if isinstance(error, ConnectorError) else f"{type(error).__name__}: {error}")
    details = redact_data(error.details) if isinstance(error, ConnectorError) else {}
    details = {"error_type": type(error).__name__, "retryable": retryable, **(details or {})}
    exhausted = claim.attempt_in_budget >= settings.ACCOUNT_CREATION_MAX_RETRIES
    with write_transaction(wait_for_flush=False):
        if retryable and not exhausted:
            delay = backoff_seconds(claim.attempt_in_budget)
            next_at = now + timedelta(seconds=delay)
            updated = _fenced_update(
                task,
                runner_id,
                status=TaskStatus.PENDING,
                next_attempt_at=next_at,
                locked_by="",
                locked_until=None,
                last_error=message,
                updated_at=now,
            )
            kind, log_outcome = "retry", AttemptOutcome.RETRY
            details["next_attempt_at"] = next_at.isoformat()
        else:
            if retryable:
                message = (
                    f"{message} (gave up after {claim.attempt_in_budget} attempts; fix the cause "
                    "and retry the task)"
                )
            updated = _fenced_update(
                task,
                runner_id,
                status=TaskStatus.FAILED,
                locked_by="",
                locked_until=None,
                next_attempt_at=None,
                last_error=message,
                updated_at=now,
            )
            kind, log_outcome = "failed", AttemptOutcome.FAILED
        if not updated:
            _finish_log(
                claim,
                now,
                outcome=AttemptOutcome.DROPPED,
                error_message=f"Lease lost before the outcome was written; dropped: {message}",
                error_details=details,
                traceback=redact_text(tb),
            )
            return Outcome("dropped", message=message)
        _finish_log(
            claim,
            now,
            outcome=log_outcome,
            error_message=message,
            error_details=details,
            traceback=redact_text(tb),
        )
        blocked = _block_dependents(task, message, now) if kind == "failed" else Counter()
    return Outcome(kind, blocked=blocked, message=message)


def task_recover_expired_leases(*, now: datetime | None = None) -> int:
    """Put tasks whose runner vanished back in the queue (or fail them when out of attempts)."""
    now = now or timezone.now()
    with write_transaction():
        expired = AccountCreationTask.objects.filter(status=TaskStatus.PROCESSING, locked_until__lt=now).order_by("id")
        if connection.vendor == "postgresql":
            expired = expired.select_for_update(skip_locked=True, of=("self",))
        tasks = list(expired[:1000])
        if not tasks:
            return 0
        ids = [task.pk for task in tasks]
        AccountCreationLog.objects.filter(task_id__in=ids, outcome=AttemptOutcome.RUNNING).update(
            outcome=AttemptOutcome.LOST,
            finished_at=now,
            error_message="The runner stopped before finishing (killed, crashed or too slow); "
            "its lease expired and the task went back to the queue.",
        )
        counts = _attempt_counts(ids)
        retry_ids, fail_tasks = [], []
        for task in tasks:
            if counts.get(task.pk, 0) - task.attempt_base >= settings.ACCOUNT_CREATION_MAX_RETRIES:
                fail_tasks.append(task)
            else:
                retry_ids.append(task.pk)
        guard = Q(status=TaskStatus.PROCESSING, locked_until__lt=now)
        AccountCreationTask.objects.filter(guard, pk__in=retry_ids).update(
            status=TaskStatus.PENDING,
            locked_by="",
            locked_until=None,
            next_attempt_at=None,
            last_error="Lease expired: the previous runner stopped before finishing.",
            updated_at=now,
        )
        reason = "the runner stopped during the last allowed attempt (lease expired)"
        AccountCreationTask.objects.filter(guard, pk__in=[t.pk for t in fail_tasks]).update(
            status=TaskStatus.FAILED,
            locked_by="",
            locked_until=None,
            next_attempt_at=None,
            last_error=f"Gave up: {reason}. Fix the cause and retry the task.",
            updated_at=now,
        )
        for task in fail_tasks:
            _block_dependents(task, reason, now)
    logger.warning("leases recovered %s", kv(count=len(tasks), failed=len(fail_tasks)))
    metrics.lease_recoveries(len(tasks))
    return len(tasks)


# --- the run ------------------------------------------------------------------------------


@dataclass
class RunSummary:
    runner_id: str
    per_type: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    recovered: int = 0
    stop_reason: str = ""
    unconfigured: dict[str, list[str]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    finished: float = 0.0

    def add(self, account_type: str, key: str, n: int = 1) -> None:
        self.per_type[account_type][key] += n

    def total(self, key: str) -> int:
        return sum(counter[key] for counter in self.per_type.values())

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started


class AccountCreationService:
    """Claims tasks, calls each account type's connector in order, records outcomes.

    ``concurrency`` worker threads (each with its own database connection) run the
    downstream calls; the calling thread claims batches ahead of them. With
    ``concurrency=1`` everything runs in the calling thread.
    """

    def __init__(
        self,
        *,
        max_tasks: int = 50,
        concurrency: int = 1,
        max_seconds: float | None = None,
        account_types: Iterable[str] | None = None,
        runner_id: str | None = None,
        stop_event: threading.Event | None = None,
        on_progress: Callable[[RunSummary], None] | None = None,
        record_run: bool = True,
    ):
        self.max_tasks = max_tasks
        self.concurrency = max(1, concurrency)
        self.max_seconds = max_seconds
        self.requested_types = list(account_types) if account_types else list(ALL_ACCOUNT_TYPES)
        self.runner_id = runner_id or new_runner_id()
        self.stop_event = stop_event or threading.Event()
        self.on_progress = on_progress
        self.record_run = record_run
        self.summary = RunSummary(runner_id=self.runner_id)
        self._tokens_before: dict[str, int] = {}
        self.database_error: DatabaseError | None = None
        self.started_at = timezone.now()  # reset when run() starts; claims take tasks due by then
        self._summary_lock = threading.Lock()

    # The claim size: big enough to amortise the claim, small enough that every thread
    # stays busy and dependencies released in this run are picked up soon.
    def _claim_size(self, remaining: int) -> int:
        return max(1, min(remaining, max(self.concurrency * 2, CLAIM_BATCH_MIN), CLAIM_BATCH_MAX))

    def _deadline_passed(self) -> bool:
        return self.max_seconds is not None and self.summary.seconds >= self.max_seconds

    def run(self) -> RunSummary:
        missing = missing_configuration()
        self.summary.unconfigured = {
            system: names for system, names in missing.items() if names and system in self.requested_types
        }
        types = [t for t in self.requested_types if not missing.get(t)]
        configure_pool(self.concurrency)
        use_async_commits()
        run_row = self._start_run_row()
        self.started_at = timezone.now()
        self._tokens_before = metrics.token_refresh_counts()
        started = time.monotonic()
        try:
            self.summary.recovered = task_recover_expired_leases()
            if not types:
                self.summary.stop_reason = "no configured account type"
            elif self.concurrency == 1:
                self._run_inline(types)
            else:
                self._run_threaded(types)
        finally:
            self.summary.finished = time.monotonic()
            metrics.run_finished(self.summary.seconds)
            if self.database_error is None:
                self._finish_run_row(run_row)
        if self.database_error is not None:
            self.summary.stop_reason = "database unavailable"
            raise self.database_error
        logger.log(
            logging.INFO if self.summary.total("claimed") or self.summary.recovered else logging.DEBUG,
            "run finished %s",
            kv(
                runner=self.runner_id,
                claimed=self.summary.total("claimed"),
                completed=self.summary.total("completed"),
                retried=self.summary.total("retried"),
                failed=self.summary.total("failed"),
                blocked=self.summary.total("blocked"),
                recovered=self.summary.recovered,
                seconds=round(time.monotonic() - started, 3),
                stop=self.summary.stop_reason,
            ),
        )
        return self.summary

    def _start_run_row(self) -> EngineRun | None:
        if not self.record_run:
            return None
        return EngineRun.objects.create(
            runner_id=self.runner_id, host=socket.gethostname(), pid=os.getpid(), started_at=timezone.now()
        )

    def _finish_run_row(self, run_row: EngineRun | None) -> None:
        if run_row is None:
            return
        s = self.summary
        EngineRun.objects.filter(pk=run_row.pk).update(
            finished_at=timezone.now(),
            claimed=s.total("claimed"),
            completed=s.total("completed"),
            retried=s.total("retried"),
            failed=s.total("failed"),
            blocked=s.total("blocked"),
            recovered=s.recovered,
            token_refreshes={
                system: count - self._tokens_before.get(system, 0)
                for system, count in metrics.token_refresh_counts().items()
                if count > self._tokens_before.get(system, 0)
            },
            stop_reason=s.stop_reason[:200],
        )

    def _should_stop_claiming(self, claimed: int) -> str:
        if self.stop_event.is_set():
            return "stopped by signal"
        if claimed >= self.max_tasks:
            return f"max tasks reached ({self.max_tasks})"
        if self._deadline_passed():
            return f"max seconds reached ({self.max_seconds})"
        return ""

    def _claim(self, types: list[str], claimed: int, *, limit: int | None = None) -> list[Claim]:
        size = self._claim_size(self.max_tasks - claimed)
        claims = task_claim_batch(
            runner_id=self.runner_id,
            limit=min(size, limit) if limit is not None else size,
            account_types=types,
            due_by=self.started_at,
        )
        with self._summary_lock:
            for claim in claims:
                self.summary.add(claim.task.account_type, "claimed")
        return claims

    def _run_inline(self, types: list[str]) -> None:
        claimed = 0
        while True:
            reason = self._should_stop_claiming(claimed)
            if reason:
                self.summary.stop_reason = reason
                return
            claims = self._claim(types, claimed)
            if not claims:
                self.summary.stop_reason = "queue drained (nothing due)"
                return
            claimed += len(claims)
            preparer = BatchPreparer(claim.task for claim in claims)
            for claim in claims:
                self._execute(claim, preparer)

    def _run_threaded(self, types: list[str]) -> None:
        work: queue.Queue[tuple[Claim, BatchPreparer] | None] = queue.Queue()
        done = threading.Condition()
        in_flight = 0  # claimed and not yet finished (running or queued)
        finished = 0
        # Keep up to two tasks per worker claimed (one running, one queued); claim again
        # when half of that has drained, so every claim takes a batch, not a single task.
        high_water = self.concurrency * 2
        low_water = self.concurrency

        def worker() -> None:
            nonlocal in_flight, finished
            try:
                use_async_commits()
                while True:
                    item = work.get()
                    if item is None:
                        return
                    claim, preparer = item
                    try:
                        self._execute(claim, preparer)
                    finally:
                        with done:
                            in_flight -= 1
                            finished += 1
                            done.notify_all()
            finally:
                connection.close()

        threads = [
            threading.Thread(target=worker, name=f"engine-worker-{n}", daemon=True) for n in range(self.concurrency)
        ]
        for thread in threads:
            thread.start()
        claimed = 0
        try:
            while True:
                reason = self._should_stop_claiming(claimed)
                if reason:
                    self.summary.stop_reason = reason
                    break
                with done:
                    while in_flight > low_water and not self.stop_event.is_set():
                        done.wait(timeout=0.5)
                    busy, finished_before = in_flight, finished
                claims = self._claim(types, claimed, limit=high_water - busy)
                if claims:
                    claimed += len(claims)
                    preparer = BatchPreparer(claim.task for claim in claims)
                    with done:
                        in_flight += len(claims)
                    for claim in claims:
                        work.put((claim, preparer))
                    continue
                with done:
                    if in_flight == 0:
                        self.summary.stop_reason = "queue drained (nothing due)"
                        break
                    # Nothing due now, but running tasks may release dependents (WeLink and
                    # Email wait for IDaaS): claim again once a share of them has finished.
                    wanted = finished_before + max(1, in_flight // 4)
                    deadline = time.monotonic() + 0.5
                    while finished < wanted and in_flight and time.monotonic() < deadline:
                        done.wait(timeout=max(0.01, deadline - time.monotonic()))
        finally:
            for _ in threads:
                work.put(None)
            for thread in threads:
                thread.join()

    def _execute(self, claim: Claim, preparer: BatchPreparer) -> None:
        task = claim.task
        if self.database_error is not None:
            return  # the run is stopping: leave the task to lease recovery
        context = kv(
            task_id=task.pk,
            system=task.account_type,
            employee_number=task.employee_number,
            attempt=claim.attempt,
            runner=self.runner_id,
        )
        # A task that waited in its batch for half its lease gets a fresh lease first, so
        # a slow downstream system does not make another runner take it over.
        if time.monotonic() - claim.claimed_at_lease > settings.ACCOUNT_CREATION_LEASE_SECONDS / 2:
            if not task_renew_lease(claim=claim, runner_id=self.runner_id):
                logger.warning("lease lost before the attempt started, skipped %s", context)
                with self._summary_lock:
                    self.summary.add(task.account_type, "dropped")
                return
        started = claim.started = time.monotonic()
        tb = ""
        error: BaseException | None = None
        result: AccountResult | None = None
        try:
            request = preparer.prepare(task, attempt=claim.attempt)
            result = get_connector(task.account_type).create(request)
        except ConnectorError as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 - an unknown failure is retryable by design
            error = exc
            tb = traceback.format_exc()
        finally:
            metrics.downstream_call(task.account_type, time.monotonic() - started)
        try:
            if result is not None:
                outcome = task_finish_success(claim=claim, runner_id=self.runner_id, result=result)
            else:
                assert error is not None  # noqa: S101 - one of the two is always set
                outcome = task_finish_failure(claim=claim, runner_id=self.runner_id, error=error, tb=tb)
        except DatabaseError as exc:
            # The database went away: no outcome can be saved, so stop calling downstream
            # systems. The claimed tasks return to the queue when their leases expire, and
            # connectors adopt any account this attempt created.
            with self._summary_lock:
                self.summary.add(task.account_type, "unrecorded")
                first = self.database_error is None
                if first:
                    self.database_error = exc
            if first:
                logger.error("database unavailable, stopping the run %s error=%s", context, type(exc).__name__)
            self.stop_event.set()
            return
        except Exception:
            logger.exception("could not record outcome %s", context)
            close_old_connections()
            with self._summary_lock:
                self.summary.add(task.account_type, "unrecorded")
            return
        key = {"completed": "completed", "retry": "retried", "failed": "failed", "dropped": "dropped"}[outcome.kind]
        metrics.attempt_finished(task.account_type, outcome.kind)
        with self._summary_lock:
            self.summary.add(task.account_type, key)
            for dependent, count in outcome.blocked.items():
                self.summary.add(dependent, "blocked", count)
        level = logging.INFO if outcome.kind == "completed" else logging.WARNING
        suffix = f" error={outcome.message!r}" if outcome.message else ""
        logger.log(level, "attempt %s %s%s", outcome.kind, context, suffix)
        if self.on_progress is not None:
            self.on_progress(self.summary)
