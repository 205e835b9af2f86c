"""The task queue: requests, tasks, attempt logs, allocated mailboxes and engine runs.

The task table *is* the queue. Invariants live in the database: one active or completed
task per employee and account type, one attempt row per (task, attempt number), one
mailbox address per person and per address.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from account_creation.account_types import ACCOUNT_TYPE_CHOICES, AccountType, account_type_choices

# ACCOUNT_TYPE_CHOICES and AccountType are re-exported: the spec's extension guide names them here.
__all__ = [
    "ACCOUNT_TYPE_CHOICES",
    "OCCUPYING_STATUSES",
    "AccountCreationLog",
    "AccountCreationRequest",
    "AccountCreationTask",
    "AccountType",
    "AttemptOutcome",
    "DownstreamSystem",
    "EngineRun",
    "MailboxAddress",
    "Priority",
    "SystemState",
    "TaskStatus",
]


class TaskStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    PROCESSING = "processing", _("Processing")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    BLOCKED = "blocked", _("Blocked")
    CANCELLED = "cancelled", _("Cancelled")


class Priority(models.IntegerChoices):
    """Claim order across requests: lower first. The API speaks the names (high, normal)."""

    HIGH = 0, "high"
    NORMAL = 1, "normal"


PRIORITY_BY_NAME = {"high": Priority.HIGH, "normal": Priority.NORMAL}
PRIORITY_NAMES = {Priority.HIGH.value: "high", Priority.NORMAL.value: "normal"}


def new_request_id() -> str:
    """An opaque, unguessable request id (the API's requestId), e.g. req_3q2Vd8F1xk0cQ7aZ."""
    return "req_" + secrets.token_urlsafe(12)


# Statuses in which a task occupies its (employee, account type) slot. A cancelled task does
# not: a later request for the same person and system creates a new task.
OCCUPYING_STATUSES = (
    TaskStatus.PENDING,
    TaskStatus.PROCESSING,
    TaskStatus.COMPLETED,
    TaskStatus.BLOCKED,
)


class AccountCreationRequest(models.Model):
    """One accepted OA approval (originSystem + businessKey); replays are recognised by it."""

    request_id = models.CharField(
        max_length=40, unique=True, default=new_request_id, editable=False,
        help_text="The API's requestId: opaque, answered by create_accounts and its replays.",
    )
    origin_system = models.CharField(max_length=64)
    business_key = models.CharField(max_length=128)
    account_category = models.CharField(
        max_length=32, help_text="The request's accountType, e.g. personal."
    )
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    employee_type = models.CharField(max_length=32)
    system_list = models.JSONField(default=list)
    payload_sha256 = models.CharField(
        max_length=64, help_text="Fingerprint of the request body, to tell a replay from a reuse."
    )
    user_count = models.PositiveIntegerField(default=0)
    accepted_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.CharField(
        max_length=150, blank=True, help_text="Who cancelled it (API client or staff user)."
    )

    class Meta:
        verbose_name = _("account creation request")
        verbose_name_plural = _("account creation requests")
        constraints = [
            models.UniqueConstraint(
                fields=["origin_system", "business_key"], name="uniq_request_origin_business_key"
            )
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.origin_system}/{self.business_key}"


class AccountCreationTask(models.Model):
    request = models.ForeignKey(
        AccountCreationRequest, on_delete=models.PROTECT, related_name="tasks", db_index=False
    )
    origin_system = models.CharField(max_length=64)
    business_key = models.CharField(max_length=128)
    account_category = models.CharField(max_length=32)
    # Callable choices follow the account-type registry: a new type needs no migration.
    account_type = models.CharField(max_length=16, choices=account_type_choices)
    sequence = models.PositiveSmallIntegerField(
        help_text="Run order of the account type (its AccountTypeSpec.order; IDaaS first)."
    )
    employee_type = models.CharField(max_length=32)
    priority = models.PositiveSmallIntegerField(
        choices=Priority.choices, default=Priority.NORMAL, help_text="Due high tasks are claimed first."
    )
    employee_number = models.CharField(max_length=64)
    employee_name = models.CharField(max_length=100)
    department_code = models.CharField(max_length=64)
    phone_number = models.CharField(max_length=32, blank=True)
    partner_company = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=8, blank=True)

    status = models.CharField(
        max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    locked_by = models.CharField(max_length=100, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    attempt_base = models.PositiveIntegerField(
        default=0,
        help_text="Attempts that do not count against the budget: those made before the last manual "
        "retry, and those refused by a system-wide problem (quarantine, rate limit).",
    )
    result = models.JSONField(null=True, blank=True)
    last_error = models.TextField(blank=True, help_text="The last error, as text in LANGUAGE_CODE.")
    # The same message as code and parameters (accountsync/messages.py), rendered in the reader's language.
    last_error_data = models.JSONField(null=True, blank=True)
    waiting_for = models.JSONField(
        null=True,
        blank=True,
        help_text="Configuration the task waits for (code and parameters, e.g. a department mapping); "
        "while set the task is not claimed and spends no attempts.",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("account creation task")
        verbose_name_plural = _("account creation tasks")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["employee_number", "account_type"],
                condition=Q(status__in=[s.value for s in OCCUPYING_STATUSES]),
                name="uniq_active_task_per_employee_type",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in TaskStatus]),
                name="task_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status=TaskStatus.PROCESSING)
                | (Q(locked_until__isnull=False) & ~Q(locked_by="")),
                name="task_processing_has_lease",
            ),
        ]
        indexes = [
            # The claim query: pending tasks in run order. Not a partial index: SQLite cannot
            # match a partial index's condition against a bound parameter (status = ?).
            models.Index(fields=["status", "priority", "sequence", "id"], name="task_claim_idx"),
            # Lease recovery: processing tasks by lease expiry.
            models.Index(
                fields=["locked_until"],
                condition=Q(status=TaskStatus.PROCESSING),
                name="task_lease_idx",
            ),
            # List filters, each ordered by newest first.
            models.Index(fields=["status", "-id"], name="task_status_idx"),
            models.Index(fields=["account_type", "-id"], name="task_type_idx"),
            # Dependency checks of the claim (same person, IDaaS, completed) and person look-ups.
            models.Index(fields=["employee_number", "account_type", "status"], name="task_employee_idx"),
            models.Index(fields=["business_key", "-id"], name="task_business_key_idx"),
            models.Index(fields=["origin_system", "-id"], name="task_origin_idx"),
            models.Index(fields=["account_type", "status"], name="task_stats_idx"),
            # A request's tasks (the request resource, cancellation); replaces the FK's own index.
            models.Index(fields=["request", "status"], name="task_request_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.account_type} {self.employee_number} {self.status}"


class AttemptOutcome(models.TextChoices):
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    RETRY = "retry", _("Failed, will retry")
    FAILED = "failed", _("Failed permanently")
    LOST = "lost", _("Lost (runner stopped, lease expired)")
    DROPPED = "dropped", _("Result dropped (lease lost)")


class AccountCreationLog(models.Model):
    """One attempt of one task: written at claim, completed when the attempt ends."""

    # No index of its own: the unique (task, execution_attempt) constraint starts with task_id
    # and serves the look-ups and cascading deletes.
    task = models.ForeignKey(AccountCreationTask, on_delete=models.CASCADE, related_name="logs", db_index=False)
    execution_attempt = models.PositiveIntegerField(help_text="Attempt number, from 1.")
    outcome = models.CharField(
        max_length=16, choices=AttemptOutcome.choices, default=AttemptOutcome.RUNNING
    )
    runner = models.CharField(max_length=100)
    error_message = models.TextField(blank=True)
    error_data = models.JSONField(null=True, blank=True, help_text="error_message as code and parameters.")
    error_details = models.JSONField(null=True, blank=True)
    execution_context = models.JSONField(default=dict, blank=True)
    traceback = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("attempt log")
        verbose_name_plural = _("attempt logs")
        ordering = ["task_id", "execution_attempt"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "execution_attempt"], name="uniq_log_task_attempt"
            ),
            models.CheckConstraint(
                condition=Q(execution_attempt__gte=1), name="log_attempt_from_one"
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="log_created_idx")]

    def __str__(self) -> str:
        return f"task #{self.task_id} attempt {self.execution_attempt} {self.outcome}"


class MailboxAddress(models.Model):
    """The mailbox address allocated to a person, once, shared by every system."""

    employee_number = models.CharField(max_length=64, unique=True)
    local_part = models.CharField(max_length=64)
    base_local_part = models.CharField(
        max_length=64, default="", help_text="The local part before any collision suffix (zhangsan for zhangsan2)."
    )
    domain = models.CharField(max_length=100)
    address = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("mailbox address")
        verbose_name_plural = _("mailbox addresses")
        ordering = ["address"]
        # Finding the taken suffixes of a name is one equality look-up, not a table scan.
        indexes = [models.Index(fields=["domain", "base_local_part"], name="mailbox_base_idx")]

    def __str__(self) -> str:
        return self.address


class EngineRun(models.Model):
    """One run of process_account_creation_tasks: answers "is the cron running?"."""

    runner_id = models.CharField(max_length=100)
    host = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    claimed = models.PositiveIntegerField(default=0)
    completed = models.PositiveIntegerField(default=0)
    retried = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    blocked = models.PositiveIntegerField(default=0)
    recovered = models.PositiveIntegerField(default=0)
    token_refreshes = models.JSONField(
        default=dict, blank=True, help_text="Access tokens fetched during the run, per account type."
    )
    stop_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("engine run")
        verbose_name_plural = _("engine runs")
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["-finished_at"], name="run_finished_idx")]

    def __str__(self) -> str:
        return f"{self.runner_id} {self.started_at:%Y-%m-%d %H:%M:%S}"


class SystemState(models.TextChoices):
    OK = "ok", "OK"
    QUARANTINED = "quarantined", "Quarantined"


class DownstreamSystem(models.Model):
    """The health of one downstream system (one row per account type), shared by every runner.

    Quarantine: while ``state`` is quarantined the system's tasks are not claimed; one runner
    at a time takes the probe when ``next_probe_at`` is due (``probe_by``). Rate limit: a
    GCRA schedule (``rate_tat``, unix seconds: when the next call slot is free) and the AIMD
    state of a slowed-down system (``rate_allowed`` calls/s at ``rate_decreased_at``).
    """

    name = models.CharField(max_length=16, primary_key=True, help_text="The account type.")
    state = models.CharField(max_length=16, choices=SystemState.choices, default=SystemState.OK)
    reason_code = models.CharField(max_length=32, blank=True)
    reason = models.TextField(blank=True, help_text="Why it is quarantined (redacted answer).")
    since = models.DateTimeField(null=True, blank=True)
    next_probe_at = models.DateTimeField(null=True, blank=True)
    probe_by = models.CharField(max_length=100, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    quarantines = models.PositiveIntegerField(default=0, help_text="Times it entered quarantine.")
    rate_limited = models.PositiveBigIntegerField(default=0, help_text="Rate-limited answers received.")
    rate_tat = models.FloatField(default=0.0)
    rate_allowed = models.FloatField(null=True, blank=True)
    rate_decreased_at = models.FloatField(default=0.0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=[s.value for s in SystemState]), name="system_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.state}"
