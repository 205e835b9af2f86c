"""Who retried or cancelled what: rows of the admin's own history (``LogEntry``).

The admin shows them read-only on each task's and request's *History* page and in *Recent
actions*; no table of our own, so no migration, and the admin's conventions hold. The text is
written in ``LANGUAGE_CODE`` (``LogEntry`` stores prose; the code and parameters live in the
logs' key=value line as well).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext, gettext_noop, override

from account_creation.models import AccountCreationRequest, AccountCreationTask, DownstreamSystem


def _entries(user_id: int, objects: Iterable[models.Model], text: str) -> list[LogEntry]:
    entries = []
    for obj in objects:
        content_type = ContentType.objects.get_for_model(obj, for_concrete_model=False)
        entries.append(LogEntry(
            user_id=user_id,
            content_type=content_type,
            object_id=str(obj.pk),
            object_repr=str(obj)[:200],
            action_flag=CHANGE,
            change_message=text,
        ))
    return entries


def tasks_retried_record(*, user_id: int | None, tasks: Iterable[AccountCreationTask], via: str) -> None:
    """One history row per retried task (``via``: the admin, the dashboard, the API)."""
    if user_id is None:
        return
    with override(settings.LANGUAGE_CODE):
        text = gettext("Retried (put back to pending) from %(via)s.") % {"via": gettext(via)}
    LogEntry.objects.bulk_create(_entries(user_id, tasks, text))


def request_cancelled_record(
    *, user_id: int | None, request: AccountCreationRequest, task_ids: list[int], via: str
) -> None:
    """A history row on the request and one on each task it cancelled."""
    if user_id is None:
        return
    with override(settings.LANGUAGE_CODE):
        text = gettext("Cancelled from %(via)s: %(count)s task(s) not yet started.") % {
            "via": gettext(via), "count": len(task_ids)
        }
    tasks = AccountCreationTask.objects.filter(pk__in=task_ids).only("pk", "account_type", "employee_number", "status")
    LogEntry.objects.bulk_create(_entries(user_id, [request, *tasks], text))


# The places an operator acts from (gettext_noop: translated when the row is written).
VIA_ADMIN = gettext_noop("the admin's task list")
VIA_DASHBOARD = gettext_noop("the status dashboard")
VIA_API = gettext_noop("the API")


def system_released_record(*, user_id: int | None, system: DownstreamSystem, via: str) -> None:
    """A history row on the downstream system a person released from quarantine."""
    if user_id is None:
        return
    with override(settings.LANGUAGE_CODE):
        text = gettext("Released from quarantine from %(via)s.") % {"via": gettext(via)}
    entry = _entries(user_id, [system], text)[0]
    entry.object_repr = system.name
    entry.save()
