"""Prometheus metrics, derived from the database at scrape time.

``/metrics`` is served by the API process, but the work happens in engine processes —
cron runs that live a few seconds, systemd loops, runners on other hosts. Counters kept in
the API process would stay at zero, and counters kept in each engine process die with it.
So every exposed metric is computed, when Prometheus scrapes, from rows every runner
already writes: task rows (gauges), attempt rows (``outcome``, ``duration_ms``) and
``EngineRun`` rows (one per run: duration, recovered leases). A handful of grouped queries,
whatever the number of tasks; the numbers agree across API replicas and survive restarts.
docs/operations.md ("Metrics") explains the choice against prometheus_client's
multiprocess mode.

This is a read model beside the other operator reads (``ops/selectors.py``): it imports the
models and the shared selectors, and nothing imports it but the ``/metrics`` view. Token
fetches reach it through ``EngineRun.token_refreshes``, which each run fills from the
connectors' own counter.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, IntegerField, Max, Min, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from account_creation.account_types import registry
from account_creation.models import (
    AccountCreationLog,
    AccountCreationTask,
    AttemptOutcome,
    EngineRun,
    SystemState,
    TaskStatus,
)
from account_creation.selectors import eligible_tasks, systems_list

FINISHED_OUTCOMES = [outcome for outcome in AttemptOutcome.values if outcome != AttemptOutcome.RUNNING]
# Seconds. The attempt buckets span a fast sandbox call to the 30 s HTTP timeout (and a
# token fetch plus a retry on 401 on top); the run buckets a drained queue to a cron slot.
DOWNSTREAM_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
RUN_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)
RECENT_WINDOW = timedelta(minutes=15)
# The EngineRun column (a JSONField {system: count}) the engine fills at the end of a run
# from the connectors' token_fetch_counts().
ENGINE_RUN_TOKEN_FIELD = "token_refreshes"  # noqa: S105 - a column name, not a secret


# --- the scrape-time collector ------------------------------------------------------------


def _bucket_counts(
    prefix: str, total: int, counts: Mapping[str, Any], buckets: Iterable[float]
) -> list[tuple[str, float]]:
    rows = [(_le(bound), float(counts.get(f"{prefix}{index}") or 0)) for index, bound in enumerate(buckets)]
    rows.append(("+Inf", float(total)))
    return rows


def _le(bound: float) -> str:
    return str(float(bound))


class DatabaseCollector(Collector):
    """Collects every AccountSync metric with a few grouped queries (see module docstring)."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        yield from self._tasks()
        yield from self._due(now)
        yield from self._attempts(now)
        yield from self._downstream()
        yield from self._runs()
        yield from self._callbacks(now)
        yield from self._systems()

    # completion callbacks: events by delivery status, and how long the oldest undelivered waits
    def _callbacks(self, now: datetime) -> Iterator[Metric]:
        from callbacks.models import CallbackEvent, DeliveryStatus

        counts = dict.fromkeys(DeliveryStatus.values, 0)
        counts |= dict(CallbackEvent.objects.order_by().values_list("status").annotate(n=Count("*")))
        family = GaugeMetricFamily(
            "accountsync_callback_events", "Completion callback events by delivery status.", labels=["status"]
        )
        for status, n in sorted(counts.items()):
            family.add_metric([status], n)
        yield family
        oldest = (
            CallbackEvent.objects.filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.DELIVERING])
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        age = GaugeMetricFamily(
            "accountsync_callback_oldest_undelivered_seconds",
            "Age of the oldest callback event not delivered yet (0 when none).",
        )
        age.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        yield age

    # downstream health: quarantine, rate-limited answers, tasks waiting for configuration
    def _systems(self) -> Iterator[Metric]:
        quarantined = GaugeMetricFamily(
            "accountsync_system_quarantined",
            "1 while the system is quarantined (its tasks wait, spending no attempts), else 0.",
            labels=["system"],
        )
        limited = CounterMetricFamily(
            "accountsync_rate_limited_answers",
            "Rate-limited answers (429, Retry-After, WeLink 48503) received from the system; each "
            "slowed it down for every runner and spent no attempt.",
            labels=["system"],
        )
        for row in systems_list():
            quarantined.add_metric([row.name], 1.0 if row.state == SystemState.QUARANTINED else 0.0)
            limited.add_metric([row.name], row.rate_limited)
        yield quarantined
        yield limited
        waiting = GaugeMetricFamily(
            "accountsync_tasks_waiting_for_configuration",
            "Pending tasks waiting for a mapping an operator must add, by system.",
            labels=["system"],
        )
        rows = dict(
            AccountCreationTask.objects.filter(status=TaskStatus.PENDING, waiting_for__isnull=False)
            .order_by()
            .values_list("account_type")
            .annotate(n=Count("*"))
        )
        for system in registry.values():
            waiting.add_metric([system], rows.get(system, 0))
        yield waiting

    # tasks by system and status: one grouped query, every pair present (zeros included)
    def _tasks(self) -> Iterator[Metric]:
        counts = {(system, status): 0 for system in registry.values() for status in TaskStatus.values}
        rows = AccountCreationTask.objects.order_by().values_list("account_type", "status").annotate(n=Count("id"))
        for system, status, n in rows:
            counts[(system, status)] = n
        family = GaugeMetricFamily(
            "accountsync_tasks", "Tasks by system (account type) and status.", labels=["system", "status"]
        )
        for (system, status), n in sorted(counts.items()):
            family.add_metric([system, status], n)
        yield family

    # due work: what the claim would take now (pending, due, dependencies completed)
    def _due(self, now: datetime) -> Iterator[Metric]:
        rows = (
            eligible_tasks(now=now)
            .order_by()
            .values("account_type")
            .annotate(n=Count("id"), due_since=Min(Coalesce("next_attempt_at", "created_at")))
        )
        by_system = {row["account_type"]: row for row in rows}
        due = GaugeMetricFamily(
            "accountsync_due_tasks",
            "Pending tasks a runner could claim now (due, dependencies completed), by system.",
            labels=["system"],
        )
        age = GaugeMetricFamily(
            "accountsync_oldest_due_task_age_seconds",
            "How long the oldest claimable pending task has been due, by system (0 when none).",
            labels=["system"],
        )
        for system in registry.values():
            row = by_system.get(system)
            due.add_metric([system], row["n"] if row else 0)
            waited = (now - row["due_since"]).total_seconds() if row and row["due_since"] else 0.0
            age.add_metric([system], max(0.0, waited))
        yield due
        yield age

    # attempts by system and outcome: all time (counter) and the last 15 minutes (gauge)
    def _attempts(self, now: datetime) -> Iterator[Metric]:
        since = now - RECENT_WINDOW
        rows = (
            AccountCreationLog.objects.filter(outcome__in=FINISHED_OUTCOMES)
            .order_by()
            .values_list("task__account_type", "outcome")
            .annotate(n=Count("id"), recent=Count("id", filter=Q(finished_at__gte=since)))
        )
        total = {(system, outcome): 0 for system in registry.values() for outcome in FINISHED_OUTCOMES}
        recent = dict(total)
        for system, outcome, n, recent_n in rows:
            total[(system, outcome)] = n
            recent[(system, outcome)] = recent_n
        counter = CounterMetricFamily(
            "accountsync_attempts",
            "Finished attempts by system and outcome (succeeded, retry, failed, lost, dropped), "
            "counted from attempt rows: deleting old logs makes it drop (a counter reset).",
            labels=["system", "outcome"],
        )
        window = GaugeMetricFamily(
            "accountsync_attempts_last_15m",
            "Attempts finished in the last 15 minutes by system and outcome (for alerts: "
            "unaffected by log cleanup).",
            labels=["system", "outcome"],
        )
        for key in sorted(total):
            counter.add_metric(list(key), total[key])
            window.add_metric(list(key), recent[key])
        yield counter
        yield window

    # downstream latency: duration_ms of finished attempts, bucketed in SQL per system
    def _downstream(self) -> Iterator[Metric]:
        buckets = {
            f"le{index}": Count("id", filter=Q(duration_ms__lte=int(bound * 1000)))
            for index, bound in enumerate(DOWNSTREAM_BUCKETS)
        }
        rows = (
            AccountCreationLog.objects.filter(duration_ms__isnull=False)
            .order_by()
            .values("task__account_type")
            .annotate(n=Count("id"), total_ms=Sum("duration_ms"), **buckets)
        )
        by_system: dict[str, Mapping[str, Any]] = {row["task__account_type"]: row for row in rows}
        family = HistogramMetricFamily(
            "accountsync_downstream_call_seconds",
            "Duration of finished attempts (the connector's calls to the downstream system and "
            "the outcome's write), by system, from attempt rows' duration_ms.",
            labels=["system"],
        )
        for system in registry.values():
            row: Mapping[str, Any] = by_system.get(system, {})
            family.add_metric(
                [system],
                _bucket_counts("le", row.get("n", 0), row, DOWNSTREAM_BUCKETS),
                sum_value=(row.get("total_ms") or 0) / 1000,
            )
        yield family

    # engine runs: count, duration histogram, lease recoveries, last finish, token refreshes
    def _runs(self) -> Iterator[Metric]:
        buckets = {
            f"le{index}": Count("id", filter=Q(finished_at__lte=F("started_at") + timedelta(seconds=bound)))
            for index, bound in enumerate(RUN_BUCKETS)
        }
        tokens = {
            f"tokens_{system}": Sum(Cast(KT(f"{ENGINE_RUN_TOKEN_FIELD}__{system}"), IntegerField()))
            for system in registry.values()
        }
        totals = EngineRun.objects.filter(finished_at__isnull=False).aggregate(
            n=Count("id"),
            recovered=Sum("recovered"),
            last_finished=Max("finished_at"),
            seconds=Sum(ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())),
            **buckets,
            **tokens,
        )
        durations = totals["seconds"].total_seconds() if totals["seconds"] else 0.0
        runs = CounterMetricFamily("accountsync_engine_runs", "Finished engine runs (EngineRun rows).")
        runs.add_metric([], totals["n"])
        yield runs
        histogram = HistogramMetricFamily(
            "accountsync_engine_run_duration_seconds", "Duration of finished engine runs."
        )
        histogram.add_metric([], _bucket_counts("le", totals["n"], totals, RUN_BUCKETS), sum_value=durations)
        yield histogram
        recoveries = CounterMetricFamily(
            "accountsync_lease_recoveries",
            "Tasks put back in the queue (or failed) because their runner's lease expired.",
        )
        recoveries.add_metric([], totals["recovered"] or 0)
        yield recoveries
        last = GaugeMetricFamily(
            "accountsync_last_engine_run_finished_timestamp_seconds",
            "Unix time the last engine run finished (0 when none has).",
        )
        last.add_metric([], totals["last_finished"].timestamp() if totals["last_finished"] else 0.0)
        yield last
        refreshes = CounterMetricFamily(
            "accountsync_token_refreshes",
            "Access tokens fetched by engine runs, by system (from EngineRun."
            f"{ENGINE_RUN_TOKEN_FIELD}; all zero until the engine records them).",
            labels=["system"],
        )
        for system in registry.values():
            refreshes.add_metric([system], totals.get(f"tokens_{system}") or 0)
        yield refreshes


def metrics_registry() -> CollectorRegistry:
    """A registry holding only the database collector (what ``/metrics`` serves)."""
    served = CollectorRegistry(auto_describe=False)
    served.register(DatabaseCollector())
    return served
