"""Reads: querysets and aggregates for the API, the admin and the commands."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from account_creation.models import (
    ACCOUNT_TYPE_CHOICES,
    AccountCreationLog,
    AccountCreationTask,
    TaskStatus,
)


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


def task_list(*, filters: dict[str, Any] | None = None) -> QuerySet[AccountCreationTask]:
    queryset = AccountCreationTask.objects.annotate(attempts=attempts_subquery()).order_by("-id")
    for name, value in (filters or {}).items():
        if value not in (None, ""):
            queryset = queryset.filter(**{name: value})
    return queryset


def task_logs(*, task_id: int) -> QuerySet[AccountCreationLog]:
    return AccountCreationLog.objects.filter(task_id=task_id).order_by("execution_attempt")


def _rate(completed: int, total: int) -> float:
    return round(100.0 * completed / total, 2) if total else 0.0


def task_stats() -> dict[str, Any]:
    """Counts per account type and status, from one grouped query."""
    by_type: dict[str, dict[str, Any]] = {
        value: {f"{status}_tasks": 0 for status in TaskStatus.values} | {"total_tasks": 0}
        for value, _ in ACCOUNT_TYPE_CHOICES
    }
    # COUNT(*), not COUNT(id): PostgreSQL can then answer from the (account_type, status)
    # index alone (an index-only scan) instead of reading every row of the table.
    rows = (
        AccountCreationTask.objects.order_by()
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
        bucket["completion_rate"] = _rate(bucket["completed_tasks"], bucket["total_tasks"])
        for key in totals:
            totals[key] += bucket[key]
    return {
        "total_tasks": totals["total_tasks"],
        "pending_tasks": totals["pending_tasks"],
        "processing_tasks": totals["processing_tasks"],
        "completed_tasks": totals["completed_tasks"],
        "failed_tasks": totals["failed_tasks"],
        "blocked_tasks": totals["blocked_tasks"],
        "overall_completion_rate": _rate(totals["completed_tasks"], totals["total_tasks"]),
        "stats_by_type": by_type,
    }
