"""CSV downloads of what a page shows: UTF-8 with a byte-order mark, so Excel opens Chinese names
correctly (without the BOM it reads the file as the local ANSI code page and shows mojibake)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext as _

from account_creation.models import AccountCreationTask
from accountsync.messages import format_datetime, render_stored
from accountsync.redaction import mask_phone

BOM = "\ufeff"
# A cell that starts with one of these is a formula to Excel (CSV injection): prefixed with '.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_response(*, filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.write(BOM)
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_safe(value) for value in row])
    return response


def _when(moment: Any) -> str:
    """In TIME_ZONE with its offset (2026-12-03 15:00:00 +08:00): a file carries no zone otherwise."""
    return format_datetime(moment) if moment else ""


TASK_HEADER = (
    "id", "business_key", "origin_system", "account_type", "status", "employee_number", "employee_name",
    "department_code", "phone_number", "attempts", "username", "email", "account_id", "created_at",
    "completed_at", "last_error",
)


def task_rows(tasks: Iterable[AccountCreationTask]) -> Iterable[list[Any]]:
    """One row per task, phones masked as everywhere else, the error in the reader's language."""
    for task in tasks:
        result = task.result or {}
        yield [
            task.pk, task.business_key, task.origin_system, task.account_type, task.get_status_display(),
            task.employee_number, task.employee_name, task.department_code, mask_phone(task.phone_number),
            getattr(task, "attempts", ""), result.get("username", ""), result.get("email", ""),
            result.get("account_id", ""), _when(task.created_at), _when(task.completed_at),
            render_stored(task.last_error_data, task.last_error),
        ]


def tasks_csv(tasks: Iterable[AccountCreationTask], *, filename: str = "tasks.csv") -> HttpResponse:
    return csv_response(filename=filename, header=TASK_HEADER, rows=task_rows(tasks))


def grid_csv(grid: Any) -> HttpResponse:
    """The request grid: the people with a task per system, then the people rejected at intake."""
    tasks = [task for row in grid.rows for _system, task in row.ordered_cells if task is not None]
    rows = list(task_rows(tasks))
    for person in grid.rejected:
        for field_name, text in person.errors:
            rows.append(["", grid.business_key, "", field_name, _("rejected at intake"), person.employee_number,
                         "", "", "", "", "", "", "", "", "", text])
    safe_key = "".join(c if c.isalnum() or c in "-_." else "_" for c in grid.business_key) or "request"
    return csv_response(filename=f"request-{safe_key}.csv", header=TASK_HEADER, rows=rows)
