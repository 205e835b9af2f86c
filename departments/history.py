"""Reading a mapping's change history (django-simple-history) as before/after entries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Model, Q, QuerySet


def tracked_fields(model: type[Model]) -> list[str]:
    """The fields an entry reports: what a person edits (not the id, not the timestamps,
    whose change the entry's own history_date records)."""
    return [
        field.name
        for field in model._meta.concrete_fields
        if field.editable and not field.primary_key
    ]


def history_of(model: type[Model], object_id: int) -> QuerySet[Any]:
    """Every history record of one object, deleted or not, newest first."""
    manager = model.history  # type: ignore[attr-defined]
    return manager.filter(id=object_id).select_related("history_user").order_by("-history_date", "-history_id")


def _before(records: QuerySet[Any], record: Any) -> Any:
    """The record just before ``record`` (in the same order), or None."""
    earlier = Q(history_date__lt=record.history_date) | Q(
        history_date=record.history_date, history_id__lt=record.history_id
    )
    return records.filter(earlier).first()


def entries(records: QuerySet[Any], page: Sequence[Any], fields: list[str]) -> list[dict[str, Any]]:
    """Each record of ``page`` (newest first, a slice of ``records``) as an entry with its
    changes: a creation lists every field (old null), a deletion every field (new null), a
    change only the fields it changed (simple-history's ``diff_against`` the entry before)."""
    page = list(page)
    answer = []
    for index, record in enumerate(page):
        if record.history_type == "+":
            changes = [{"field": name, "old": None, "new": getattr(record, name)} for name in fields]
        elif record.history_type == "-":
            changes = [{"field": name, "old": getattr(record, name), "new": None} for name in fields]
        else:
            previous = page[index + 1] if index + 1 < len(page) else _before(records, record)
            if previous is None:
                # No earlier entry (history pruned): the value before is unknown.
                changes = [{"field": name, "old": None, "new": getattr(record, name)} for name in fields]
            else:
                delta = record.diff_against(previous, included_fields=fields)
                changes = [{"field": c.field, "old": c.old, "new": c.new} for c in delta.changes]
        user = record.history_user
        answer.append(
            {
                "history_id": record.history_id,
                "history_date": record.history_date,
                "history_type": record.history_type,
                "history_user": user.get_username() if user is not None else None,
                "history_change_reason": record.history_change_reason,
                "changes": changes,
            }
        )
    return answer
