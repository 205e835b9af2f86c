from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings

from account_creation.connectors import reset_connectors
from account_creation.tests.ops.sandbox_data import SandboxRun, make_sandbox_run
from sandbox.server import SandboxServer, start_sandbox


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[SandboxServer]:
    server = start_sandbox(
        port=0,
        idaas_account=django_settings.IDAAS_ACCOUNT,
        idaas_secret=django_settings.IDAAS_SECRET,
        welink_client_id=django_settings.WELINK_CLIENT_ID,
        welink_client_secret=django_settings.WELINK_CLIENT_SECRET,
        email_token=django_settings.EMAIL_AUTH_TOKEN,
    )
    yield server
    server.stop()


@pytest.fixture
def sandbox_run(
    api_client: Any, departments: None, sandbox_server: SandboxServer, settings: Any
) -> Iterator[SandboxRun]:
    sandbox_server.world.reset()
    yield make_sandbox_run(api_client=api_client, server=sandbox_server, settings=settings)
    reset_connectors()
