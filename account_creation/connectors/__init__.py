"""Connector instances: one per account type, built from the account-type registry.

Each registered :class:`~account_creation.account_types.AccountTypeSpec` names its connector
factory and the settings it needs; this module builds one process-wide instance per type
(shared by the engine's threads) and says which types lack configuration. Tests and the
sandbox replace connectors with :func:`override_connectors`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from django.conf import settings
from django.utils.module_loading import import_string

from account_creation.account_types import registry
from account_creation.connectors import http
from account_creation.connectors.base import Connector

_lock = threading.Lock()
_instances: dict[str, Connector] = {}
_overrides: Mapping[str, Connector] | None = None


def configure_pool(size: int) -> None:
    """Size the HTTP pools to the engine's concurrency; rebuilds connectors when it grows."""
    with _lock:
        if http.set_pool_size(size):
            _instances.clear()


def missing_configuration() -> dict[str, list[str]]:
    """Account type -> names of its required settings that are empty."""
    if _overrides is not None:
        return {spec.value: [] for spec in registry}
    return {spec.value: [name for name in spec.settings if not getattr(settings, name, "")] for spec in registry}


def get_connector(account_type: str) -> Connector:
    """The process-wide connector for a type (shared by the engine's threads)."""
    if _overrides is not None:
        return _overrides[account_type]
    with _lock:
        connector = _instances.get(account_type)
        if connector is None:
            # `manage.py check` (run before every command) proved the path imports.
            connector = import_string(registry.get(account_type).connector)()
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
