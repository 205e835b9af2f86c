"""Keep secrets and personal data out of logs, attempt rows and API responses.

Two mechanisms: values known to be secret (configured credentials, and tokens the
connectors obtain at run time via :func:`register_secret`) are replaced wherever they
appear in text, and mapping keys that name a secret (``Authorization``, ``secret``,
``access_token`` …) have their values replaced whatever they are. Phone numbers are
personal data: :func:`safe_data` also masks them, under phone keys and inside free text.
Both walk JSON-like data with the one walker, :func:`walk`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

REDACTED = "***"
SECRET_SETTINGS = ("IDAAS_SECRET", "WELINK_CLIENT_SECRET", "EMAIL_AUTH_TOKEN", "SECRET_KEY")
_SECRET_KEY_PATTERN = re.compile(
    r"(authorization|secret|password|passwd|token|access_token|api[_-]?key|credential)",
    re.IGNORECASE,
)
_PHONE_PATTERN = re.compile(r"(?<!\d)(\+?\d[\d\- ]{5,}\d)(?!\d)")
# Mapping keys (compared lower-case) whose values are phone numbers.
PHONE_KEYS = frozenset({"mobile", "mobilenumber", "phonenumber", "phone", "telephone"})
# What an ``on_key`` callback of :func:`walk` returns to have the value walked as usual.
DESCEND: Any = object()

_lock = threading.Lock()
_runtime_secrets: set[str] = set()
# Short values would redact ordinary words; real secrets and tokens are longer.
_MIN_SECRET_LENGTH = 6


def register_secret(value: str | None) -> None:
    """Remember a value obtained at run time (e.g. an access token) so it is redacted."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _runtime_secrets.add(value)


def _configured_secrets() -> Iterable[str]:
    from django.conf import settings

    for name in SECRET_SETTINGS:
        value = getattr(settings, name, "")
        if isinstance(value, str) and len(value) >= _MIN_SECRET_LENGTH:
            yield value


def known_secrets() -> list[str]:
    with _lock:
        runtime = list(_runtime_secrets)
    # Longest first, so a secret that contains another is replaced whole.
    return sorted({*runtime, *_configured_secrets()}, key=len, reverse=True)


def redact_text(text: str) -> str:
    for secret in known_secrets():
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def walk(data: Any, on_text: Callable[[str], str], on_key: Callable[[Any, Any], Any] | None = None) -> Any:
    """Copy of JSON-like data with every string passed through ``on_text``.

    For each mapping entry, ``on_key(key, value)`` returns the value to put in the copy,
    or :data:`DESCEND` to walk ``value`` like the rest. Tuples become lists.
    """
    if isinstance(data, dict):
        result: dict[Any, Any] = {}
        for key, value in data.items():
            replaced = DESCEND if on_key is None else on_key(key, value)
            result[key] = walk(value, on_text, on_key) if replaced is DESCEND else replaced
        return result
    if isinstance(data, list | tuple):
        return [walk(item, on_text, on_key) for item in data]
    if isinstance(data, str):
        return on_text(data)
    return data


def _is_secret_entry(key: Any, value: Any) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY_PATTERN.search(key)) and value not in (None, "")


def _redact_entry(key: Any, value: Any) -> Any:
    return REDACTED if _is_secret_entry(key, value) else DESCEND


def redact_data(data: Any) -> Any:
    """Return a copy of JSON-like data with secret keys and secret values replaced."""
    return walk(data, redact_text, _redact_entry)


def safe_string(text: str) -> str:
    """Text with known secrets replaced and phone numbers masked."""
    return mask_phones_in_text(redact_text(text))


def _safe_entry(key: Any, value: Any) -> Any:
    if _is_secret_entry(key, value):
        return REDACTED
    if isinstance(key, str) and key.lower() in PHONE_KEYS and value:
        return mask_phone(str(redact_data(value)))
    return DESCEND


def safe_data(data: Any) -> Any:
    """Copy of JSON-like data fit for details and logs, made in one pass.

    Secret keys and known secrets are redacted as by :func:`redact_data`; phone numbers are
    masked under :data:`PHONE_KEYS` and inside free text.
    """
    return walk(data, safe_string, _safe_entry)


def mask_phone(value: str | None) -> str:
    """138****5678: enough to recognise a number, not enough to call it."""
    if not value:
        return ""
    digits = value.strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    keep_head = 3 if len(digits) > 7 else 1
    return digits[:keep_head] + "*" * (len(digits) - keep_head - 4) + digits[-4:]


def mask_phones_in_text(text: str) -> str:
    return _PHONE_PATTERN.sub(lambda match: mask_phone(match.group(1)), text)
