"""Connector registry: one connector per account type, in run order.

Tests and the sandbox replace connectors with :func:`override_connectors`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from django.conf import settings

from account_creation.connectors.base import Connector

# Account type -> the settings it needs (the spec's variables) and the factory.
REQUIRED_SETTINGS: dict[str, tuple[str, ...]] = {
    "idaas": ("IDAAS_ACCOUNT", "IDAAS_SECRET", "IDAAS_ENTERPRISE_ID", "IDAAS_BASE_URL"),
    "welink": ("WELINK_CLIENT_ID", "WELINK_CLIENT_SECRET", "WELINK_BASE_URL"),
    "email": ("EMAIL_AUTH_TOKEN", "EMAIL_BASE_URL", "EMAIL_DOMAIN"),
}

_lock = threading.Lock()
_instances: dict[str, Connector] = {}
_overrides: Mapping[str, Connector] | None = None
_pool_size = 10


def pool_size() -> int:
    """Connections each connector's requests.Session keeps per host (>= engine threads)."""
    return _pool_size


def configure_pool(size: int) -> None:
    """Size the HTTP pools to the engine's concurrency; rebuilds connectors when it grows."""
    global _pool_size
    with _lock:
        if size > _pool_size:
            _pool_size = size
            _instances.clear()


def _factories() -> dict[str, Callable[[], Connector]]:
    from account_creation.connectors.exchange import ExchangeConnector
    from account_creation.connectors.idaas import IdaasConnector
    from account_creation.connectors.welink import WelinkConnector

    return {"idaas": IdaasConnector, "welink": WelinkConnector, "email": ExchangeConnector}


def missing_configuration() -> dict[str, list[str]]:
    """Account type -> names of its required settings that are empty."""
    if _overrides is not None:
        return {system: [] for system in REQUIRED_SETTINGS}
    return {
        system: [name for name in names if not getattr(settings, name, "")]
        for system, names in REQUIRED_SETTINGS.items()
    }


def configured_account_types() -> list[str]:
    return [system for system, missing in missing_configuration().items() if not missing]


def get_connector(account_type: str) -> Connector:
    """The process-wide connector for a type (shared by the engine's threads)."""
    if _overrides is not None:
        return _overrides[account_type]
    with _lock:
        connector = _instances.get(account_type)
        if connector is None:
            connector = _factories()[account_type]()
            _instances[account_type] = connector
        return connector


def reset_connectors() -> None:
    """Drop cached connectors (and their token caches and sessions)."""
    with _lock:
        _instances.clear()


@contextmanager
def override_connectors(connectors: Mapping[str, Connector]) -> Iterator[None]:
    global _overrides
    previous = _overrides
    _overrides = connectors
    try:
        yield
    finally:
        _overrides = previous
