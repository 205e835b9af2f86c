"""Completion callbacks: where each API client wants to hear, and every event to tell it.

Three tables, in Saleor's shape (webhook, event delivery, delivery attempt):

* :class:`CallbackEndpoint` — one per API client: the URL, whether it is enabled, and the
  signing secret (``whsec_…``; a rotated-out secret keeps signing for 24 hours);
* :class:`CallbackEvent` — the outbox and the delivery in one row: written in the same
  transaction as the task change that causes it, unique per cause (``dedupe_key``), so a
  racing runner cannot create it twice and a rolled-back change creates none; then claimed
  with a lease like a task, POSTed, retried with backoff until delivered or failed;
* :class:`CallbackAttempt` — one row per POST: status code, duration, the first 1 KiB of
  the answer, or the error.
"""

from __future__ import annotations

import base64
import secrets

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from api_clients.models import ApiClient

RESPONSE_EXCERPT_BYTES = 1024


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_event_id() -> str:
    """The ``webhook-id`` of an event: the same on every retry, so receivers can deduplicate."""
    return "msg_" + secrets.token_urlsafe(18)


class CallbackEndpoint(models.Model):
    client = models.OneToOneField(
        ApiClient, verbose_name=_("client"), on_delete=models.CASCADE, related_name="callback"
    )
    url = models.URLField(
        _("URL"), max_length=500, help_text=_("Where events are POSTed (https unless loopback).")
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    secret = models.CharField(_("signing secret"), max_length=100, default=new_secret, editable=False)
    previous_secret = models.CharField(_("previous signing secret"), max_length=100, blank=True, editable=False)
    previous_secret_until = models.DateTimeField(
        _("previous secret valid until"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Until then, events are signed with the old secret too."),
    )
    secret_rotated_at = models.DateTimeField(_("secret rotated at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["client__name"]
        verbose_name = _("callback endpoint")
        verbose_name_plural = _("callback endpoints")

    def __str__(self) -> str:
        return f"{self.client} → {self.url}"


class EventType(models.TextChoices):
    PERSON_COMPLETED = "person.completed", "person.completed"
    PERSON_FAILED = "person.failed", "person.failed"
    REQUEST_COMPLETED = "request.completed", "request.completed"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERING = "delivering", _("Delivering")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class CallbackEvent(models.Model):
    event_id = models.CharField(_("event ID"), max_length=40, unique=True, default=new_event_id, editable=False)
    endpoint = models.ForeignKey(
        CallbackEndpoint, verbose_name=_("callback endpoint"), on_delete=models.CASCADE, related_name="events"
    )
    type = models.CharField(_("event type"), max_length=32, choices=EventType.choices)
    dedupe_key = models.CharField(
        _("dedupe key"),
        max_length=300,
        help_text=_("The cause (type, request, person): one event per cause, enforced by the database."),
    )
    payload = models.JSONField(_("payload"), help_text=_('The body POSTed: {"type", "timestamp", "data"}.'))
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    attempt_base = models.PositiveIntegerField(
        _("attempt base"),
        default=0,
        help_text=_("Attempts made before the last redelivery; the budget counts from here."),
    )
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    locked_by = models.CharField(_("locked by"), max_length=100, blank=True)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("callback event")
        verbose_name_plural = _("callback events")
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], name="uniq_callback_event_cause"),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in DeliveryStatus]), name="callback_status_valid"
            ),
        ]
        indexes = [
            # The delivery claim: due events in time order; and the in-flight count per receiver.
            models.Index(fields=["status", "next_attempt_at", "id"], name="callback_due_idx"),
            models.Index(fields=["endpoint", "status"], name="callback_endpoint_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} {self.status}"


class CallbackAttempt(models.Model):
    event = models.ForeignKey(
        CallbackEvent, verbose_name=_("event"), on_delete=models.CASCADE, related_name="delivery_attempts"
    )
    number = models.PositiveIntegerField(_("attempt number"))
    runner = models.CharField(_("runner"), max_length=100)
    status_code = models.PositiveIntegerField(_("status code"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    response_excerpt = models.TextField(
        _("response excerpt"), blank=True, help_text=_("The first 1 KiB of the answer.")
    )
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["event_id", "number"]
        verbose_name = _("callback attempt")
        verbose_name_plural = _("callback attempts")
        constraints = [models.UniqueConstraint(fields=["event", "number"], name="uniq_callback_attempt")]

    def __str__(self) -> str:
        return f"{self.event_id} #{self.number} {self.status_code or self.error[:40]}"
