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
    "RequestReuse",
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

    HIGH = 0, _("high")
    NORMAL = 1, _("normal")


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
        _("request ID"),
        max_length=40, unique=True, default=new_request_id, editable=False,
        help_text=_("The API's requestId: opaque, answered by create_accounts and its replays."),
    )
    origin_system = models.CharField(_("origin system"), max_length=64)
    business_key = models.CharField(_("business key"), max_length=128)
    account_category = models.CharField(
        _("account category"), max_length=32, help_text=_("The request's accountType, e.g. personal.")
    )
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices, default=Priority.NORMAL)
    employee_type = models.CharField(_("employee type"), max_length=32)
    system_list = models.JSONField(_("systems"), default=list)
    payload_sha256 = models.CharField(
        _("payload SHA-256"),
        max_length=64,
        help_text=_("Fingerprint of the request body, to tell a replay from a reuse."),
    )
    user_count = models.PositiveIntegerField(_("user count"), default=0)
    accepted_count = models.PositiveIntegerField(_("accepted count"), default=0)
    reused_tasks = models.PositiveIntegerField(
        _("reused tasks"), default=0, help_text=_("Tasks of earlier requests this one reused (fixed at intake).")
    )
    errors = models.JSONField(_("errors"), default=list, blank=True)
    warnings = models.JSONField(_("warnings"), default=list, blank=True)
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("client"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancelled_by = models.CharField(
        _("cancelled by"), max_length=150, blank=True, help_text=_("Who cancelled it (API client or staff user).")
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
        AccountCreationRequest,
        verbose_name=_("request"),
        on_delete=models.PROTECT,
        related_name="tasks",
        db_index=False,
    )
    origin_system = models.CharField(_("origin system"), max_length=64)
    business_key = models.CharField(_("business key"), max_length=128)
    account_category = models.CharField(_("account category"), max_length=32)
    # Callable choices follow the account-type registry: a new type needs no migration.
    account_type = models.CharField(_("account type"), max_length=16, choices=account_type_choices)
    sequence = models.PositiveSmallIntegerField(
        _("sequence"), help_text=_("Run order of the account type (its AccountTypeSpec.order; IDaaS first).")
    )
    employee_type = models.CharField(_("employee type"), max_length=32)
    priority = models.PositiveSmallIntegerField(
        _("priority"),
        choices=Priority.choices,
        default=Priority.NORMAL,
        help_text=_("Due high tasks are claimed first."),
    )
    employee_number = models.CharField(_("employee number"), max_length=64)
    employee_name = models.CharField(_("employee name"), max_length=100)
    department_code = models.CharField(_("department code"), max_length=64)
    phone_number = models.CharField(_("phone number"), max_length=32, blank=True)
    partner_company = models.CharField(_("partner company"), max_length=200, blank=True)
    country = models.CharField(_("country"), max_length=8, blank=True)

    status = models.CharField(
        _("status"), max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING
    )
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    locked_by = models.CharField(_("locked by"), max_length=100, blank=True)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    attempt_base = models.PositiveIntegerField(
        _("attempt base"),
        default=0,
        help_text=_(
            "Attempts that do not count against the budget: those made before the last manual "
            "retry, and those refused by a system-wide problem (quarantine, rate limit)."
        ),
    )
    result = models.JSONField(_("result"), null=True, blank=True)
    last_error = models.TextField(
        _("last error"), blank=True, help_text=_("The last error, as text in LANGUAGE_CODE.")
    )
    # The same message as code and parameters (accountsync/messages.py), rendered in the reader's language.
    last_error_data = models.JSONField(_("last error data"), null=True, blank=True)
    waiting_for = models.JSONField(
        _("waiting for"),
        null=True,
        blank=True,
        help_text=_(
            "Configuration the task waits for (code and parameters, e.g. a department mapping); "
            "while set the task is not claimed and spends no attempts."
        ),
    )

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

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


class RequestReuse(models.Model):
    """A task of an earlier request that a later request reused (the same person and system were
    still pending, running, blocked or already completed, so no second task was made). The later
    request counts it in its status and progress, and its callbacks report it."""

    request = models.ForeignKey(
        AccountCreationRequest, on_delete=models.CASCADE, related_name="reuses", verbose_name=_("request")
    )
    task = models.ForeignKey(
        AccountCreationTask, on_delete=models.CASCADE, related_name="reused_by", db_index=False,
        verbose_name=_("task"),
    )

    class Meta:
        verbose_name = _("reused task")
        verbose_name_plural = _("reused tasks")
        constraints = [models.UniqueConstraint(fields=["request", "task"], name="uniq_reuse_request_task")]
        # Which later requests reused a task (the outbox, when that task finishes).
        indexes = [models.Index(fields=["task"], name="reuse_task_idx")]

    def __str__(self) -> str:
        return f"request #{self.request_id} reuses task #{self.task_id}"


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
    task = models.ForeignKey(
        AccountCreationTask, verbose_name=_("task"), on_delete=models.CASCADE, related_name="logs", db_index=False
    )
    execution_attempt = models.PositiveIntegerField(_("attempt number"), help_text=_("Attempt number, from 1."))
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=AttemptOutcome.choices, default=AttemptOutcome.RUNNING
    )
    runner = models.CharField(_("runner"), max_length=100)
    error_message = models.TextField(_("error message"), blank=True)
    error_data = models.JSONField(
        _("error data"), null=True, blank=True, help_text=_("error_message as code and parameters.")
    )
    error_details = models.JSONField(_("error details"), null=True, blank=True)
    execution_context = models.JSONField(_("execution context"), default=dict, blank=True)
    traceback = models.TextField(_("traceback"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)

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

    employee_number = models.CharField(_("employee number"), max_length=64, unique=True)
    local_part = models.CharField(_("local part"), max_length=64)
    base_local_part = models.CharField(
        _("base local part"),
        max_length=64,
        default="",
        help_text=_("The local part before any collision suffix (zhangsan for zhangsan2)."),
    )
    domain = models.CharField(_("domain"), max_length=100)
    address = models.CharField(_("address"), max_length=200, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

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

    runner_id = models.CharField(_("runner ID"), max_length=100)
    host = models.CharField(_("host"), max_length=200)
    pid = models.PositiveIntegerField(_("PID"))
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    claimed = models.PositiveIntegerField(_("claimed"), default=0)
    completed = models.PositiveIntegerField(_("completed"), default=0)
    retried = models.PositiveIntegerField(_("retried"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    blocked = models.PositiveIntegerField(_("blocked"), default=0)
    recovered = models.PositiveIntegerField(_("recovered"), default=0)
    token_refreshes = models.JSONField(
        _("token refreshes"),
        default=dict,
        blank=True,
        help_text=_("Access tokens fetched during the run, per account type."),
    )
    stop_reason = models.CharField(_("stop reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("engine run")
        verbose_name_plural = _("engine runs")
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["-finished_at"], name="run_finished_idx")]

    def __str__(self) -> str:
        return f"{self.runner_id} {self.started_at:%Y-%m-%d %H:%M:%S}"


class SystemState(models.TextChoices):
    OK = "ok", _("OK")
    QUARANTINED = "quarantined", _("Quarantined")


class DownstreamSystem(models.Model):
    """The health of one downstream system (one row per account type), shared by every runner.

    Quarantine: while ``state`` is quarantined the system's tasks are not claimed; one runner
    at a time takes the probe when ``next_probe_at`` is due (``probe_by``). Rate limit: a
    GCRA schedule (``rate_tat``, unix seconds: when the next call slot is free) and the AIMD
    state of a slowed-down system (``rate_allowed`` calls/s at ``rate_decreased_at``).
    """

    name = models.CharField(_("system"), max_length=16, primary_key=True, help_text=_("The account type."))
    state = models.CharField(_("state"), max_length=16, choices=SystemState.choices, default=SystemState.OK)
    reason_code = models.CharField(_("reason code"), max_length=32, blank=True)
    reason = models.TextField(
        _("reason"), blank=True, help_text=_("Why it is quarantined (redacted answer), as text in LANGUAGE_CODE.")
    )
    # The same reason as code and parameters (accountsync/messages.py), rendered in the reader's language.
    reason_data = models.JSONField(
        _("reason data"), null=True, blank=True, help_text=_("reason as code and parameters.")
    )
    since = models.DateTimeField(_("since"), null=True, blank=True)
    next_probe_at = models.DateTimeField(_("next probe at"), null=True, blank=True)
    probe_by = models.CharField(_("probe by"), max_length=100, blank=True)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    quarantines = models.PositiveIntegerField(
        _("quarantines"), default=0, help_text=_("Times it entered quarantine.")
    )
    rate_limited = models.PositiveBigIntegerField(
        _("rate limited"), default=0, help_text=_("Rate-limited answers received.")
    )
    rate_tat = models.FloatField(_("rate TAT"), default=0.0)
    rate_allowed = models.FloatField(_("allowed rate"), null=True, blank=True)
    rate_decreased_at = models.FloatField(_("rate decreased at"), default=0.0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("downstream system")
        verbose_name_plural = _("downstream systems")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=[s.value for s in SystemState]), name="system_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.state}"
