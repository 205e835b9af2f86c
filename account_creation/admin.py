from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from account_creation.messages import stop_reason_text
from account_creation.models import (
    AccountCreationLog,
    AccountCreationRequest,
    AccountCreationTask,
    DownstreamSystem,
    EngineRun,
    MailboxAddress,
    TaskStatus,
)
from account_creation.ops.causes import ATTEMPT, TASK, CauseFilter
from account_creation.ops.export import tasks_csv
from account_creation.selectors import attempts_subquery
from account_creation.services.waiting import waiting_for_text
from accountsync.messages import render_stored
from accountsync.redaction import mask_phone


def _shown(data: Any, text: str, *, limit: int | None = None) -> str:
    """A stored message in the reader's language (rows from before codes: their stored text);
    cut to ``limit`` characters with the whole text on hover."""
    shown = render_stored(data, text)
    if limit is None:
        return shown
    return format_html('<span title="{}">{}</span>', shown, Truncator(shown).chars(limit))


class AccountCreationLogInline(admin.TabularInline):
    model = AccountCreationLog
    extra = 0
    can_delete = False
    fields = ("execution_attempt", "outcome", "runner", "shown_error", "created_at", "finished_at", "duration_ms")
    readonly_fields = fields
    ordering = ("execution_attempt",)
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("error message"))
    def shown_error(self, log: AccountCreationLog) -> str:
        return _shown(log.error_data, log.error_message)


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class UndeletableMixin(ReadOnlyMixin):
    """Tasks, their attempts and requests are the audit trail: no delete in the admin, not even for
    a superuser (retention is a command: cleanup_account_creation_logs, purge_personal_data)."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CreatedRangeFilter(admin.DateFieldListFilter):
    """The admin's date filter (today, past 7 days, …) plus a from/to form for any range: the same
    ``created_at__gte`` / ``created_at__lt`` parameters, so the two never disagree."""

    template = "admin/account_creation/date_range_filter.html"

    def __init__(self, field: Any, request: HttpRequest, params: Any, model: Any, model_admin: Any,
                 field_path: str) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        own = {self.lookup_kwarg_since, self.lookup_kwarg_until}
        self.other_params = [(k, v) for k, values in request.GET.lists() if k not in own for v in values]
        self.since_value = str(request.GET.get(self.lookup_kwarg_since, ""))[:10]
        self.until_value = str(request.GET.get(self.lookup_kwarg_until, ""))[:10]
        # The form sends bare dates: each means midnight in TIME_ZONE (as the API's created_after
        # does), not a naive moment the database would have to guess a zone for.
        for key in own:
            values = self.used_parameters.get(key)
            if isinstance(values, list):
                self.used_parameters[key] = [_midnight(value) for value in values]


def _midnight(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 10:
        try:
            return timezone.make_aware(datetime.combine(date.fromisoformat(value), time.min))
        except ValueError:
            return value  # the filter answers an invalid date as the admin always does
    return value


class FailedTaskCauseFilter(CauseFilter):
    """``?cause=``: tasks whose last error has this cause; the side bar offers failed tasks' causes."""

    source = TASK

    def failed_rows(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(status=TaskStatus.FAILED)


class AttemptCauseFilter(CauseFilter):
    """``?cause=``: attempts whose error has this cause; the side bar offers last week's."""

    source = ATTEMPT

    def failed_rows(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        since = timezone.now() - timedelta(days=7)
        return queryset.filter(created_at__gte=since).exclude(error_data__isnull=True, error_message="")


EXPORT_MAX_ROWS = 50_000


@admin.register(AccountCreationTask)
class AccountCreationTaskAdmin(UndeletableMixin, admin.ModelAdmin):
    # One line per task at 1,400 px (admin.css: no wrapping; the businessKey and the error are
    # cut, whole on hover): the phone and the next attempt are on the task's own page.
    list_display = (
        "id",
        "account_type",
        "employee_number",
        "employee_name",
        "status",
        "attempt_count",
        "short_business_key",
        "created",
        "short_error",
    )
    list_filter = (
        "status", "account_type", "origin_system", ("created_at", CreatedRangeFilter), "department_code",
        FailedTaskCauseFilter,
    )
    search_fields = ("employee_number", "employee_name", "business_key")
    date_hierarchy = "created_at"
    inlines = [AccountCreationLogInline]
    actions = ["retry_selected"]
    list_per_page = 50
    show_full_result_count = False
    # The phone number is personal data: list and change views show it masked (as the API does).
    # The last error is stored as text in LANGUAGE_CODE and as code + parameters: shown from the
    # latter, in the reader's language.
    exclude = ("phone_number", "last_error", "last_error_data")
    readonly_fields = ("masked_phone", "shown_error")
    change_list_template = "admin/account_creation/accountcreationtask/change_list.html"

    class Media:
        css = {"all": ("account_creation/ops/admin.css",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[AccountCreationTask]:
        return super().get_queryset(request).annotate(attempts=attempts_subquery())

    def get_urls(self) -> list[Any]:
        name = "account_creation_accountcreationtask_export"
        export = path("export.csv", self.admin_site.admin_view(self.export_view), name=name)
        return [export, *super().get_urls()]

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """What the list shows (its filters, search and order) as CSV, UTF-8 with BOM."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        tasks = changelist.get_queryset(request)[:EXPORT_MAX_ROWS]
        return tasks_csv(tasks, filename="account-creation-tasks.csv")

    @admin.display(description=_("phone number"))
    def masked_phone(self, task: AccountCreationTask) -> str:
        return mask_phone(task.phone_number)

    @admin.display(description=_("attempts"), ordering="attempts")
    def attempt_count(self, task: AccountCreationTask) -> int:
        return getattr(task, "attempts", 0)

    @admin.display(description=_("last error"))
    def short_error(self, task: AccountCreationTask) -> str:
        # A task waiting for configuration has no error (it spent no attempt): what it waits for.
        waiting = waiting_for_text(task.waiting_for) if task.status == TaskStatus.PENDING else ""
        text = waiting or render_stored(task.last_error_data, task.last_error)
        return format_html('<span class="cut" title="{}">{}</span>', text, text)

    @admin.display(description=_("business key"), ordering="business_key")
    def short_business_key(self, task: AccountCreationTask) -> str:
        return format_html('<span class="cut key" title="{}">{}</span>', task.business_key, task.business_key)

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, task: AccountCreationTask) -> str:
        """Short, in TIME_ZONE: 12-02 15:04 this year, 2025-12-02 before (the admin's long form
        wraps); the whole moment on hover."""
        moment = timezone.localtime(task.created_at)
        short = moment.strftime("%m-%d %H:%M" if moment.year == timezone.localtime().year else "%Y-%m-%d")
        return format_html('<span title="{}">{}</span>', moment.strftime("%Y-%m-%d %H:%M:%S %z"), short)

    @admin.display(description=_("last error"))
    def shown_error(self, task: AccountCreationTask) -> str:
        return _shown(task.last_error_data, task.last_error)

    @admin.action(description=_("Retry selected failed or blocked tasks"))
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[AccountCreationTask]) -> None:
        from account_creation.services.audit import VIA_ADMIN
        from account_creation.services.retry import task_retry_many

        outcome = task_retry_many(
            task_ids=list(queryset.values_list("id", flat=True)), user_id=request.user.pk, via=VIA_ADMIN
        )
        if outcome.retried:
            self.message_user(
                request, _("%(count)s task(s) put back to pending.") % {"count": len(outcome.retried)},
                messages.SUCCESS,
            )
        for task_id, reason in outcome.refused.items():
            self.message_user(
                request, _("Task #%(task)s not retried: %(reason)s") % {"task": task_id, "reason": reason},
                messages.WARNING,
            )


@admin.register(AccountCreationLog)
class AccountCreationLogAdmin(UndeletableMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "task",
        "execution_attempt",
        "outcome",
        "runner",
        "short_error",
        "created_at",
        "duration_ms",
    )
    list_filter = ("outcome", "task__account_type", "created_at", AttemptCauseFilter)
    search_fields = ("task__employee_number", "error_message")
    raw_id_fields = ("task",)
    show_full_result_count = False
    # error_message is the text in LANGUAGE_CODE; shown from error_data, in the reader's language.
    exclude = ("error_message", "error_data")
    readonly_fields = ("shown_error",)

    @admin.display(description=_("error message"))
    def short_error(self, log: AccountCreationLog) -> str:
        return _shown(log.error_data, log.error_message, limit=80)

    @admin.display(description=_("error message"))
    def shown_error(self, log: AccountCreationLog) -> str:
        return _shown(log.error_data, log.error_message)


@admin.register(AccountCreationRequest)
class AccountCreationRequestAdmin(UndeletableMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "request_id",
        "origin_system",
        "business_key",
        "employee_type",
        "priority",
        "user_count",
        "accepted_count",
        "created_at",
        "cancelled_at",
    )
    search_fields = ("business_key", "request_id")
    list_filter = ("origin_system", "priority")


@admin.register(MailboxAddress)
class MailboxAddressAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("address", "employee_number", "created_at")
    search_fields = ("address", "employee_number")


@admin.register(EngineRun)
class EngineRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "runner_id",
        "host",
        "started_at",
        "finished_at",
        "claimed",
        "completed",
        "retried",
        "failed",
        "blocked",
        "recovered",
        "stop_text",
    )
    list_filter = ("host",)
    # The stored code (drained, …) only in the reader's words.
    exclude = ("stop_reason",)
    readonly_fields = ("stop_text",)

    @admin.display(description=_("stop reason"), ordering="stop_reason")
    def stop_text(self, run: EngineRun) -> str:
        """The stored code (drained, max_tasks?limit=50) in the reader's language."""
        return stop_reason_text(run.stop_reason)


@admin.register(DownstreamSystem)
class DownstreamSystemAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Read-only: a quarantine ends by a probe or a release (the dashboard's button, the API), and
    each release by a person is in the system's History."""

    list_display = ("name", "state", "shown_reason", "since", "next_probe_at", "consecutive_failures", "quarantines")
    list_filter = ("state",)
    # The reason is stored as text in LANGUAGE_CODE and as code + parameters: shown from the latter.
    exclude = ("reason", "reason_data")
    readonly_fields = ("shown_reason",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("reason"))
    def shown_reason(self, system: DownstreamSystem) -> str:
        return _shown(system.reason_data, system.reason)


# The admin's home page links to the status dashboard (account_creation/ops, under admin/status/).
admin.site.index_template = "admin/account_creation/ops/admin_index.html"
