"""Scriptable in-memory connectors for tests and dry runs of the engine.

Each call takes the next behaviour from a script (or the default): ``"ok"``,
``"retry"``, ``"fail"``, ``"hang"`` (sleeps ``hang_seconds``) or ``"boom"`` (an unknown
exception). Calls are recorded, per task, so tests can assert order and counts.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from account_creation.connectors.base import AccountResult, ProvisioningRequest
from accountsync.errors import PermanentError, RetryableError


class FakeConnector:
    def __init__(
        self,
        account_type: str,
        *,
        default: str = "ok",
        script: list[str] | None = None,
        hang_seconds: float = 0.5,
        latency_seconds: float = 0.0,
    ):
        self.account_type = account_type
        self.default = default
        self.script: deque[str] = deque(script or [])
        self.per_employee: dict[str, deque[str]] = defaultdict(deque)
        self.hang_seconds = hang_seconds
        self.latency_seconds = latency_seconds
        self.calls: list[ProvisioningRequest] = []
        self.call_times: list[float] = []
        self._lock = threading.Lock()

    def script_for(self, employee_number: str, *behaviours: str) -> None:
        self.per_employee[employee_number].extend(behaviours)

    def _next(self, request: ProvisioningRequest) -> str:
        with self._lock:
            self.calls.append(request)
            self.call_times.append(time.monotonic())
            queue = self.per_employee.get(request.person.employee_number)
            if queue:
                return queue.popleft()
            if self.script:
                return self.script.popleft()
            return self.default

    def create(self, request: ProvisioningRequest) -> AccountResult:
        behaviour = self._next(request)
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        if behaviour == "retry":
            raise RetryableError(f"{self.account_type} answered 503 (fake)", details={"status": 503})
        if behaviour == "fail":
            raise PermanentError(f"{self.account_type} refused the data (fake)", details={"status": 400})
        if behaviour == "boom":
            raise ValueError("unexpected failure inside the connector (fake)")
        if behaviour == "hang":
            time.sleep(self.hang_seconds)
        return AccountResult(
            account_id=f"{self.account_type}-{request.person.employee_number}",
            username=request.username,
            email=request.email,
        )
