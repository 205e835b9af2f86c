from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.server import SandboxServer, start_sandbox
from sandbox.tests.client import SandboxClient


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    running = start_sandbox(port=0)
    yield running
    running.stop()


@pytest.fixture
def sandbox(server: SandboxServer) -> Iterator[SandboxClient]:
    """A client of a clean sandbox (one server per test module, reset before each test)."""
    server.world.reset()
    client = SandboxClient(server.url, server.credentials)
    yield client
    client.http.close()
