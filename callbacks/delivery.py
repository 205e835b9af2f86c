"""Delivering callback events: claimed with a lease, POSTed signed, retried with backoff.

Runs inside ``process_account_creation_tasks`` after its account work (``--loop`` too), so
there is no process to deploy and deliveries never hold up account creation. Like the task
queue: due events are claimed in one short transaction (``SKIP LOCKED`` on PostgreSQL) and
flipped to ``delivering`` with a lease; the POST happens outside any transaction; the
outcome is written fenced on the lease. A runner killed mid-delivery leaves its events
``delivering``; once the lease expires another run claims them again and POSTs them with the
same ``webhook-id``, so a receiver that deduplicates by it sees each event once.

At most ``CALLBACK_CONCURRENCY_PER_RECEIVER`` deliveries are in flight to one receiver
(counted across runners), so a slow OA cannot take every delivery thread from the others.
Signatures are Standard Webhooks' (the maintained ``standardwebhooks`` library): header
``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, one entry per
valid secret while a rotated-out secret is still valid.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Q
from django.utils import timezone
from standardwebhooks import Webhook

from account_creation.services.backoff import RetryStrategy
from account_creation.services.sql import write_transaction
from accountsync.logging import kv
from accountsync.messages import Message
from accountsync.redaction import redact_text
from callbacks.messages import message
from callbacks.models import (
    RESPONSE_EXCERPT_BYTES,
    CallbackAttempt,
    CallbackEvent,
    DeliveryStatus,
)
from callbacks.services import signing_secrets

logger = logging.getLogger(__name__)

WORKERS = 8
USER_AGENT = "AccountSync-Webhooks/1.0"
_session_lock = threading.Lock()
_session: requests.Session | None = None


def _http() -> requests.Session:
    global _session
    with _session_lock:
        if _session is None:
            _session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=WORKERS, max_retries=0)
            _session.mount("http://", adapter)
            _session.mount("https://", adapter)
        return _session


def strategy() -> RetryStrategy:
    return RetryStrategy(
        base_seconds=settings.CALLBACK_BACKOFF_BASE_SECONDS,
        max_seconds=settings.CALLBACK_BACKOFF_MAX_SECONDS,
        max_attempts=settings.CALLBACK_MAX_ATTEMPTS,
        jitter="above",
    )


def body_of(event: CallbackEvent) -> str:
    return json.dumps(event.payload, ensure_ascii=False, separators=(",", ":"))


def signed_headers(event: CallbackEvent, body: str, now: datetime) -> dict[str, str]:
    """Standard Webhooks headers: one v1 signature per secret valid now."""
    when = now.astimezone(UTC)
    secrets = signing_secrets(event.endpoint, now)
    signatures = " ".join(Webhook(secret).sign(event.event_id, when, body) for secret in secrets)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": event.event_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signatures,
    }


@dataclass
class Delivery:
    event: CallbackEvent
    attempt_id: int
    number: int


@dataclass
class Answer:
    status_code: int | None = None
    excerpt: str = ""
    error: str = ""
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class DeliverySummary:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    seconds: float = 0.0

    @property
    def attempted(self) -> int:
        return self.delivered + self.retried + self.failed + self.dropped


def deliveries_claim(*, runner_id: str, limit: int, now: datetime | None = None) -> list[Delivery]:
    """Claim up to ``limit`` due events, at most the per-receiver limit in flight per receiver."""
    if limit <= 0:
        return []
    now = now or timezone.now()
    cap = settings.CALLBACK_CONCURRENCY_PER_RECEIVER
    lease = now + timedelta(seconds=settings.CALLBACK_LEASE_SECONDS)
    due = Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now) | Q(
        status=DeliveryStatus.DELIVERING, locked_until__lte=now
    )
    with write_transaction():
        in_flight = Counter(
            dict(
                CallbackEvent.objects.filter(status=DeliveryStatus.DELIVERING, locked_until__gt=now)
                .order_by()
                .values("endpoint_id")
                .annotate(n=Count("*"))
                .values_list("endpoint_id", "n")
            )
        )
        candidates = CallbackEvent.objects.filter(due, endpoint__enabled=True).order_by("next_attempt_at", "id")
        if connection.vendor == "postgresql":
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        picked: list[CallbackEvent] = []
        for event in candidates.select_related("endpoint")[: limit * 4]:
            if in_flight[event.endpoint_id] >= cap:
                continue
            in_flight[event.endpoint_id] += 1
            picked.append(event)
            if len(picked) >= limit:
                break
        if not picked:
            return []
        ids = [event.pk for event in picked]
        # A previous runner's attempt whose lease expired never got its answer.
        CallbackAttempt.objects.filter(event_id__in=ids, status_code__isnull=True, error="").update(
            error=_text(message("callback.lost"))
        )
        CallbackEvent.objects.filter(due, pk__in=ids).update(
            status=DeliveryStatus.DELIVERING, locked_by=runner_id, locked_until=lease
        )
        attempts = [
            CallbackAttempt(event=event, number=event.attempts + 1, runner=runner_id) for event in picked
        ]
        CallbackAttempt.objects.bulk_create(attempts)
        CallbackEvent.objects.filter(pk__in=ids).update(attempts=F("attempts") + 1)
    return [Delivery(event=event, attempt_id=attempt.pk, number=attempt.number) for event, attempt in
            zip(picked, attempts, strict=True)]


def post(delivery: Delivery) -> Answer:
    """POST one event (no database access: runs on a delivery thread)."""
    event = delivery.event
    body = body_of(event)
    started = time.monotonic()
    timeout = settings.CALLBACK_TIMEOUT_SECONDS
    try:
        response = _http().post(
            event.endpoint.url,
            data=body.encode("utf-8"),
            headers=signed_headers(event, body, timezone.now()),
            timeout=(min(3.0, timeout), timeout),
            allow_redirects=False,
            stream=True,
        )
        try:
            raw = response.raw.read(RESPONSE_EXCERPT_BYTES, decode_content=True) or b""
        finally:
            response.close()
        excerpt = raw.decode("utf-8", "replace")
        return Answer(response.status_code, redact_text(excerpt), "", int((time.monotonic() - started) * 1000))
    except requests.Timeout:
        error = _text(message("callback.timeout", seconds=f"{timeout:g}"))
    except requests.ConnectionError as exc:
        error = _text(message("callback.connect_failed", error=type(exc).__name__))
    except requests.RequestException as exc:
        error = _text(message("callback.request_failed", error=type(exc).__name__))
    return Answer(None, "", error, int((time.monotonic() - started) * 1000))


def _text(said: Message) -> str:
    """Stored texts of deliveries read in LANGUAGE_CODE (the admin's and the logs' language)."""
    return said.render(settings.LANGUAGE_CODE)


def delivery_record(*, delivery: Delivery, answer: Answer, runner_id: str) -> str:
    """Write the attempt and the event's new state, fenced on the lease; returns the outcome."""
    event = delivery.event
    now = timezone.now()
    with write_transaction(wait_for_flush=False):
        CallbackAttempt.objects.filter(pk=delivery.attempt_id).update(
            status_code=answer.status_code,
            duration_ms=answer.duration_ms,
            response_excerpt=answer.excerpt,
            error=answer.error
            or ("" if answer.ok else _text(message("callback.http_status", status=answer.status_code))),
        )
        fence = CallbackEvent.objects.filter(pk=event.pk, status=DeliveryStatus.DELIVERING, locked_by=runner_id)
        if answer.ok:
            updated = fence.update(
                status=DeliveryStatus.DELIVERED, delivered_at=now, locked_by="", locked_until=None, last_error=""
            )
            outcome = "delivered"
        else:
            reason = answer.error or _text(message("callback.http_status", status=answer.status_code))
            policy = strategy()
            in_budget = delivery.number - event.attempt_base
            if policy.exhausted(attempt_in_budget=in_budget):
                updated = fence.update(
                    status=DeliveryStatus.FAILED, locked_by="", locked_until=None,
                    last_error=_text(message("callback.gave_up", reason=reason, attempts=in_budget)),
                )
                outcome = "failed"
            else:
                next_at = now + timedelta(seconds=policy.get_schedule_in(attempt_in_budget=in_budget))
                updated = fence.update(
                    status=DeliveryStatus.PENDING, next_attempt_at=next_at, locked_by="", locked_until=None,
                    last_error=reason,
                )
                outcome = "retried"
    if not updated:
        return "dropped"
    return outcome


def callbacks_deliver(
    *, runner_id: str, max_seconds: float | None = None, stop_event: threading.Event | None = None
) -> DeliverySummary:
    """Deliver due events for up to ``max_seconds`` (CALLBACK_DELIVERY_SECONDS) or until none is due."""
    budget = settings.CALLBACK_DELIVERY_SECONDS if max_seconds is None else max_seconds
    summary = DeliverySummary()
    started = time.monotonic()
    # Only events due when delivery began: one that fails now waits for the next run.
    due_by = timezone.now()
    in_flight: dict[Future[Answer], Delivery] = {}
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="callback") as pool:
        while True:
            out_of_time = time.monotonic() - started >= budget or (stop_event is not None and stop_event.is_set())
            if not out_of_time and len(in_flight) < WORKERS:
                for delivery in deliveries_claim(runner_id=runner_id, limit=WORKERS - len(in_flight), now=due_by):
                    in_flight[pool.submit(post, delivery)] = delivery
            if not in_flight:
                break
            done, _ = wait(list(in_flight), timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                delivery = in_flight.pop(future)
                outcome = delivery_record(delivery=delivery, answer=future.result(), runner_id=runner_id)
                setattr(summary, outcome, getattr(summary, outcome) + 1)
                logger.log(
                    logging.INFO if outcome == "delivered" else logging.WARNING,
                    "callback %s %s",
                    outcome,
                    kv(event=delivery.event.event_id, type=delivery.event.type, attempt=delivery.number,
                       status=future.result().status_code, runner=runner_id),
                )
    summary.seconds = time.monotonic() - started
    return summary


__all__ = ["callbacks_deliver", "deliveries_claim", "delivery_record", "post", "signed_headers"]
