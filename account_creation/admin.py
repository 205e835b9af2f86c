from __future__ import annotations

from datetime import date, datetime, time
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
    EngineRun,
    MailboxAddress,
)
from account_creation.ops.export import tasks_csv
from account_creation.selectors import attempts_subquery
from accountsync.messages import render_stored
from accountsync.redaction import mask_phone


class AccountCreationLogInline(admin.TabularInline):
    model = AccountCreationLog
    extra = 0
    can_delete = False
    fields = ("execution_attempt", "outcome", "runner", "error_message", "created_at", "finished_at", "duration_ms")
    readonly_fields = fields
    ordering = ("execution_attempt",)
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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


EXPORT_MAX_ROWS = 50_000


@admin.register(AccountCreationTask)
class AccountCreationTaskAdmin(UndeletableMixin, admin.ModelAdmin):
    # One line per task at 1,400 px: the phone and the next attempt are on the task's own page.
    list_display = (
        "id",
        "account_type",
        "employee_number",
        "employee_name",
        "status",
        "attempt_count",
        "business_key",
        "created_at",
        "short_error",
    )
    list_filter = (
        "status", "account_type", "origin_system", ("created_at", CreatedRangeFilter), "department_code"
    )
    search_fields = ("employee_number", "employee_name", "business_key")
    date_hierarchy = "created_at"
    inlines = [AccountCreationLogInline]
    actions = ["retry_selected"]
    list_per_page = 50
    show_full_result_count = False
    # The phone number is personal data: list and change views show it masked (as the API does).
    exclude = ("phone_number",)
    readonly_fields = ("masked_phone",)
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
        text = render_stored(task.last_error_data, task.last_error)
        return format_html('<span title="{}">{}</span>', text, Truncator(text).chars(60))

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
        "error_message",
        "created_at",
        "duration_ms",
    )
    list_filter = ("outcome", "task__account_type", "created_at")
    search_fields = ("task__employee_number", "error_message")
    raw_id_fields = ("task",)
    show_full_result_count = False


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


# The admin's home page links to the status dashboard (account_creation/ops, under admin/status/).
admin.site.index_template = "admin/account_creation/ops/admin_index.html"
