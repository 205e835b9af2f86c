"""Reads: querysets and aggregates for the API, the admin, the engine and the commands.

The attempt count of a task is derived from its attempt rows (the spec's rule) here only:
:func:`attempt_counts` for a set of tasks, :func:`attempts_subquery` as an annotation.
:func:`eligible_tasks` is the claim's question ("what could a runner take now?"), shared by
the queue, ``--dry-run`` and the metrics.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from account_creation.account_types import registry
from account_creation.models import (
    AccountCreationLog,
    AccountCreationTask,
    DownstreamSystem,
    SystemState,
    TaskStatus,
)
from accountsync.messages import render_stored
from api_clients.access import Access


def attempts_subquery() -> Coalesce:
    """The attempt count of each task, derived from its log rows (one correlated subquery)."""
    counts = (
        AccountCreationLog.objects.filter(task=OuterRef("pk"))
        .order_by()
        .values("task")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def attempt_counts(*, task_ids: Iterable[int]) -> dict[int, int]:
    """Attempts made so far per task (tasks without any are absent): one grouped query."""
    return dict(
        AccountCreationLog.objects.filter(task_id__in=list(task_ids))
        .order_by()
        .values("task_id")
        .annotate(n=Count("id"))
        .values_list("task_id", "n")
    )


def _dependencies_met() -> Q:
    """Every dependency of the task's account type has a completed task of the same person."""
    condition = Q()
    for spec in registry:
        clause: Any = Q(account_type=spec.value)
        for dependency in spec.depends_on:
            clause &= Exists(
                AccountCreationTask.objects.filter(
                    employee_number=OuterRef("employee_number"),
                    account_type=dependency,
                    status=TaskStatus.COMPLETED,
                )
            )
        condition |= clause
    return condition


def _quarantined() -> Exists:
    return Exists(
        DownstreamSystem.objects.filter(name=OuterRef("account_type"), state=SystemState.QUARANTINED)
    )


def eligible_tasks(
    *,
    now: datetime,
    account_types: Iterable[str] | None = None,
    include_quarantined: bool = False,
    employee_number: str | None = None,
) -> QuerySet[AccountCreationTask]:
    """Pending tasks due by ``now`` whose dependencies completed, in claim order.

    Claim order: high priority first, then run order (IDaaS first), then oldest first —
    the order of the claim index (status, priority, sequence, id). Not eligible: tasks
    waiting for configuration (``waiting_for``) and, unless ``include_quarantined`` (the
    quarantine probe), tasks of a quarantined system. ``account_types`` (default: every
    registered type) narrows the types, ``employee_number`` to one person.
    """
    queryset = AccountCreationTask.objects.filter(status=TaskStatus.PENDING, waiting_for__isnull=True)
    if employee_number is not None:
        queryset = queryset.filter(employee_number=employee_number)
    if account_types is not None and set(account_types) != set(registry.values()):
        # Only when needed: with it the planners may leave the claim index for another one.
        queryset = queryset.filter(account_type__in=list(account_types))
    if not include_quarantined:
        queryset = queryset.filter(~_quarantined())
    return (
        queryset.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(_dependencies_met())
        .order_by("priority", "sequence", "id")
    )


def systems_list() -> list[DownstreamSystem]:
    """Every registered system's health row, in run order (a missing row reads as ok)."""
    rows = {row.name: row for row in DownstreamSystem.objects.all()}
    return [rows.get(value) or DownstreamSystem(name=value) for value in registry.values()]


def system_reason(system: DownstreamSystem) -> str:
    """Why a system is quarantined, in the active language (the caller's Accept-Language, the
    dashboard's browser language, or LANGUAGE_CODE); a row written before reasons were stored
    as codes shows its stored text."""
    return render_stored(system.reason_data, system.reason)


def waiting_counts(*, caller: Access | None = None) -> dict[str, int]:
    """Pending tasks per system that a quarantine holds back (the caller's origin systems only)."""
    queryset = AccountCreationTask.objects.filter(status=TaskStatus.PENDING).filter(_quarantined())
    if caller is not None:
        queryset = caller.narrow(queryset)
    return dict(queryset.order_by().values_list("account_type").annotate(n=Count("*")))


def task_list(*, caller: Access, filters: dict[str, Any] | None = None) -> QuerySet[AccountCreationTask]:
    """The caller's tasks (its origin systems only), newest first, with their attempt counts."""
    queryset = caller.narrow(AccountCreationTask.objects.annotate(attempts=attempts_subquery()).order_by("-id"))
    for name, value in (filters or {}).items():
        if value in (None, ""):
            continue
        if name == "created_after":
            queryset = queryset.filter(created_at__gte=value)
        elif name == "created_before":
            queryset = queryset.filter(created_at__lt=value)
        elif name == "q":
            queryset = queryset.filter(task_text_match(value))
        else:
            queryset = queryset.filter(**{name: value})
    return queryset


def task_text_match(text: str, prefix: str = "") -> Q:
    """Free text over tasks: name contains, employee number or businessKey starts with."""
    return (
        Q(**{f"{prefix}employee_name__icontains": text})
        | Q(**{f"{prefix}employee_number__istartswith": text})
        | Q(**{f"{prefix}business_key__istartswith": text})
    )


def task_logs(*, task_id: int) -> QuerySet[AccountCreationLog]:
    return AccountCreationLog.objects.filter(task_id=task_id).order_by("execution_attempt")


def _rate(completed: int, total: int) -> float:
    return round(100.0 * completed / total, 2) if total else 0.0


def task_stats(*, caller: Access) -> dict[str, Any]:
    """Counts per account type and status of the caller's tasks, from one grouped query."""
    by_type: dict[str, dict[str, Any]] = {
        value: {f"{status}_tasks": 0 for status in TaskStatus.values} | {"total_tasks": 0}
        for value in registry.values()
    }
    # COUNT(*), not COUNT(id): PostgreSQL can then answer from the (account_type, status)
    # index alone (an index-only scan) instead of reading every row of the table.
    rows = (
        caller.narrow(AccountCreationTask.objects.order_by())
        .values("account_type", "status")
        .annotate(n=Count("*"))
    )
    for row in rows:
        bucket = by_type.setdefault(
            row["account_type"],
            {f"{status}_tasks": 0 for status in TaskStatus.values} | {"total_tasks": 0},
        )
        bucket[f"{row['status']}_tasks"] += row["n"]
        bucket["total_tasks"] += row["n"]
    totals = {f"{status}_tasks": 0 for status in TaskStatus.values} | {"total_tasks": 0}
    for bucket in by_type.values():
        # A cancelled task was withdrawn, not failed: it counts in neither side of the rate.
        bucket["completion_rate"] = _rate(bucket["completed_tasks"], bucket["total_tasks"] - bucket["cancelled_tasks"])
        for key in totals:
            totals[key] += bucket[key]
    return {
        "total_tasks": totals["total_tasks"],
        "pending_tasks": totals["pending_tasks"],
        "processing_tasks": totals["processing_tasks"],
        "completed_tasks": totals["completed_tasks"],
        "failed_tasks": totals["failed_tasks"],
        "blocked_tasks": totals["blocked_tasks"],
        "cancelled_tasks": totals["cancelled_tasks"],
        "overall_completion_rate": _rate(totals["completed_tasks"], totals["total_tasks"] - totals["cancelled_tasks"]),
        "stats_by_type": by_type,
    }


def task_last_error(task: AccountCreationTask) -> str:
    """A task's last error in the active language (the caller's Accept-Language, or LANGUAGE_CODE);
    a row written before messages were stored as codes shows its stored text."""
    return render_stored(task.last_error_data, task.last_error)


_DETAIL_DATETIMES = ("next_attempt_at",)


def zoned_details(details: Any) -> Any:
    """An attempt's error details with their datetimes in TIME_ZONE with its offset (older rows
    stored UTC)."""
    if not isinstance(details, dict):
        return details
    zoned = dict(details)
    for key in _DETAIL_DATETIMES:
        value = zoned.get(key)
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                continue
            if timezone.is_aware(moment):
                zoned[key] = timezone.localtime(moment).isoformat()
    return zoned
