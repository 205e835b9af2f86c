"""The runner: claims batches from the queue, calls each account type's connector, records outcomes.

``AccountCreationService`` (the name the spec's extension guide uses) is procrastinate's
``worker.py`` for the task queue: it decides *when* to claim and *who* runs what — inline, or
on ``concurrency`` worker threads fed by the calling thread — and asks
``services/queue.py`` to record every state change. Downstream calls happen with no
transaction open. Which types exist, their order and their connectors come from the
account-type registry.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from account_creation.account_types import registry
from account_creation.connectors import configure_pool, get_connector, missing_configuration
from account_creation.connectors.base import AccountResult
from account_creation.connectors.http import set_call_gate, token_fetch_counts
from account_creation.messages import stop_reason, stop_reason_code
from account_creation.models import EngineRun
from account_creation.services.health import HealthView, system_take_probe, systems_ensure
from account_creation.services.prepare import BatchPreparer, prepare_batch
from account_creation.services.queue import (
    Claim,
    task_claim_batch,
    task_finish_failure,
    task_finish_success,
    task_recover_expired_leases,
    task_renew_lease,
)
from account_creation.services.ratelimit import RateGate
from account_creation.services.requeue import task_unclaim
from account_creation.services.sql import use_async_commits
from account_creation.services.waiting import tasks_release_waiting
from accountsync.errors import ConfigurationMissing, ConnectorError, Fault
from accountsync.logging import kv
from accountsync.messages import Message
from callbacks.delivery import DeliverySummary, callbacks_deliver

logger = logging.getLogger(__name__)

# Tasks claimed at once: enough to amortise the claim's queries, few enough that a slow
# downstream system does not leave claimed tasks waiting long (leases are renewed anyway).
CLAIM_BATCH_MIN = 20
CLAIM_BATCH_MAX = 100


def new_runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class RunSummary:
    runner_id: str
    per_type: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    recovered: int = 0
    released_waiting: int = 0  # tasks whose configuration appeared since they started waiting
    # Why the run stopped claiming, stored as a code (messages.stop_reason): "drained", "max_tasks?limit=50".
    stop_reason: str = ""
    unconfigured: dict[str, list[str]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    finished: float = 0.0
    # (task id, account type, outcome kind, message) of each attempt, when the run keeps them
    # (one person on demand: a handful of tasks).
    outcomes: list[tuple[int, str, str, str]] = field(default_factory=list)
    # Completion callbacks delivered after the account work (callbacks.delivery).
    callbacks: DeliverySummary | None = None
    account_seconds: float = 0.0  # the account work alone, before deliveries

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
        employee_number: str | None = None,
        deliver_callbacks: bool = True,
    ):
        self.max_tasks = max_tasks
        self.concurrency = max(1, concurrency)
        self.max_seconds = max_seconds
        self.requested_types = list(account_types) if account_types else registry.values()
        self.runner_id = runner_id or new_runner_id()
        self.stop_event = stop_event or threading.Event()
        self.on_progress = on_progress
        self.record_run = record_run
        # One person on demand: only their tasks are claimed, and each attempt's outcome is kept.
        self.employee_number = employee_number
        self.deliver_callbacks = deliver_callbacks
        self.summary = RunSummary(runner_id=self.runner_id)
        self._tokens_before: dict[str, int] = {}
        self.database_error: DatabaseError | None = None
        self.started_at = timezone.now()  # reset when run() starts; claims take tasks due by then
        self._summary_lock = threading.Lock()
        self.health = HealthView()
        self.gate = RateGate()

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
        self._tokens_before = token_fetch_counts()
        started = time.monotonic()
        set_call_gate(self.gate)
        try:
            systems_ensure()
            self.summary.released_waiting = tasks_release_waiting()
            recovery = task_recover_expired_leases()
            self.summary.recovered = recovery.recovered
            for dependent, count in recovery.blocked.items():
                self.summary.add(dependent, "blocked", count)
            if not types:
                self.summary.stop_reason = stop_reason("no_account_type")
            elif self.concurrency == 1:
                self._run_inline(types)
            else:
                self._run_threaded(types)
            self.summary.account_seconds = time.monotonic() - started
            # After the account work, never before it: a slow or absent receiver costs the
            # next accounts nothing (the delivery time is bounded by CALLBACK_DELIVERY_SECONDS).
            if self.deliver_callbacks and self.database_error is None:
                self.summary.callbacks = callbacks_deliver(runner_id=self.runner_id, stop_event=self.stop_event)
        finally:
            set_call_gate(None)
            self.summary.finished = time.monotonic()
            if self.database_error is None:
                self._finish_run_row(run_row)
        if self.database_error is not None:
            self.summary.stop_reason = stop_reason("database_unavailable")
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
                stop=stop_reason_code(self.summary.stop_reason),
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
                for system, count in token_fetch_counts().items()
                if count > self._tokens_before.get(system, 0)
            },
            stop_reason=s.stop_reason[:200],
        )

    def _should_stop_claiming(self, claimed: int) -> str:
        if self.stop_event.is_set():
            return stop_reason("stop_requested")
        if claimed >= self.max_tasks:
            return stop_reason("max_tasks", limit=self.max_tasks)
        if self._deadline_passed():
            return stop_reason("time_budget", seconds=f"{self.max_seconds:g}")
        return ""

    def _claim(self, types: list[str], claimed: int, *, limit: int | None = None) -> list[Claim]:
        size = self._claim_size(self.max_tasks - claimed)
        size = min(size, limit) if limit is not None else size
        self.health.refresh()
        claims: list[Claim] = []
        now = timezone.now()
        # Half-open: a quarantined system whose probe is due gets one real task, from one runner.
        for system in self.health.probes_due(types, now):
            if len(claims) < size and system_take_probe(name=system, runner_id=self.runner_id, now=now):
                claims += task_claim_batch(
                    runner_id=self.runner_id, limit=1, account_types=[system], due_by=now, probe=True,
                    employee_number=self.employee_number,
                )
        claims += task_claim_batch(
            runner_id=self.runner_id, limit=size - len(claims), account_types=types, due_by=self.started_at,
            employee_number=self.employee_number,
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
                self.summary.stop_reason = stop_reason("drained")
                return
            claimed += len(claims)
            preparer = prepare_batch(claim.task for claim in claims)
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
                    preparer = prepare_batch(claim.task for claim in claims)
                    with done:
                        in_flight += len(claims)
                    for claim in claims:
                        work.put((claim, preparer))
                    continue
                with done:
                    if in_flight == 0:
                        self.summary.stop_reason = stop_reason("drained")
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

    def _judge(self, claim: Claim, error: BaseException) -> tuple[bool, float | None]:
        """What a failure says about the system: (spend the task's attempt?, retry after seconds).

        Faults no task can fix quarantine the system (credentials, TLS/DNS at once; transport
        failures after ACCOUNT_CREATION_QUARANTINE_AFTER in a row) and a rate-limited answer
        slows it down: neither spends the attempt. Any other error is about this task.
        """
        system = claim.task.account_type
        fault = error.fault if isinstance(error, ConnectorError) else Fault.TASK
        # The reason a quarantine stores: the connector's message as code and parameters.
        message = error.msg if isinstance(error, ConnectorError) else Message.text(type(error).__name__)
        if fault == Fault.RATE_LIMITED:
            self.gate.refused(system, retry_after=error.retry_after if isinstance(error, ConnectorError) else None)
            retry_after = error.retry_after if isinstance(error, ConnectorError) else None
            return False, retry_after or 1.0
        if claim.probe:
            if fault in Fault.SYSTEM_WIDE or fault == Fault.TRANSPORT:
                self.health.probe_failed(system, message)
                return False, None
            # An answer about this person: the system works again.
            self.health.release(system, by=f"probe {self.runner_id}")
            return True, None
        if fault in Fault.SYSTEM_WIDE:
            self.health.quarantine(system, fault, message)
            return False, None
        if fault == Fault.TRANSPORT:
            return not self.health.transport_failure(system, message), None
        return True, None

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
        claim.started = time.monotonic()
        tb = ""
        error: BaseException | None = None
        result: AccountResult | None = None
        requeue: str = ""  # "deferred": its system is quarantined; "waiting": for configuration
        waiting_for: dict[str, str] | None = None
        try:
            if not claim.probe and self.health.quarantined(task.account_type):
                requeue = "deferred"
            else:
                request = preparer.prepare(task, attempt=claim.attempt)
                result = get_connector(task.account_type).create(request)
        except ConfigurationMissing as exc:
            requeue, waiting_for = "waiting", exc.waiting_for
        except ConnectorError as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 - an unknown failure is retryable by design
            error = exc
            tb = traceback.format_exc()
        try:
            if requeue:
                if claim.probe:
                    self.health.probe_failed(task.account_type, "", again_now=True)
                if task_unclaim(claim=claim, runner_id=self.runner_id, waiting_for=waiting_for):
                    with self._summary_lock:
                        self.summary.add(task.account_type, requeue)
                return
            if result is not None:
                if claim.probe:
                    self.health.release(task.account_type, by=f"probe {self.runner_id}")
                else:
                    self.health.success(task.account_type)
                outcome = task_finish_success(claim=claim, runner_id=self.runner_id, result=result)
            else:
                assert error is not None  # noqa: S101 - one of the two is always set
                spend, retry_in = self._judge(claim, error)
                outcome = task_finish_failure(
                    claim=claim, runner_id=self.runner_id, error=error, tb=tb, spend=spend, retry_in=retry_in
                )
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
        key = {
            "completed": "completed", "retry": "retried", "failed": "failed", "dropped": "dropped",
            "cancelled": "cancelled",
        }[outcome.kind]
        if outcome.kind == "retry" and requeue == "" and self.health.quarantined(task.account_type):
            key = "deferred"
        with self._summary_lock:
            self.summary.add(task.account_type, key)
            if self.employee_number is not None:
                self.summary.outcomes.append((task.pk, task.account_type, outcome.kind, outcome.message))
            for dependent, count in outcome.blocked.items():
                self.summary.add(dependent, "blocked", count)
        level = logging.INFO if outcome.kind == "completed" else logging.WARNING
        suffix = f" error={outcome.message!r}" if outcome.message else ""
        logger.log(level, "attempt %s %s%s", outcome.kind, context, suffix)
        if self.on_progress is not None:
            self.on_progress(self.summary)
