"""The per-process token cache: early refresh, one fetch for many threads, failure memory."""

from __future__ import annotations

import threading
import time

import pytest

from account_creation.connectors.base import PermanentError, RetryableError
from account_creation.connectors.http import TokenCache, token_lifetime
from accountsync.redaction import redact_text


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("expires_in", "kept"),
    [(7200, 6900), ("7200", 6900), (301, 1), (300, 150), (60, 30), (None, 3300), ("soon", 3300), (0, 3300)],
)
def test_token_is_kept_until_300_seconds_before_expiry_or_half_a_short_life(expires_in, kept):
    assert token_lifetime(expires_in, default=3600) == kept


def test_cached_token_is_reused_then_refetched_when_its_time_is_up():
    clock = Clock()
    tokens = iter(["token-one-aaaa", "token-two-bbbb"])
    fetches = []

    def fetch():
        fetches.append(clock.now)
        return next(tokens), 6900.0

    cache = TokenCache(fetch, system="Test", clock=clock)
    assert cache.get() == "token-one-aaaa"
    clock.now += 6899
    assert cache.get() == "token-one-aaaa"
    clock.now += 2
    assert cache.get() == "token-two-bbbb"
    assert len(fetches) == 2


def test_obtained_tokens_are_registered_for_redaction():
    cache = TokenCache(lambda: ("runtime-token-5e6f7a", 100.0), system="Test")
    cache.get()
    assert redact_text("header runtime-token-5e6f7a") == "header ***"


def test_invalidate_drops_only_the_rejected_token():
    tokens = iter(["token-one-aaaa", "token-two-bbbb"])
    cache = TokenCache(lambda: (next(tokens), 100.0), system="Test")
    first = cache.get()
    cache.invalidate(first)
    second = cache.get()
    cache.invalidate(first)  # a slow thread reporting the old token keeps the new one
    assert (first, second, cache.get()) == ("token-one-aaaa", "token-two-bbbb", "token-two-bbbb")


def test_eight_threads_needing_a_token_at_once_cause_one_fetch():
    fetches = []
    start = threading.Barrier(8)

    def fetch():
        fetches.append(1)
        time.sleep(0.2)
        return "shared-token-1234", 100.0

    cache = TokenCache(fetch, system="Test")
    results: list[str] = []

    def worker():
        start.wait()
        results.append(cache.get())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fetches) == 1
    assert results == ["shared-token-1234"] * 8


def test_permanent_failure_is_remembered_then_retried_after_the_window():
    clock = Clock()
    fetches = []

    def fetch():
        fetches.append(clock.now)
        raise PermanentError("bad credentials", details={"code": "10007"})

    cache = TokenCache(fetch, system="Test", clock=clock, failure_memory=60)
    with pytest.raises(PermanentError):
        cache.get()
    clock.now += 59
    with pytest.raises(PermanentError, match="remembered") as remembered:
        cache.get()
    assert remembered.value.details["remembered"] is True
    assert len(fetches) == 1
    clock.now += 2
    with pytest.raises(PermanentError):
        cache.get()
    assert len(fetches) == 2


def test_retryable_failure_is_not_remembered():
    calls = []

    def fetch():
        calls.append(1)
        if len(calls) == 1:
            raise RetryableError("timeout")
        return "token-after-retry", 100.0

    cache = TokenCache(fetch, system="Test")
    with pytest.raises(RetryableError):
        cache.get()
    assert cache.get() == "token-after-retry"
