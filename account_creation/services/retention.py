"""Personal data has a lifetime: anonymise finished tasks after the retention period.

``purge_personal_data`` (the command) calls :func:`purge_personal_data`. A task that finished
(completed or failed) before the cutoff loses the person's name, phone number and partner
company; so do its attempt rows (the redacted request we sent keeps no ``name`` /
``userNameCn`` / ``englishName`` / ``mobile`` …, and the name and phone number are cut out of
messages and tracebacks) and the error and warning messages of its request row. What an
audit needs stays: employee number, account type, origin system and businessKey, status,
result (account id, userName, address), outcomes, timestamps and the attempt rows
themselves. The mailbox row keeps the address: it is an account identifier.

A person with an unfinished task (pending, processing or blocked) keeps their data until it
finishes: a blocked task waits for its failed IDaaS task to be retried, which needs the name.
A purged task that an operator retries anyway fails permanently (services/prepare.py).

Idempotent (an anonymised task is not selected again) and batched: each batch reads at most
``batch_size`` tasks, their attempt rows and request rows, and writes them in one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from account_creation.connectors.http import split_phone
from account_creation.models import (
    AccountCreationLog,
    AccountCreationRequest,
    AccountCreationTask,
    TaskStatus,
)
from accountsync.logging import kv
from accountsync.redaction import DESCEND, PHONE_KEYS, mask_phone, walk

logger = logging.getLogger(__name__)

ANONYMISED_NAME = "[removed]"  # cannot be a real name: intake refuses brackets
REMOVED = "[removed]"
FINISHED = (TaskStatus.COMPLETED, TaskStatus.FAILED)
UNFINISHED = (TaskStatus.PENDING, TaskStatus.PROCESSING, TaskStatus.BLOCKED)
BATCH_SIZE = 500
# Mapping keys (compared lower-case) whose values are a person's name or company.
NAME_KEYS = frozenset({
    "name", "employeename", "employee_name", "usernamecn", "usernameen", "englishname", "english_name",
    "partnercompany", "partner_company",
})
_MIN_NAME_CHARS = 2  # a one-character needle would cut letters out of ordinary words
_MIN_PHONE_CHARS = 5


def is_anonymised(task: AccountCreationTask) -> bool:
    return task.employee_name == ANONYMISED_NAME


@dataclass
class PurgeReport:
    cutoff: datetime
    tasks: int = 0
    logs: int = 0
    requests: int = 0


def purgeable_tasks(cutoff: datetime) -> QuerySet[AccountCreationTask]:
    """Finished before ``cutoff``, not anonymised yet, and the person has no unfinished task."""
    unfinished = AccountCreationTask.objects.filter(employee_number=OuterRef("employee_number"),
                                                    status__in=UNFINISHED)
    finished_before = Q(completed_at__lt=cutoff) | Q(completed_at__isnull=True, updated_at__lt=cutoff)
    return (
        AccountCreationTask.objects.filter(finished_before, status__in=FINISHED)
        .exclude(employee_name=ANONYMISED_NAME)
        .exclude(Exists(unfinished))
    )


def _phone_forms(phone: str, country: str) -> set[str]:
    """The ways a phone number appears in stored text: as sent, digits only, national, +CC-national,
    and masked (138****8000) each."""
    raw = (phone or "").strip()
    digits = "".join(ch for ch in raw if ch.isdigit())
    plus_code, national = split_phone(raw, country or "cn")  # as the connectors send it
    code = plus_code.lstrip("+")
    forms = {raw, digits, national, f"+{code}-{national}", f"+{code}{national}"}
    forms |= {mask_phone(form) for form in list(forms)}
    return {form for form in forms if len(form) >= _MIN_PHONE_CHARS}


def _needles(task: AccountCreationTask) -> list[str]:
    """Texts to cut out of stored messages for this task's person, longest first."""
    needles = {task.employee_name.strip()} if len(task.employee_name.strip()) >= _MIN_NAME_CHARS else set()
    needles |= _phone_forms(task.phone_number, task.country)
    return sorted((needle for needle in needles if needle), key=len, reverse=True)


def scrub_text(text: str, needles: list[str]) -> str:
    for needle in needles:
        if needle in text:
            text = text.replace(needle, REMOVED)
    return text


def scrub_data(data: Any, needles: list[str]) -> Any:
    """A copy of JSON-like data without the person's name, company and phone number."""

    def on_key(key: Any, value: Any) -> Any:
        if isinstance(key, str) and (key.lower() in NAME_KEYS or key.lower() in PHONE_KEYS) and value:
            return REMOVED
        return DESCEND

    return walk(data, lambda text: scrub_text(text, needles), on_key)


def _purge_batch(tasks: list[AccountCreationTask], *, dry_run: bool, report: PurgeReport) -> None:
    needles = {task.pk: _needles(task) for task in tasks}
    logs = list(AccountCreationLog.objects.filter(task_id__in=list(needles)))
    changed_logs = []
    for log in logs:
        task_needles = needles[log.task_id]
        scrubbed = (
            scrub_data(log.error_details, task_needles),
            scrub_data(log.execution_context, task_needles),
            scrub_text(log.error_message, task_needles),
            scrub_text(log.traceback, task_needles),
            scrub_data(log.error_data, task_needles),
        )
        if scrubbed != (log.error_details, log.execution_context, log.error_message, log.traceback, log.error_data):
            log.error_details, log.execution_context, log.error_message, log.traceback, log.error_data = scrubbed
            changed_logs.append(log)
    by_request: dict[int, list[str]] = {}
    for task in tasks:
        by_request.setdefault(task.request_id, []).extend(needles[task.pk])
    changed_requests = []
    for request in AccountCreationRequest.objects.filter(pk__in=list(by_request)):
        request_needles = sorted(set(by_request[request.pk]), key=len, reverse=True)
        errors, warnings = scrub_data(request.errors, request_needles), scrub_data(request.warnings, request_needles)
        if (errors, warnings) != (request.errors, request.warnings):
            request.errors, request.warnings = errors, warnings
            changed_requests.append(request)
    for task in tasks:
        task.last_error = scrub_text(task.last_error, needles[task.pk])
        task.last_error_data = scrub_data(task.last_error_data, needles[task.pk])
        task.employee_name, task.phone_number, task.partner_company = ANONYMISED_NAME, "", ""
    report.tasks += len(tasks)
    report.logs += len(changed_logs)
    report.requests += len(changed_requests)
    if dry_run:
        return
    with transaction.atomic():
        # updated_at is left as it was: it still says when the task finished.
        AccountCreationTask.objects.bulk_update(
            tasks, ["employee_name", "phone_number", "partner_company", "last_error", "last_error_data"])
        AccountCreationLog.objects.bulk_update(
            changed_logs, ["error_details", "execution_context", "error_message", "traceback", "error_data"])
        AccountCreationRequest.objects.bulk_update(changed_requests, ["errors", "warnings"])


def purge_personal_data(*, older_than_days: int, dry_run: bool = False, batch_size: int = BATCH_SIZE,
                        now: datetime | None = None) -> PurgeReport:
    """Anonymise the tasks finished more than ``older_than_days`` days ago (see the module)."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    cutoff = (now or timezone.now()) - timedelta(days=older_than_days)
    report = PurgeReport(cutoff=cutoff)
    selected = purgeable_tasks(cutoff).order_by("pk")
    last_pk = 0
    while True:
        tasks = list(selected.filter(pk__gt=last_pk)[:batch_size])
        if not tasks:
            break
        last_pk = tasks[-1].pk
        _purge_batch(tasks, dry_run=dry_run, report=report)
    logger.info(kv(event="personal_data_purged", dry_run=dry_run, cutoff=cutoff.isoformat(), tasks=report.tasks,
                   logs=report.logs, requests=report.requests))
    return report
