"""Fault switches of the sandbox: what ``POST /_sandbox/faults`` accepts, validated.

Each POST replaces the whole set (absent keys take their defaults), so a test states every
fault it wants in one place; ``{}`` switches everything off.

``systems`` names account types of ``account_creation.account_types.registry``, read when a
payload is validated (so a type registered later is accepted); by default a fault applies to
every system.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from account_creation.account_types import registry

DEFAULT_TOKEN_TTL_S = 7200.0
DEFAULT_TIMEOUT_HOLD_MS = 35000.0


class FaultConfigError(ValueError):
    """A fault payload the sandbox refuses (answered with HTTP 400 and this message)."""


def known_systems() -> list[str]:
    """The names the ``systems`` switch accepts: the account types registered now, in run order."""
    return [str(value) for value in registry.values()]


@dataclass(frozen=True)
class Faults:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_hold_ms: float = DEFAULT_TIMEOUT_HOLD_MS
    rate_limit_per_s: int = 0  # 0 = unlimited; otherwise each system's own one-second window
    seed: int | None = None
    token_ttl_s: float = 0.0  # 0 = the default lifetime (7200 s)
    replication_lag_ms: float = 0.0
    systems: tuple[str, ...] = ()  # the faulted systems; () = every system

    def applies_to(self, system: str) -> bool:
        return not self.systems or system in self.systems

    def token_lifetime_s(self, system: str) -> float:
        if self.token_ttl_s > 0 and self.applies_to(system):
            return self.token_ttl_s
        return DEFAULT_TOKEN_TTL_S

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["systems"] = list(self.systems) or known_systems()
        return data


def _number(payload: dict[str, Any], key: str, default: float, *, upper: float | None = None) -> float:
    value = payload.get(key, default)
    # bool is an int in Python; `true` is not a latency.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultConfigError(f"{key} must be a number, got {value!r}")
    if value < 0 or (upper is not None and value > upper):
        bound = f"between 0 and {upper:g}" if upper is not None else ">= 0"
        raise FaultConfigError(f"{key} must be {bound}, got {value!r}")
    return float(value)


def faults_from_payload(payload: Any) -> Faults:
    """Validate a ``/_sandbox/faults`` body; raise :class:`FaultConfigError` with the reason."""
    if not isinstance(payload, dict):
        raise FaultConfigError("the body must be a JSON object")
    known = {f for f in Faults.__dataclass_fields__}
    unknown = sorted(set(payload) - known)
    if unknown:
        raise FaultConfigError(f"unknown keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})")

    rate_limit = payload.get("rate_limit_per_s", 0)
    if isinstance(rate_limit, bool) or not isinstance(rate_limit, int) or rate_limit < 0:
        raise FaultConfigError(f"rate_limit_per_s must be an integer >= 0, got {rate_limit!r}")

    seed = payload.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise FaultConfigError(f"seed must be an integer or null, got {seed!r}")

    systems_value = payload.get("systems", [])  # absent: every system
    if "systems" in payload:
        valid = known_systems()
        if (
            not isinstance(systems_value, list)
            or not systems_value
            or not all(isinstance(item, str) and item in valid for item in systems_value)
        ):
            raise FaultConfigError(f"systems must be a non-empty list of {', '.join(valid)}, got {systems_value!r}")

    return Faults(
        latency_ms=_number(payload, "latency_ms", 0.0),
        error_rate=_number(payload, "error_rate", 0.0, upper=1.0),
        timeout_rate=_number(payload, "timeout_rate", 0.0, upper=1.0),
        timeout_hold_ms=_number(payload, "timeout_hold_ms", DEFAULT_TIMEOUT_HOLD_MS),
        rate_limit_per_s=rate_limit,
        seed=seed,
        token_ttl_s=_number(payload, "token_ttl_s", 0.0),
        replication_lag_ms=_number(payload, "replication_lag_ms", 0.0),
        systems=tuple(dict.fromkeys(systems_value)),
    )
