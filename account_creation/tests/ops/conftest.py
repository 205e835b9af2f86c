from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from account_creation.connectors import reset_connectors
from account_creation.tests.ops.sandbox_data import SandboxRun, make_sandbox_run
from sandbox.server import SandboxServer


@pytest.fixture
def sandbox_run(
    api_client: Any, departments: None, sandbox_server: SandboxServer, settings: Any
) -> Iterator[SandboxRun]:
    sandbox_server.world.reset()
    yield make_sandbox_run(api_client=api_client, server=sandbox_server, settings=settings)
    reset_connectors()
