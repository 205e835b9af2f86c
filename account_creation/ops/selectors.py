"""Reads for the status dashboard: grouped queries whose number does not grow with the data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Q
from django.db.models.functions import TruncDay, TruncHour
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from account_creation.account_types import registry
from account_creation.issues import issue_text
from account_creation.messages import stop_reason_text
from account_creation.models import (
    AccountCreationLog,
    AccountCreationRequest,
    AccountCreationTask,
    AttemptOutcome,
    EngineRun,
    MailboxAddress,
    TaskStatus,
)
from account_creation.ops.causes import ATTEMPT, TASK, sample_texts, top_causes
from account_creation.selectors import attempts_subquery, task_stats
from account_creation.services.waiting import waiting_for_text
from accountsync.messages import render_stored
from api_clients.access import Access

RETRYABLE = (TaskStatus.FAILED, TaskStatus.BLOCKED)
# Bounds: a page shows at most this much, whatever the size of the tables.
TOP_REASONS = 10
RECENT_REQUESTS = 15
RECENT_RUNS = 10
SEARCH_MAX_PEOPLE = 50
PERSON_MAX_TASKS = 100
PERSON_MAX_ATTEMPTS = 300


def grid_max_tasks() -> int:
    """The most tasks one request can have: every person of a full request, every type."""
    return settings.ACCOUNT_CREATION_MAX_USERS_PER_REQUEST * len(registry)


def _changelist(model: str, **params: Any) -> str:
    url = reverse(f"admin:account_creation_{model}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


# --- the dashboard ------------------------------------------------------------------------


def status_chart() -> dict[str, Any]:
    """Tasks per system by status (task_stats: one grouped query)."""
    stats = task_stats(caller=Access.everything("dashboard"))
    return {
        "totals": {status: stats[f"{status}_tasks"] for status in TaskStatus.values} | {"total": stats["total_tasks"]},
        "completion_rate": stats["overall_completion_rate"],
        "labels": [str(spec.label) for spec in registry],
        "series": {
            status: [stats["stats_by_type"].get(s, {}).get(f"{status}_tasks", 0) for s in registry.values()]
            for status in TaskStatus.values
        },
        "links": {status: _changelist("accountcreationtask", status=status) for status in TaskStatus.values},
    }


def activity_chart(*, days: int, now: datetime | None = None) -> dict[str, Any]:
    """Attempts that ended in the last ``days`` days, per hour (1 day) or per day, by outcome."""
    now = timezone.localtime(now or timezone.now())
    hourly = days <= 1
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    if hourly:
        first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
        slots = [first + step * i for i in range(24)]
    else:
        first = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
        slots = [timezone.localtime(first + step * i).replace(hour=0) for i in range(days)]
    trunc = TruncHour("finished_at") if hourly else TruncDay("finished_at")
    outcomes = [AttemptOutcome.SUCCEEDED, AttemptOutcome.RETRY, AttemptOutcome.FAILED, AttemptOutcome.LOST]
    rows = (
        AccountCreationLog.objects.filter(finished_at__gte=first, outcome__in=outcomes)
        .order_by()
        .annotate(slot=trunc)
        .values_list("slot", "outcome")
        .annotate(n=Count("id"))
    )
    counts: dict[tuple[str, str], int] = {}
    for slot, outcome, n in rows:
        key = timezone.localtime(slot).strftime("%Y-%m-%d %H" if hourly else "%Y-%m-%d")
        counts[(key, outcome)] = counts.get((key, outcome), 0) + n
    keys = [slot.strftime("%Y-%m-%d %H" if hourly else "%Y-%m-%d") for slot in slots]
    return {
        "labels": [slot.strftime("%H:00" if hourly else "%m-%d") for slot in slots],
        "series": {outcome: [counts.get((key, outcome), 0) for key in keys] for outcome in outcomes},
        "totals": {outcome: sum(counts.get((key, outcome), 0) for key in keys) for outcome in outcomes},
    }


@dataclass
class Reason:
    system: str
    message: str
    count: int
    link: str
    statuses: str = ""
    cause: str = ""  # the language-independent key the link filters on (account_creation.ops.causes)


def failure_reasons(*, limit: int = TOP_REASONS) -> list[Reason]:
    """The most common causes of failed tasks, one row per system and cause (two queries).

    A cause is the code of the stored message's innermost reason (``account_creation.ops.causes``),
    not its text: the row reads in the reader's language (one of its tasks' messages), texts
    that differ only in a parameter (an attempt count, a time, a person) or in what wraps the
    reason are one row, and the row's link filters on the same key (``cause=``), so the count is
    what the link lists."""
    causes = top_causes(
        AccountCreationTask.objects.filter(status=TaskStatus.FAILED), TASK, by=("account_type",), limit=limit
    )
    texts = sample_texts(AccountCreationTask, TASK, [cause.sample_id for cause in causes])
    return [
        Reason(
            system=cause.group[0],
            message=texts.get(cause.sample_id) or str(_("(no message)")),
            count=cause.count,
            link=_changelist(
                "accountcreationtask", status=TaskStatus.FAILED, account_type=cause.group[0], cause=cause.key
            ),
            cause=cause.key,
        )
        for cause in causes
    ]


def attempt_error_reasons(*, days: int = 7, limit: int = TOP_REASONS, now: datetime | None = None) -> list[Reason]:
    """The most common causes of failed attempts in the last ``days`` days (retries included),
    one row per system and cause (as failure_reasons; two queries)."""
    since = (now or timezone.now()) - timedelta(days=days)
    attempts = AccountCreationLog.objects.filter(
        created_at__gte=since,
        outcome__in=[AttemptOutcome.RETRY, AttemptOutcome.FAILED, AttemptOutcome.LOST, AttemptOutcome.DROPPED],
    )
    causes = top_causes(attempts, ATTEMPT, by=("task__account_type",), limit=limit)
    texts = sample_texts(AccountCreationLog, ATTEMPT, [cause.sample_id for cause in causes])
    return [
        Reason(
            system=cause.group[0],
            message=texts.get(cause.sample_id) or str(_("(no message)")),
            count=cause.count,
            link=_changelist(
                "accountcreationlog", task__account_type=cause.group[0], cause=cause.key,
                created_at__gte=since.isoformat(),
            ),
            cause=cause.key,
        )
        for cause in causes
    ]


@dataclass
class RejectedPerson:
    """A person of the request that intake refused, with every field error of theirs."""

    index: int | None  # 0-based, as the API answers it
    employee_number: str
    errors: list[tuple[str, str]]  # (field, message in the reader's language)

    @property
    def position(self) -> int | None:
        """The person's place in the request's users, as people count: 1 is the first."""
        return None if self.index is None else self.index + 1


def rejected_people(request: AccountCreationRequest) -> list[RejectedPerson]:
    """The people intake rejected, from the request's stored errors (no query)."""
    people: dict[Any, RejectedPerson] = {}
    for issue in request.errors or []:
        key = issue.get("index")
        person = people.setdefault(key, RejectedPerson(key, str(issue.get("employeeNumber") or ""), []))
        person.errors.append((str(issue.get("field", "")), issue_text(issue)))
    return list(people.values())


@dataclass
class RequestSummary:
    request: AccountCreationRequest
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def needs_attention(self) -> bool:
        return bool(self.counts.get(TaskStatus.FAILED) or self.counts.get(TaskStatus.BLOCKED))

    @property
    def rejected(self) -> int:
        return len(rejected_people(self.request))

    @property
    def people(self) -> int:
        """Everyone the request named: accepted and rejected."""
        return self.request.accepted_count + self.rejected


def recent_requests(*, limit: int = RECENT_REQUESTS) -> list[RequestSummary]:
    """The latest requests with their task counts by status (two queries)."""
    requests = list(AccountCreationRequest.objects.order_by("-id")[:limit])
    counts = (
        AccountCreationTask.objects.filter(request_id__in=[r.pk for r in requests])
        .order_by()
        .values_list("request_id", "status")
        .annotate(n=Count("id"))
    )
    by_request: dict[int, dict[str, int]] = {}
    for request_id, status, n in counts:
        by_request.setdefault(request_id, {})[status] = n
    return [RequestSummary(request=r, counts=by_request.get(r.pk, {})) for r in requests]


@dataclass
class RunRow:
    run: EngineRun
    state: str  # finished, running (a live lease or just started), died (no run can hold it any more)

    @property
    def idle(self) -> bool:
        return self.state == "finished" and not (self.run.claimed or self.run.recovered)

    @property
    def stop_text(self) -> str:
        """Why the run stopped, in the active language (the reader's)."""
        return stop_reason_text(self.run.stop_reason)


def recent_runs(*, limit: int = RECENT_RUNS, include_idle: bool = False, now: datetime | None = None) -> list[RunRow]:
    """The latest engine runs (two queries). Idle runs (finished, nothing claimed) are left out
    unless ``include_idle``: a runner in --loop mode records one every interval."""
    now = now or timezone.now()
    runs = EngineRun.objects.order_by("-started_at")
    if not include_idle:
        runs = runs.exclude(Q(finished_at__isnull=False) & Q(claimed=0) & Q(recovered=0))
    chosen = list(runs[:limit])
    unfinished = [r.runner_id for r in chosen if r.finished_at is None]
    holding = set(
        AccountCreationTask.objects.filter(
            status=TaskStatus.PROCESSING, locked_by__in=unfinished, locked_until__gt=now
        ).values_list("locked_by", flat=True).distinct()
    ) if unfinished else set()
    lease = timedelta(seconds=settings.ACCOUNT_CREATION_LEASE_SECONDS)

    def state(run: EngineRun) -> str:
        if run.finished_at is not None:
            return "finished"
        # A run holds no lease between batches; it can be declared dead only after a lease's time.
        return "running" if run.runner_id in holding or now - run.started_at < lease else "died"

    return [RunRow(run=run, state=state(run)) for run in chosen]


def _with_shown_errors(tasks: Sequence[AccountCreationTask]) -> None:
    """Each task's last error in the reader's language (stored as code and parameters)."""
    for task in tasks:
        # A task waiting for configuration says what to add (it has no error: it spent no attempt).
        waiting = waiting_for_text(task.waiting_for) if task.status == TaskStatus.PENDING else ""
        task.shown_error = waiting or render_stored(task.last_error_data, task.last_error)  # type: ignore[attr-defined]


# --- one request: people x systems --------------------------------------------------------


@dataclass
class GridRow:
    employee_number: str
    employee_name: str
    origin_system: str
    cells: dict[str, AccountCreationTask | None]
    systems: Sequence[str] = ()  # the columns shown (all systems unless filtered to one)

    @property
    def ordered_cells(self) -> list[tuple[str, AccountCreationTask | None]]:
        return [(system, self.cells.get(system)) for system in (self.systems or registry.values())]


@dataclass(frozen=True)
class GridFilters:
    """What the staff grid narrows a request to: people with a task of this status, system and
    department, whose name contains or employee number starts with ``q``. A system filter shows
    that column only; the others show each chosen person's every task, for context."""

    status: str = ""
    system: str = ""
    department: str = ""
    q: str = ""

    @property
    def active(self) -> bool:
        return any((self.status, self.system, self.department, self.q))

    @property
    def of_tasks(self) -> bool:
        """Filters no person rejected at intake can match (they have no task)."""
        return any((self.status, self.system, self.department))

    def person_matches(self, employee_number: str, employee_name: str) -> bool:
        text = self.q.casefold()
        return not text or text in employee_name.casefold() or employee_number.casefold().startswith(text)

    def task_matches(self, task: AccountCreationTask) -> bool:
        return (
            (not self.status or task.status == self.status)
            and (not self.system or task.account_type == self.system)
            and (not self.department or task.department_code == self.department)
        )


@dataclass
class Grid:
    business_key: str
    rows: list[GridRow]
    counts: dict[str, int]
    retryable_ids: list[int]
    truncated: bool
    rejected: list[RejectedPerson] = field(default_factory=list)
    last_change: datetime | None = None
    filters: GridFilters = field(default_factory=GridFilters)
    all_people: int = 0  # before the filters
    systems: Sequence[str] = ()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        """Tasks with nothing left to do (completed, failed, cancelled)."""
        final = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.BLOCKED)
        return sum(n for status, n in self.counts.items() if status in final)

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0

    @property
    def people(self) -> int:
        return len(self.rows) + len(self.rejected)

    @property
    def changed_just_now(self) -> bool:
        """Under a minute ago: "0 minutes ago" says nothing a reader wants."""
        return self.last_change is not None and timezone.now() - self.last_change < timedelta(minutes=1)


def request_grid(*, business_key: str, filters: GridFilters | None = None) -> Grid:
    """Every task of one businessKey, as people x systems, with attempt counts (one query), narrowed
    by ``filters`` (in Python, over the request's bounded tasks: no query more)."""
    filters = filters or GridFilters()
    limit = grid_max_tasks()
    tasks = list(
        AccountCreationTask.objects.filter(business_key=business_key)
        .annotate(attempts=attempts_subquery())
        .order_by("request_id", "id")[: limit + 1]
    )
    truncated = len(tasks) > limit
    tasks = tasks[:limit]
    systems = [filters.system] if filters.system else registry.values()
    rows: dict[tuple[str, str], GridRow] = {}
    for task in tasks:
        key = (task.origin_system, task.employee_number)
        row = rows.setdefault(
            key, GridRow(task.employee_number, task.employee_name, task.origin_system, {}, systems)
        )
        # A person has one task per system in a request; keep the newest if ever more.
        row.cells[task.account_type] = task
    rejected = [
        person
        for request in AccountCreationRequest.objects.filter(business_key=business_key).order_by("id")
        for person in rejected_people(request)
    ]
    all_people = len(rows) + len(rejected)
    if filters.active:
        rows = {
            key: row for key, row in rows.items()
            if filters.person_matches(row.employee_number, row.employee_name)
            and any(task is not None and filters.task_matches(task) for _system, task in row.ordered_cells)
        }
        rejected = [] if filters.of_tasks else [p for p in rejected if filters.person_matches(p.employee_number, "")]
    shown: Sequence[AccountCreationTask] = (
        [task for row in rows.values() for _system, task in row.ordered_cells if task is not None]
        if filters.active else tasks
    )
    _with_shown_errors(shown)
    counts: dict[str, int] = {}
    for cell in shown:
        counts[cell.status] = counts.get(cell.status, 0) + 1
    return Grid(
        business_key=business_key,
        rows=list(rows.values()),
        counts=counts,
        retryable_ids=[t.pk for t in shown if t.status in RETRYABLE],
        truncated=truncated,
        rejected=rejected,
        last_change=max((t.updated_at for t in tasks), default=None),
        filters=filters,
        all_people=all_people,
        systems=systems,
    )


# --- people -------------------------------------------------------------------------------


def person_search(*, query: str, limit: int = SEARCH_MAX_PEOPLE) -> list[dict[str, Any]]:
    """People whose employee number starts with ``query`` or whose name contains it."""
    query = query.strip()
    if not query:
        return []
    rows = (
        AccountCreationTask.objects.filter(Q(employee_number__istartswith=query) | Q(employee_name__icontains=query))
        .order_by("employee_number")
        .values("employee_number", "employee_name")
        .annotate(tasks=Count("id"))[:limit]
    )
    return [dict(row) for row in rows]


@dataclass
class Account:
    system: str
    label: str
    task: AccountCreationTask | None
    username: str = ""
    email: str = ""
    account_id: str = ""


@dataclass
class Person:
    employee_number: str
    employee_name: str
    accounts: list[Account]
    tasks: Sequence[AccountCreationTask]
    attempts: list[AccountCreationLog]
    mailbox: MailboxAddress | None


def person_detail(*, employee_number: str) -> Person | None:
    """A person's three accounts (from their newest task per system) and history (3 queries)."""
    tasks = list(
        AccountCreationTask.objects.filter(employee_number=employee_number)
        .annotate(attempts=attempts_subquery())
        .order_by("-id")[:PERSON_MAX_TASKS]
    )
    if not tasks:
        return None
    attempts = list(
        AccountCreationLog.objects.filter(task_id__in=[t.pk for t in tasks])
        .select_related("task")
        .order_by("-created_at", "-id")[:PERSON_MAX_ATTEMPTS]
    )
    _with_shown_errors(tasks)
    for log in attempts:
        log.shown_error = render_stored(log.error_data, log.error_message)  # type: ignore[attr-defined]
    accounts = []
    for system in registry.values():
        of_system = [t for t in tasks if t.account_type == system]
        chosen = next((t for t in of_system if t.status == TaskStatus.COMPLETED), of_system[0] if of_system else None)
        result = (chosen.result or {}) if chosen is not None and chosen.status == TaskStatus.COMPLETED else {}
        accounts.append(
            Account(
                system=system,
                label=str(registry.get(system).label),
                task=chosen,
                username=str(result.get("username", "")),
                email=str(result.get("email", "")),
                account_id=str(result.get("account_id", "")),
            )
        )
    return Person(
        employee_number=employee_number,
        employee_name=tasks[0].employee_name,
        accounts=accounts,
        tasks=tasks,
        attempts=attempts,
        mailbox=MailboxAddress.objects.filter(employee_number=employee_number).first(),
    )
