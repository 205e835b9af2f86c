"""The retry policy: how long a task waits after a retryable failure.

Kept apart from the queue (which records outcomes) and the runner (which calls connectors),
as procrastinate keeps ``RetryStrategy.get_schedule_in`` apart from its manager and worker.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class RetryStrategy:
    """Exponential backoff with "equal jitter": half fixed, half random.

    attempt 1 -> base, 2 -> 2*base, 3 -> 4*base … capped at ``max_seconds``; the delay lies
    in [d/2, d] so concurrent failures spread out but never retry sooner than half of it.
    ``base_seconds`` 0 retries at the next run.
    """

    base_seconds: float
    max_seconds: float
    max_attempts: int
    # "equal": the delay lies in [d/2, d] (tasks). "above": in [d, 1.5·d], capped at
    # max_seconds — never sooner than the documented schedule (callback deliveries, whose
    # contract says the first retry comes after the base delay).
    jitter: str = "equal"

    @classmethod
    def from_settings(cls) -> RetryStrategy:
        return cls(
            base_seconds=settings.ACCOUNT_CREATION_BACKOFF_BASE_SECONDS,
            max_seconds=settings.ACCOUNT_CREATION_BACKOFF_MAX_SECONDS,
            max_attempts=settings.ACCOUNT_CREATION_MAX_RETRIES,
        )

    def exhausted(self, *, attempt_in_budget: int) -> bool:
        """True when this attempt was the last one the budget allows."""
        return attempt_in_budget >= self.max_attempts

    def get_schedule_in(self, *, attempt_in_budget: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before the next attempt, after attempt ``attempt_in_budget`` failed."""
        if self.base_seconds <= 0:
            return 0.0
        delay = min(self.max_seconds, self.base_seconds * (2 ** max(0, attempt_in_budget - 1)))
        if self.jitter == "above":
            return min(self.max_seconds, delay + (rng or random).uniform(0, delay / 2))
        return delay / 2 + (rng or random).uniform(0, delay / 2)


def backoff_seconds(attempt_in_budget: int, *, rng: random.Random | None = None) -> float:
    """The configured strategy's wait after attempt ``attempt_in_budget`` failed."""
    return RetryStrategy.from_settings().get_schedule_in(attempt_in_budget=attempt_in_budget, rng=rng)
