"""The sandbox's OA: a callback receiver that verifies Standard Webhooks signatures.

``POST /_sandbox/oa/callback`` receives AccountSync's events the way a careful OA would:
it verifies ``webhook-signature`` with the configured secret (the maintained
``standardwebhooks`` library), refuses a bad signature with 401, and deduplicates by
``webhook-id`` (a redelivered event is acknowledged, not counted twice). Fault switches make
it misbehave on purpose: ``error_rate`` (answer 503), ``latency_ms``, ``down_seconds``
(answer 503 to everything for that long from now) and ``fail_first`` (answer 503 to the
first N deliveries of each event id).

Controls: ``POST /_sandbox/oa/config`` (JSON: ``secret`` and any fault switch),
``GET /_sandbox/oa/events`` (what arrived: unique events in order, deliveries per id
(counted once answered), ``arrivals`` (POSTs counted the moment they arrive, so a test can
tell a delivery is in flight), rejected signatures), ``POST /_sandbox/oa/reset``.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


class ReceiverConfigError(ValueError):
    pass


@dataclass
class OaReceiver:
    secret: str = ""
    error_rate: float = 0.0
    latency_ms: int = 0
    down_until: float = 0.0
    fail_first: int = 0
    seed: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: Counter[str] = field(default_factory=Counter)
    arrivals: int = 0  # POSTs received, counted on arrival (before latency_ms): "one is in flight"
    rejected: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        known = {"secret", "error_rate", "latency_ms", "down_seconds", "fail_first", "seed"}
        unknown = sorted(set(body) - known)
        if unknown:
            raise ReceiverConfigError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        try:
            with self._lock:
                if "secret" in body:
                    secret = str(body["secret"])
                    if secret:
                        Webhook(secret)  # a malformed secret is refused now, not at the first event
                    self.secret = secret
                if "error_rate" in body:
                    rate = float(body["error_rate"])
                    if not 0 <= rate <= 1:
                        raise ReceiverConfigError("error_rate must be between 0 and 1")
                    self.error_rate = rate
                if "latency_ms" in body:
                    self.latency_ms = max(0, int(body["latency_ms"]))
                if "down_seconds" in body:
                    self.down_until = time.monotonic() + max(0.0, float(body["down_seconds"]))
                if "fail_first" in body:
                    self.fail_first = max(0, int(body["fail_first"]))
                if "seed" in body:
                    self.seed = int(body["seed"])
                    self._random.seed(self.seed)
        except (TypeError, ValueError) as exc:
            raise ReceiverConfigError(str(exc)) from exc
        return self.settings()

    def settings(self) -> dict[str, Any]:
        return {
            "secret_set": bool(self.secret),
            "error_rate": self.error_rate,
            "latency_ms": self.latency_ms,
            "down_for_seconds": max(0.0, round(self.down_until - time.monotonic(), 1)),
            "fail_first": self.fail_first,
        }

    def reset(self) -> None:
        with self._lock:
            self.events.clear()
            self.deliveries.clear()
            self.arrivals = 0
            self.rejected = 0
            self.error_rate, self.latency_ms, self.down_until, self.fail_first = 0.0, 0, 0.0, 0

    def receive(self, raw: bytes, headers: dict[str, str], wait: Any) -> tuple[int, dict[str, Any]]:
        """Handle one delivery; ``wait(seconds)`` sleeps (interruptible when the server stops)."""
        with self._lock:
            self.arrivals += 1
        if self.latency_ms:
            wait(self.latency_ms / 1000)
        event_id = headers.get("webhook-id", "")
        with self._lock:
            self.deliveries[event_id] += 1
            attempt = self.deliveries[event_id]
            if time.monotonic() < self.down_until:
                return 503, {"message": "the OA is down (sandbox fault down_seconds)"}
            if attempt <= self.fail_first:
                return 503, {"message": f"failing the first {self.fail_first} deliveries (sandbox fault fail_first)"}
            if self.error_rate and self._random.random() < self.error_rate:
                return 503, {"message": "sandbox fault error_rate"}
            if not self.secret:
                return 503, {"message": "the sandbox OA has no secret yet: POST /_sandbox/oa/config {\"secret\": …}"}
            try:
                payload = Webhook(self.secret).verify(raw.decode("utf-8"), headers)
            except (WebhookVerificationError, UnicodeDecodeError, ValueError) as exc:
                self.rejected += 1
                return 401, {"message": f"signature verification failed: {exc}"}
            if any(event["id"] == event_id for event in self.events):
                return 200, {"received": event_id, "duplicate": True}
            self.events.append({"id": event_id, "type": payload.get("type"), "data": payload.get("data"),
                                "timestamp": payload.get("timestamp")})
            return 200, {"received": event_id}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "events": list(self.events),
                "deliveries": dict(self.deliveries),
                "arrivals": self.arrivals,
                "rejected_signatures": self.rejected,
                "settings": self.settings(),
            }


def parse_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    value = json.loads(raw.decode("utf-8"))
    if not isinstance(value, dict):
        raise ReceiverConfigError("the body must be a JSON object")
    return value
