"""Rate limits per downstream system, shared by every thread and runner through the database.

Two mechanisms, one row per system (``DownstreamSystem``):

* **pacing** (GCRA, the "generic cell rate algorithm" of token buckets without a bucket
  table): ``rate_tat`` is when the system's next call slot is free. A runner reserves a few
  slots with one atomic ``UPDATE … SET rate_tat = max(rate_tat, now) + n/rate RETURNING``
  and each call waits for its slot, so all runners together never exceed the rate. No burst
  is allowed beyond the slots a runner holds (at most a tenth of a second's worth).
* **AIMD**: a rate-limited answer (HTTP 429, ``Retry-After``, WeLink ``48503``) lowers the
  allowed rate for every runner to 70 % of what this runner saw served (multiplicative
  decrease, at most once a second), which then grows back by 10 % of it per second
  (additive increase) up to the configured limit — or, without one, until the system
  refuses again. ``Retry-After`` also pushes the next free slot out.

The configured limit is ``ACCOUNT_CREATION_RATE_LIMIT_<SYSTEM>`` (calls/s; 0 = none). We pace
at 95 % of it: the downstream counts arrivals, which jitter by a few milliseconds.
A system neither configured nor slowed down costs no query per call. Runner clocks must
agree (NTP) to within a fraction of a slot.

Connectors never touch the ORM: the engine installs a :class:`RateGate` as the HTTP layer's
call gate (``connectors.http.set_call_gate``), keyed by account type.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.db.models import F

from account_creation.models import DownstreamSystem
from account_creation.services.sql import write_transaction
from accountsync.logging import kv

logger = logging.getLogger(__name__)

PACING = 0.95  # of the configured limit
DECREASE = 0.7  # multiplicative decrease on a refusal
GROWTH = 0.1  # additive increase per second, as a share of the rate at the decrease
MIN_RATE = 0.5  # calls/s: never slower than one call every two seconds
DECREASE_SPACING = 1.0  # seconds between two decreases (one per "round trip")
UNLIMITED_ABOVE = 1000.0  # calls/s: a slowed-down system grown past this is unlimited again
ROW_TTL = 1.0  # seconds a runner keeps its copy of the row
RESERVE_SECONDS = 0.1  # slots reserved at once: this many seconds' worth (at least one)
OBSERVE_SECONDS = 2.0


def configured_limit(system: str) -> float:
    return float(getattr(settings, f"ACCOUNT_CREATION_RATE_LIMIT_{system.upper()}", 0.0) or 0.0)


@dataclass
class _Local:
    rate_allowed: float | None = None
    decreased_at: float = 0.0
    read_at: float = -math.inf
    slots: deque[float] = field(default_factory=deque)
    calls: deque[float] = field(default_factory=deque)
    refused: deque[float] = field(default_factory=deque)
    first_call: float = 0.0


class RateGate:
    """A runner's gate in front of every downstream HTTP call (thread-safe)."""

    def __init__(self, *, clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._systems: dict[str, _Local] = {}

    def _local(self, system: str) -> _Local:
        local = self._systems.get(system)
        if local is None:
            local = self._systems.setdefault(system, _Local())
        return local

    def _refresh(self, system: str, local: _Local, now: float) -> None:
        if now - local.read_at < ROW_TTL:
            return
        row = DownstreamSystem.objects.filter(name=system).values_list("rate_allowed", "rate_decreased_at").first()
        local.rate_allowed, local.decreased_at = row if row else (None, 0.0)
        local.read_at = now

    def allowed_rate(self, system: str, now: float | None = None) -> float | None:
        """Calls per second this system may get now (None: no limit)."""
        now = self._clock() if now is None else now
        local = self._local(system)
        self._refresh(system, local, now)
        limit = configured_limit(system) * PACING or math.inf
        if local.rate_allowed is None:
            return None if math.isinf(limit) else limit
        grown = local.rate_allowed + max(MIN_RATE, GROWTH * local.rate_allowed) * max(0.0, now - local.decreased_at)
        rate = min(limit, grown)
        return None if rate > UNLIMITED_ABOVE else rate

    def before_call(self, system: str) -> None:
        """Wait for this call's slot (returns at once when the system has no limit)."""
        now = self._clock()
        with self._lock:
            local = self._local(system)
            _observe(local.calls, now)
            local.first_call = local.first_call or now
            rate = self.allowed_rate(system, now)
            if rate is None:
                return
            if not local.slots:
                local.slots.extend(self._reserve(system, rate, now))
            slot = local.slots.popleft()
        wait = slot - self._clock()
        if wait > 0:
            self._sleep(wait)

    def _reserve(self, system: str, rate: float, now: float) -> list[float]:
        count = max(1, int(rate * RESERVE_SECONDS))
        interval = 1.0 / rate
        greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
        table = connection.ops.quote_name(DownstreamSystem._meta.db_table)
        sql = f"UPDATE {table} SET rate_tat = {greatest}(rate_tat, %s) + %s WHERE name = %s RETURNING rate_tat"  # noqa: S608
        with write_transaction(wait_for_flush=False), connection.cursor() as cursor:
            cursor.execute(sql, [now, count * interval, system])
            row = cursor.fetchone()
        if row is None:  # no row yet (systems_ensure runs at the start of every run)
            return [now]
        start = float(row[0]) - count * interval
        return [start + index * interval for index in range(count)]

    def refused(self, system: str, *, retry_after: float | None = None) -> float:
        """A rate-limited answer: slow the system down for every runner; returns the new rate."""
        now = self._clock()
        with self._lock:
            local = self._local(system)
            _observe(local.refused, now)
            _trim(local.calls, now)
            window = max(0.5, min(OBSERVE_SECONDS, now - (local.first_call or now)))
            served = max(0.0, len(local.calls) - len(local.refused)) / window
            current = self.allowed_rate(system, now)
            base = min(current, served) if current is not None and served > 0 else (current or served)
            rate = max(MIN_RATE, DECREASE * base)
            local.slots.clear()
        DownstreamSystem.objects.filter(name=system).update(rate_limited=F("rate_limited") + 1)
        decreased = DownstreamSystem.objects.filter(
            name=system, rate_decreased_at__lt=now - DECREASE_SPACING
        ).update(rate_allowed=rate, rate_decreased_at=now)
        if retry_after:
            pushed = now + retry_after
            DownstreamSystem.objects.filter(name=system, rate_tat__lt=pushed).update(rate_tat=pushed)
        with self._lock:
            local.read_at = -math.inf  # read the row again at the next call
        if decreased:
            logger.warning("rate limited, slowing down %s", kv(system=system, calls_per_s=round(rate, 2)))
        return rate


def _observe(times: deque[float], now: float) -> None:
    times.append(now)
    _trim(times, now)


def _trim(times: deque[float], now: float) -> None:
    while times and times[0] < now - OBSERVE_SECONDS:
        times.popleft()
