"""Downstream health: quarantine a system no task can succeed on, shared by every runner.

One :class:`~account_creation.models.DownstreamSystem` row per account type holds the state,
so threads, cron overlaps and runners on several hosts agree (Entra's provisioning
quarantine; a circuit breaker in resilience libraries):

* **enter** on an answer no task can fix — credentials or grants refused (after the one token
  refresh), a TLS or DNS failure — at once, or after ``ACCOUNT_CREATION_QUARANTINE_AFTER``
  transport failures or 5xx in a row across tasks;
* **while quarantined** the claim skips the system's tasks (``selectors.eligible_tasks``):
  they stay ``pending`` and spend no attempts;
* **half-open**: one runner at a time takes the probe when ``next_probe_at`` is due
  (:func:`system_take_probe`, a compare-and-set) and runs one real task; its success ends
  the quarantine for everyone (:func:`system_release`), a system-wide failure extends it;
* an operator may end it at once: ``POST /account-creation/systems/{name}/release/``.

The reason is stored as a message code and parameters (``reason_data``: the connector's own
message, or ``health.transport_run`` around the last one) and rendered in each reader's
language; ``reason`` keeps its text in LANGUAGE_CODE for readers of the text.

Each runner keeps a :class:`HealthView` of the rows, read again at every claim, so the
per-task path costs no query.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from account_creation.account_types import registry
from account_creation.messages import message
from account_creation.models import DownstreamSystem, SystemState
from accountsync.logging import kv
from accountsync.messages import Message
from accountsync.redaction import redact_text

logger = logging.getLogger(__name__)

REASON_CHARS = 500


def systems_ensure() -> None:
    """One row per registered account type (a type registered later gets its row here)."""
    known = set(DownstreamSystem.objects.values_list("name", flat=True))
    missing = [DownstreamSystem(name=value) for value in registry.values() if value not in known]
    if missing:
        DownstreamSystem.objects.bulk_create(missing, ignore_conflicts=True)


def _probe_delay() -> timedelta:
    return timedelta(seconds=settings.ACCOUNT_CREATION_QUARANTINE_PROBE_SECONDS)


def _bounded(text: str) -> str:
    return redact_text(text)[:REASON_CHARS]


def _reason_values(reason: str | Message) -> dict[str, Any]:
    """``reason`` and ``reason_data`` of a row: the message as code and parameters (rendered in each
    reader's language; a downstream system's own words stay a parameter, redacted and bounded) and
    its text in LANGUAGE_CODE for readers of the text. A plain text is stored as text only."""
    if not isinstance(reason, Message):
        return {"reason": _bounded(reason), "reason_data": None}
    said = reason.map_text(_bounded)
    return {"reason": _bounded(said.render(settings.LANGUAGE_CODE)), "reason_data": said.as_stored()}


def system_quarantine(
    *, name: str, reason_code: str, reason: str | Message, now: datetime | None = None
) -> bool:
    """Put ``name`` in quarantine; False when it was quarantined already (nothing changes).

    ``reason`` is a :class:`Message` (the connector's, or ``health.transport_run``), or a plain text.
    """
    now = now or timezone.now()
    entered = DownstreamSystem.objects.filter(name=name, state=SystemState.OK).update(
        state=SystemState.QUARANTINED,
        reason_code=reason_code[:32],
        **_reason_values(reason),
        since=now,
        next_probe_at=now + _probe_delay(),
        probe_by="",
        consecutive_failures=0,
        quarantines=F("quarantines") + 1,
        updated_at=now,
    )
    if entered:
        logger.warning("system quarantined %s", kv(system=name, reason=reason_code, next_probe_in=_probe_delay()))
    return bool(entered)


def system_record_transport_failure(*, name: str, reason: str | Message) -> bool:
    """Count one more transport failure or 5xx in a row; True when it put the system in quarantine."""
    DownstreamSystem.objects.filter(name=name, state=SystemState.OK).update(
        consecutive_failures=F("consecutive_failures") + 1
    )
    failures = DownstreamSystem.objects.filter(name=name).values_list("consecutive_failures", flat=True).first()
    if failures is not None and failures >= settings.ACCOUNT_CREATION_QUARANTINE_AFTER:
        return system_quarantine(
            name=name,
            reason_code="transport",
            reason=message("health.transport_run", failures=failures,
                           reason=reason if isinstance(reason, Message) else Message.text(reason)),
        )
    return False


def system_record_success(*, name: str) -> None:
    """An answer came: the run of transport failures is over."""
    DownstreamSystem.objects.filter(name=name, consecutive_failures__gt=0).update(consecutive_failures=0)


def system_take_probe(*, name: str, runner_id: str, now: datetime | None = None) -> bool:
    """Take the due probe of a quarantined system (one runner wins); pushes the next one out."""
    now = now or timezone.now()
    return bool(
        DownstreamSystem.objects.filter(
            name=name, state=SystemState.QUARANTINED, next_probe_at__lte=now
        ).update(next_probe_at=now + _probe_delay(), probe_by=runner_id[:100], updated_at=now)
    )


def system_probe_failed(*, name: str, reason: str | Message, again_now: bool = False) -> None:
    """The probe met the same kind of failure: the quarantine goes on until the next probe.

    ``again_now``: the probe task never reached the system (it waits for configuration), so
    the next claim takes another probe at once.
    """
    now = timezone.now()
    values: dict[str, object] = {"next_probe_at": now if again_now else now + _probe_delay(), "probe_by": ""}
    if reason:
        values.update(_reason_values(reason))
    DownstreamSystem.objects.filter(name=name, state=SystemState.QUARANTINED).update(updated_at=now, **values)
    if not again_now:
        logger.warning("quarantine probe failed %s", kv(system=name))


def system_release(*, name: str, by: str) -> bool:
    """End the quarantine (a probe succeeded, or an operator released it); False when it was ok."""
    now = timezone.now()
    released = DownstreamSystem.objects.filter(name=name, state=SystemState.QUARANTINED).update(
        state=SystemState.OK,
        reason_code="",
        reason="",
        reason_data=None,
        since=None,
        next_probe_at=None,
        probe_by="",
        consecutive_failures=0,
        updated_at=now,
    )
    if released:
        logger.warning("system released from quarantine %s", kv(system=name, by=by))
    return bool(released)


@dataclass
class _Row:
    state: str
    consecutive_failures: int
    next_probe_at: datetime | None


class HealthView:
    """A runner's picture of the systems' rows: read at each claim, updated by its own writes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, _Row] = {}

    def refresh(self) -> None:
        rows = {
            name: _Row(state, failures, probe_at)
            for name, state, failures, probe_at in DownstreamSystem.objects.values_list(
                "name", "state", "consecutive_failures", "next_probe_at"
            )
        }
        with self._lock:
            self._rows = rows

    def quarantined(self, name: str) -> bool:
        row = self._rows.get(name)
        return row is not None and row.state == SystemState.QUARANTINED

    def probes_due(self, names: list[str], now: datetime) -> list[str]:
        return [
            name
            for name in names
            if self.quarantined(name) and (self._rows[name].next_probe_at or now) <= now
        ]

    def quarantine(self, name: str, reason_code: str, reason: str | Message) -> None:
        system_quarantine(name=name, reason_code=reason_code, reason=reason)
        self._set(name, SystemState.QUARANTINED)

    def transport_failure(self, name: str, reason: str | Message) -> bool:
        """Count the failure; True when the system is (now) quarantined."""
        if self.quarantined(name):
            return True
        tripped = system_record_transport_failure(name=name, reason=reason)
        with self._lock:
            row = self._rows.setdefault(name, _Row(SystemState.OK, 0, None))
            row.consecutive_failures += 1
        if tripped:
            self._set(name, SystemState.QUARANTINED)
        return tripped

    def success(self, name: str) -> None:
        row = self._rows.get(name)
        if row is not None and row.consecutive_failures:
            system_record_success(name=name)
            row.consecutive_failures = 0

    def probe_failed(self, name: str, reason: str | Message, *, again_now: bool = False) -> None:
        system_probe_failed(name=name, reason=reason, again_now=again_now)

    def release(self, name: str, by: str) -> None:
        system_release(name=name, by=by)
        self._set(name, SystemState.OK)

    def _set(self, name: str, state: str) -> None:
        with self._lock:
            row = self._rows.setdefault(name, _Row(state, 0, None))
            row.state = state
            if state == SystemState.OK:
                row.consecutive_failures = 0
