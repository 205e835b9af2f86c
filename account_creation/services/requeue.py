"""Putting a claimed task back in the queue without spending an attempt.

Two reasons, neither about the task itself: its system went into quarantine after the claim
(another task's answer, or another runner's), or *our* configuration is missing (a
department or employee-type mapping) — then the task keeps ``waiting_for`` and is not
claimed again until the mapping is saved (``services/waiting.py``). The attempt row written
at claim time is deleted, so the attempt count (the number of rows) stays what it was.
Fenced like every write after the claim.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from account_creation.models import AccountCreationLog, AccountCreationTask, TaskStatus
from account_creation.services.cancel import cancel_if_request_cancelled
from account_creation.services.queue import Claim
from account_creation.services.sql import write_transaction


def task_unclaim(*, claim: Claim, runner_id: str, waiting_for: dict[str, Any] | None = None) -> bool:
    """Back to pending as if never claimed (``waiting_for`` set when given); False if the lease was lost."""
    now = timezone.now()
    with write_transaction(wait_for_flush=False):
        updated = AccountCreationTask.objects.filter(
            pk=claim.task.pk, status=TaskStatus.PROCESSING, locked_by=runner_id
        ).update(
            status=TaskStatus.PENDING,
            locked_by="",
            locked_until=None,
            waiting_for=waiting_for,
            updated_at=now,
        )
        if updated:
            AccountCreationLog.objects.filter(pk=claim.log_id).delete()
            # A request cancelled while this task was claimed: it does not go back to the queue.
            cancel_if_request_cancelled(task_ids=[claim.task.pk])
    return bool(updated)
