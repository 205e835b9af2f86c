"""The sandbox's counters: per simulated system (the names a world is built for) and, for
injected faults, per kind. Plain data; :class:`sandbox.world.World` updates them under its lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FAULT_KINDS = ("error", "timeout", "rate_limit")


@dataclass
class Counters:
    create_calls: dict[str, int]
    duplicates_refused: dict[str, int]
    token_fetches: dict[str, int]
    requests: dict[str, int]
    faults: dict[str, int]
    faults_by_system: dict[str, dict[str, int]]
    # system -> account key -> create calls that reached the system's logic
    calls_by_key: dict[str, dict[str, int]]

    @classmethod
    def zero(cls, systems: tuple[str, ...]) -> Counters:
        return cls(
            create_calls=dict.fromkeys(systems, 0),
            duplicates_refused=dict.fromkeys(systems, 0),
            token_fetches=dict.fromkeys(systems, 0),
            requests=dict.fromkeys(systems, 0),
            faults=dict.fromkeys(FAULT_KINDS, 0),
            faults_by_system={s: dict.fromkeys(FAULT_KINDS, 0) for s in systems},
            calls_by_key={s: {} for s in systems},
        )

    def count_fault(self, system: str, kind: str) -> None:
        self.faults[kind] += 1
        self.faults_by_system[system][kind] += 1

    def count_create(self, system: str, key: str) -> None:
        """A create call reached ``system``'s logic; ``key`` (the account's key) may be empty."""
        self.create_calls[system] += 1
        if key:
            calls = self.calls_by_key[system]
            calls[key] = calls.get(key, 0) + 1

    def totals(self) -> dict[str, Any]:
        """``totals`` of ``GET /_sandbox/state``."""
        return {
            "create_calls": _with_all(self.create_calls),
            "duplicates_refused": _with_all(self.duplicates_refused),
            "faults": dict(self.faults),
            "faults_by_system": {s: dict(v) for s, v in self.faults_by_system.items()},
            "token_fetches": _with_all(self.token_fetches),
            "requests": _with_all(self.requests),
        }


def _with_all(counts: dict[str, int]) -> dict[str, int]:
    return {**counts, "all": sum(counts.values())}
