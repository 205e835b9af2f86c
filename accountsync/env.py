"""Typed readers of environment variables for accountsync/settings.py.

Each reads one variable once, with a default; a malformed value raises
``ImproperlyConfigured`` naming the variable, so start-up stops with a message that says
what to fix.
"""

from __future__ import annotations

import os
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()


def read(kind: str, name: str, default: Any) -> Any:
    """Read one typed variable; name the variable when its value cannot be parsed."""
    raw = os.environ.get(name)
    try:
        value = getattr(env, kind)(name, default=default)
    except (ValueError, TypeError, environ.ImproperlyConfigured) as exc:
        raise ImproperlyConfigured(
            f"Environment variable {name} has an invalid value {raw!r}: expected {kind} ({exc})"
        ) from exc
    if kind == "bool" and raw is not None and raw.strip().lower() not in BOOL_WORDS:
        raise ImproperlyConfigured(
            f"Environment variable {name} has an invalid value {raw!r}: expected true or false"
        )
    return value


BOOL_WORDS = {"true", "false", "1", "0", "yes", "no", "on", "off", "y", "n", "t", "f", ""}


def positive(name: str, default: float, *, kind: str = "int", allow_zero: bool = False) -> Any:
    value = read(kind, name, default)
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ImproperlyConfigured(f"Environment variable {name} must be {bound}, got {value!r}")
    return value


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback  # 127.0.0.0/8, ::1
    except ValueError:
        return False


def base_url(name: str) -> str:
    """A downstream system's base URL: empty (the system is not configured) or an absolute
    https:// URL; plain http only for this machine (127.0.0.0/8, ::1, localhost)."""
    from urllib.parse import urlsplit

    value = read("str", name, "").strip().rstrip("/")
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"Environment variable {name} has an invalid value {value!r}: expected a URL such as "
            f"https://host.example.com ({exc})"
        ) from exc
    if parts.scheme not in ("http", "https") or not host:
        raise ImproperlyConfigured(
            f"Environment variable {name} has an invalid value {value!r}: expected a URL such as "
            "https://host.example.com"
        )
    if parts.scheme == "http" and not is_loopback(host):
        raise ImproperlyConfigured(
            f"Environment variable {name} has an invalid value {value!r}: a system on another machine "
            "must be reached over https:// (http:// only for 127.0.0.0/8, ::1 and localhost)"
        )
    return value


def ip_networks(name: str, values: list[str]) -> list[Any]:
    import ipaddress

    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"Environment variable {name} has an invalid value {value!r}: expected IP addresses "
                f"or networks (10.0.0.5, 10.0.0.0/24), comma-separated ({exc})"
            ) from exc
    return networks
