from __future__ import annotations

import random

import pytest

from account_creation.connectors import override_connectors
from account_creation.connectors.fake import FakeConnector
from callbacks.services import callback_configure
from conftest import client_with_key, issue_key

TYPES = ("idaas", "welink", "email")


@pytest.fixture
def oa(sandbox_server):
    """The sandbox's OA receiver, reset, knowing the secret of the oa-app client's callback."""
    sandbox_server.oa.reset()
    return sandbox_server.oa


@pytest.fixture
def oa_app(db, departments, oa, sandbox_server, settings):
    """An OA API client whose callback points at the sandbox OA; returns its HTTP client."""
    settings.ACCOUNT_CREATION_BACKOFF_BASE_SECONDS = 0
    settings.CALLBACK_BACKOFF_BASE_SECONDS = 0
    client = client_with_key(issue_key("oa-app", origin_systems=("oa",), scopes=("intake", "read", "retry")))
    configured = callback_configure(client_name="oa-app", url=f"{sandbox_server.url}/_sandbox/oa/callback")
    oa.configure({"secret": configured.endpoint.secret})
    client.endpoint = configured.endpoint  # type: ignore[attr-defined]
    return client


class FlakyConnector(FakeConnector):
    """Answers retry or fail at random (seeded), ok otherwise."""

    def __init__(self, account_type: str, *, fault_rate: float, seed: int):
        super().__init__(account_type)
        self.fault_rate = fault_rate
        self.random = random.Random(seed)

    def _next(self, request):  # type: ignore[no-untyped-def]
        behaviour = super()._next(request)
        with self._lock:
            roll = self.random.random()
        if behaviour == "ok" and roll < self.fault_rate:
            return "fail" if roll < self.fault_rate / 6 else "retry"
        return behaviour


@pytest.fixture
def fakes():
    connectors = {system: FakeConnector(system) for system in TYPES}
    with override_connectors(connectors):
        yield connectors


@pytest.fixture
def flaky():
    connectors = {system: FlakyConnector(system, fault_rate=0.3, seed=n) for n, system in enumerate(TYPES)}
    with override_connectors(connectors):
        yield connectors
