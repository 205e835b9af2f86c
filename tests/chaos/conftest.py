"""The chaos and database-outage tests need PostgreSQL: real processes share one server."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.chaos.infra import postgres_reachable


@pytest.fixture(autouse=True)
def _needs_postgresql() -> None:
    if settings.DATABASE_VENDOR != "postgresql":
        pytest.skip(
            "needs PostgreSQL: runner processes, gunicorn and SKIP LOCKED claims share one server "
            "(run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/<name>)"
        )
    if not postgres_reachable():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 as user postgres")
