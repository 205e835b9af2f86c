"""Manual retry: put failed or blocked tasks back in the queue with a fresh attempt budget."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from account_creation.account_types import registry
from account_creation.models import OCCUPYING_STATUSES, AccountCreationTask, TaskStatus
from account_creation.selectors import attempt_counts
from account_creation.services.audit import VIA_API, tasks_retried_record
from accountsync.errors import ConflictError
from accountsync.logging import kv

logger = logging.getLogger(__name__)
RETRYABLE_STATUSES = (TaskStatus.FAILED, TaskStatus.BLOCKED)


@dataclass
class RetryOutcome:
    retried: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)  # task id -> why (for people)
    refusal_codes: dict[int, str] = field(default_factory=dict)  # task id -> ConflictError code

    def refuse(self, task_id: int, error: ConflictError) -> None:
        self.refused[task_id] = str(error.message)
        self.refusal_codes[task_id] = error.code


def _retry_one(task: AccountCreationTask, attempts: int) -> None:
    """Reset one task (inside the caller's transaction); raises ConflictError when it can't."""
    if task.status not in RETRYABLE_STATUSES:
        raise ConflictError(
            _("Task #%(task)s is %(status)s; only failed or blocked tasks can be retried.")
            % {"task": task.pk, "status": _(task.status)},
            code="not_retryable",
        )
    now = timezone.now()
    try:
        with transaction.atomic():
            updated = AccountCreationTask.objects.filter(pk=task.pk, status=task.status).update(
                status=TaskStatus.PENDING,
                attempt_base=attempts,
                next_attempt_at=None,
                last_error="",
                last_error_data=None,
                updated_at=now,
            )
    except IntegrityError as exc:
        other = (
            AccountCreationTask.objects.filter(
                employee_number=task.employee_number,
                account_type=task.account_type,
                status__in=OCCUPYING_STATUSES,
            )
            .exclude(pk=task.pk)
            .first()
        )
        raise ConflictError(
            _("Task #%(task)s cannot be retried: employee %(employee)s already has %(system)s task #%(other)s "
              "(%(status)s); retry or cancel that one instead.")
            % {"task": task.pk, "employee": task.employee_number, "system": task.account_type,
               "other": other.pk if other else "?", "status": _(other.status) if other else "?"},
            code="duplicate_active_task",
        ) from exc
    if not updated:
        raise ConflictError(
            _("Task #%(task)s changed while retrying; reload and try again.") % {"task": task.pk}, code="changed"
        )


def task_retry_many(*, task_ids: list[int], user_id: int | None = None, via: str = "") -> RetryOutcome:
    """Retry each task; a blocked task's failed dependency is retried along with it.

    ``user_id`` (who asked; ``via``: from where) goes to the admin's read-only history."""
    outcome = RetryOutcome()
    with transaction.atomic():
        tasks = list(AccountCreationTask.objects.select_for_update().filter(pk__in=task_ids).order_by("pk"))
        blocked_people = {
            (task.employee_number, dependency)
            for task in tasks
            if task.status == TaskStatus.BLOCKED
            for dependency in registry.dependencies(task.account_type)
        }
        # The failed dependencies of blocked tasks come first, so the chain restarts.
        dependencies: list[AccountCreationTask] = []
        for number, account_type in sorted(blocked_people):
            failed = (
                AccountCreationTask.objects.select_for_update()
                .filter(employee_number=number, account_type=account_type, status=TaskStatus.FAILED)
                .order_by("-pk")
                .first()
            )
            has_active = AccountCreationTask.objects.filter(
                employee_number=number, account_type=account_type, status__in=OCCUPYING_STATUSES
            ).exists()
            if failed is not None and not has_active and failed.pk not in task_ids:
                dependencies.append(failed)
        everything = dependencies + tasks
        attempts = attempt_counts(task_ids=[t.pk for t in everything])
        for task in everything:
            try:
                _retry_one(task, attempts.get(task.pk, 0))
                outcome.retried.append(task.pk)
            except ConflictError as exc:
                outcome.refuse(task.pk, exc)
        retried = set(outcome.retried)
        tasks_retried_record(user_id=user_id, tasks=[t for t in everything if t.pk in retried], via=via)
    for task_id in task_ids:
        if task_id not in outcome.retried and task_id not in outcome.refused:
            missing = _("Task #%(task)s does not exist.") % {"task": task_id}
            outcome.refuse(task_id, ConflictError(missing, code="not_found"))
    logger.info("tasks retried %s", kv(retried=len(outcome.retried), refused=len(outcome.refused)))
    return outcome


def task_retry(*, task_id: int, user_id: int | None = None) -> AccountCreationTask:
    """Retry one task (API); raises ConflictError (409) when it is not failed or blocked."""
    outcome = task_retry_many(task_ids=[task_id], user_id=user_id, via=VIA_API)
    if task_id in outcome.refused:
        raise ConflictError(outcome.refused[task_id], code=outcome.refusal_codes[task_id])
    return AccountCreationTask.objects.get(pk=task_id)


def task_retry_failed(*, account_type: str | None = None) -> RetryOutcome:
    """Retry every failed task (and blocked ones), optionally of one account type."""
    queryset = AccountCreationTask.objects.filter(status__in=RETRYABLE_STATUSES)
    if account_type:
        queryset = queryset.filter(account_type=account_type)
    return task_retry_many(task_ids=list(queryset.values_list("pk", flat=True)))
