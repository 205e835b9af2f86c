"""Cancellation: withdraw a request's tasks that have not started, in one fenced transaction.

The fence is the status guard of one ``UPDATE``: only ``pending`` and ``blocked`` tasks
become ``cancelled``. On PostgreSQL a task a runner is claiming at that moment is row-locked
by the claim's ``FOR UPDATE``; the ``UPDATE`` waits for it, re-reads the row, finds it
``processing`` and leaves it alone — and a claim skips (``SKIP LOCKED``) the rows the
cancellation holds, then finds them cancelled. On SQLite both are IMMEDIATE transactions,
one after the other. Either way nothing cancelled is ever attempted and nothing attempted
is marked cancelled. A task running at that moment finishes and keeps its result; should
its attempt end in a retry, or its runner vanish, it is cancelled then instead of going back
to the queue (``cancel_if_request_cancelled``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from account_creation.messages import message
from account_creation.models import (
    OCCUPYING_STATUSES,
    AccountCreationRequest,
    AccountCreationTask,
    MailboxAddress,
    RequestReuse,
    TaskStatus,
)
from account_creation.request_selectors import RequestStatus, with_progress
from account_creation.services.audit import VIA_API, request_cancelled_record
from account_creation.services.sql import write_transaction
from accountsync.errors import ConflictError
from accountsync.logging import kv
from accountsync.messages import Message
from callbacks.services import callback_events_emit, people_of_tasks

logger = logging.getLogger(__name__)

CANCELLABLE = (TaskStatus.PENDING, TaskStatus.BLOCKED)


@dataclass(frozen=True)
class Cancellation:
    cancelled: int
    addresses_released: int


def cancelled_message(actor: str | Message) -> Message:
    return message("request.cancelled_task", actor=actor)


def api_client_actor(name: str) -> Message:
    """Who cancelled, when an API client did: "API client oa" in each reader's language."""
    return message("request.actor_api_client", client=name)


def request_cancel(
    *, request: AccountCreationRequest, actor: str | Message, user_id: int | None = None, via: str = VIA_API
) -> Cancellation:
    """Cancel every task of ``request`` that has not started; 409 when nothing is left to do.

    ``actor`` says who: a Message (rendered in each reader's language) or a plain name.
    """
    now = timezone.now()
    who = actor.render(settings.LANGUAGE_CODE) if isinstance(actor, Message) else actor
    with write_transaction():
        current: Any = with_progress(AccountCreationRequest.objects.filter(pk=request.pk)).get()
        if current.derived_status in RequestStatus.finished:
            raise ConflictError(
                message(
                    "request.finished",
                    request=request.request_id,
                    # completed, failed or cancelled: the status words of the catalog.
                    status=message(f"status.{current.derived_status}"),
                ),
                code="request_finished",
            )
        if current.cancelled_at is None:
            AccountCreationRequest.objects.filter(pk=request.pk).update(cancelled_at=now, cancelled_by=who[:150])
        handed = _hand_over_reused(request, now)
        cancellable = list(
            AccountCreationTask.objects.filter(request=request, status__in=CANCELLABLE).values_list(
                "pk", "employee_number"
            )
        )
        people = sorted({number for _, number in cancellable})
        task_ids = [pk for pk, _ in cancellable]
        said = cancelled_message(actor)
        cancelled = AccountCreationTask.objects.filter(pk__in=task_ids, status__in=CANCELLABLE).update(
            status=TaskStatus.CANCELLED,
            next_attempt_at=None,
            last_error=said.render(settings.LANGUAGE_CODE),
            last_error_data=said.as_stored(),
            completed_at=now,
            updated_at=now,
        )
        released = _release_unused_addresses(people)
        request_cancelled_record(user_id=user_id, request=request, task_ids=task_ids, via=via)
        # The request's own events, and those of later requests that reused a cancelled task.
        affected = people_of_tasks((pk, request.pk, number) for pk, number in cancellable)
        affected.setdefault(request.pk, set())
        callback_events_emit(people=affected, now=now)
    logger.info(
        "request cancelled %s",
        kv(request_id=request.request_id, actor=who, cancelled=cancelled, addresses_released=released,
           handed_over=handed),
    )
    return Cancellation(cancelled=cancelled, addresses_released=released)


def _hand_over_reused(request: AccountCreationRequest, now: Any) -> int:
    """The request's not-started tasks that a later, live request reused pass to that request
    (the earliest, if several) instead of being cancelled: it still wants those accounts.
    They take its request, business key, origin system and priority; its reuse link goes. (A
    running one finishes for both through the link; if it must retry, it is handed over then.)"""
    links = (
        RequestReuse.objects.filter(
            task__request=request,
            task__status__in=CANCELLABLE,
            request__cancelled_at__isnull=True,
        )
        .order_by("task_id", "request_id")
        .values_list("pk", "task_id", "request_id")
    )
    heirs: dict[int, tuple[int, int]] = {}
    for link, task, heir in links:
        heirs.setdefault(task, (heir, link))
    if not heirs:
        return 0
    by_heir: dict[int, list[int]] = {}
    for task, (heir, _) in heirs.items():
        by_heir.setdefault(heir, []).append(task)
    for successor in AccountCreationRequest.objects.filter(pk__in=list(by_heir)).order_by("pk"):
        AccountCreationTask.objects.filter(pk__in=by_heir[successor.pk], request=request).update(
            request=successor, business_key=successor.business_key, origin_system=successor.origin_system,
            priority=successor.priority, updated_at=now,
        )
    RequestReuse.objects.filter(pk__in=[link for _, link in heirs.values()]).delete()
    return len(heirs)


def _release_unused_addresses(employee_numbers: list[str]) -> int:
    """Free the allocated address of each person left with no task at all that may use it.

    A person with a completed, running or waiting task keeps the address: it is (or will be)
    the address IDaaS, WeLink and Exchange know. Only a person whose every task was cancelled
    or failed before anything was created gives it back, so a later hire may take the name.
    """
    if not employee_numbers:
        return 0
    holding = AccountCreationTask.objects.filter(
        employee_number=OuterRef("employee_number"), status__in=OCCUPYING_STATUSES
    )
    created = AccountCreationTask.objects.filter(
        employee_number=OuterRef("employee_number"), result__isnull=False
    )
    deleted, _ = (
        MailboxAddress.objects.filter(employee_number__in=employee_numbers)
        .exclude(Exists(holding))
        .exclude(Exists(created))
        .delete()
    )
    return deleted


def cancel_if_request_cancelled(*, task_ids: list[int]) -> int:
    """Cancel pending tasks of cancelled requests (inside the caller's transaction).

    Called where a task returns to the queue — a retryable failure, an expired lease — so a
    request cancelled while its task was running does not start that task again.
    """
    if not task_ids:
        return 0
    for request in AccountCreationRequest.objects.filter(
        tasks__pk__in=task_ids, tasks__status=TaskStatus.PENDING, cancelled_at__isnull=False
    ).distinct():
        _hand_over_reused(request, timezone.now())
    said = message("request.cancelled_while_running")
    return AccountCreationTask.objects.filter(
        pk__in=task_ids, status=TaskStatus.PENDING, request__cancelled_at__isnull=False
    ).update(
        status=TaskStatus.CANCELLED,
        next_attempt_at=None,
        last_error=said.render(settings.LANGUAGE_CODE),
        last_error_data=said.as_stored(),
        completed_at=timezone.now(),
        updated_at=timezone.now(),
    )
