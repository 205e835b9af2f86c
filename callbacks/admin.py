"""Admin: callback endpoints (URL and on/off; never the secret) and events with their attempts."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accountsync.errors import DomainError
from callbacks.messages import message
from callbacks.models import CallbackAttempt, CallbackEndpoint, CallbackEvent, DeliveryStatus
from callbacks.services import callback_url_validate


class CallbackEndpointForm(forms.ModelForm):
    # Declared for assume_scheme; its label and help are the model field's (translated).
    url = forms.URLField(
        label=CallbackEndpoint._meta.get_field("url").verbose_name,
        max_length=500,
        assume_scheme="https",
        help_text=CallbackEndpoint._meta.get_field("url").help_text,
    )

    class Meta:
        model = CallbackEndpoint
        fields = ("client", "url", "enabled")

    def clean_url(self) -> str:
        try:
            return callback_url_validate(self.cleaned_data["url"])
        except DomainError as exc:
            raise forms.ValidationError(str(exc.message)) from exc


@admin.register(CallbackEndpoint)
class CallbackEndpointAdmin(admin.ModelAdmin):
    form = CallbackEndpointForm
    list_display = ("client", "url", "enabled", "secret_rotated_at", "updated_at")
    list_filter = ("enabled",)
    readonly_fields = ("signing_secret", "secret_rotated_at", "created_at", "updated_at")

    @admin.display(description=_("signing secret"))
    def signing_secret(self, endpoint: CallbackEndpoint) -> str:
        # The secret signs events; it is shown once, by the command that creates or rotates it.
        if not endpoint.pk:
            return str(_("Created on save; `python manage.py configure_callback CLIENT` prints it."))
        return str(
            _("Set (shown only by `python manage.py configure_callback CLIENT`; rotate with --rotate-secret).")
        )


class CallbackAttemptInline(admin.TabularInline):
    model = CallbackAttempt
    extra = 0
    can_delete = False
    fields = ("number", "created_at", "runner", "status_code", "duration_ms", "error", "response_excerpt")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CallbackEvent)
class CallbackEventAdmin(admin.ModelAdmin):
    list_display = ("event_id", "type", "endpoint", "status", "attempts", "next_attempt_at", "created_at",
                    "delivered_at", "last_error")
    list_filter = ("status", "type", "endpoint")
    search_fields = ("event_id", "dedupe_key")
    date_hierarchy = "created_at"
    readonly_fields = ("event_id", "endpoint", "type", "dedupe_key", "payload", "status", "attempts", "attempt_base",
                       "next_attempt_at", "locked_by", "locked_until", "last_error", "created_at", "delivered_at")
    inlines = [CallbackAttemptInline]
    actions = ["redeliver"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the delivery history stays; nothing here deletes what the OA may ask about

    @admin.action(
        description=_("Redeliver selected events (same webhook-id, fresh attempt budget)"), permissions=["change"]
    )
    def redeliver(self, request: HttpRequest, queryset: QuerySet[CallbackEvent]) -> None:
        from django.db.models import F

        count = queryset.exclude(status=DeliveryStatus.DELIVERING).update(
            status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), attempt_base=F("attempts"), last_error=""
        )
        self.message_user(request, str(message("callback.redelivered", count=count)), messages.SUCCESS)
