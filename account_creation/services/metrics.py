"""Prometheus instruments the engine updates (process-local; see docs/operations.md)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ATTEMPTS = Counter(
    "accountsync_attempts_total", "Finished attempts by system and outcome.", ["system", "outcome"]
)
DOWNSTREAM_SECONDS = Histogram(
    "accountsync_downstream_call_seconds",
    "Time spent in a connector per attempt (all its HTTP calls), by system.",
    ["system"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
RUNS = Counter("accountsync_runs_total", "Finished engine runs.")
RUN_SECONDS = Histogram(
    "accountsync_run_seconds", "Duration of engine runs.", buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)
)
LEASE_RECOVERIES = Counter("accountsync_lease_recoveries_total", "Tasks whose expired lease was recovered.")
TOKEN_REFRESHES = Counter("accountsync_token_refreshes_total", "Access tokens fetched, by system.", ["system"])


def attempt_finished(system: str, outcome: str) -> None:
    ATTEMPTS.labels(system=system, outcome=outcome).inc()


def downstream_call(system: str, seconds: float) -> None:
    DOWNSTREAM_SECONDS.labels(system=system).observe(seconds)


def run_finished(seconds: float) -> None:
    RUNS.inc()
    RUN_SECONDS.observe(seconds)


def lease_recoveries(count: int) -> None:
    if count:
        LEASE_RECOVERIES.inc(count)


def token_refreshed(system: str) -> None:
    TOKEN_REFRESHES.labels(system=system).inc()
