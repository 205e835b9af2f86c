"""Keep secrets and personal data out of logs, attempt rows and API responses.

Two mechanisms: values known to be secret (configured credentials, and tokens the
connectors obtain at run time via :func:`register_secret`) are replaced wherever they
appear in text, and mapping keys that name a secret (``Authorization``, ``secret``,
``access_token`` …) have their values replaced whatever they are.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

REDACTED = "***"
SECRET_SETTINGS = ("IDAAS_SECRET", "WELINK_CLIENT_SECRET", "EMAIL_AUTH_TOKEN", "SECRET_KEY")
_SECRET_KEY_PATTERN = re.compile(
    r"(authorization|secret|password|passwd|token|access_token|api[_-]?key|credential)",
    re.IGNORECASE,
)
_PHONE_PATTERN = re.compile(r"(?<!\d)(\+?\d[\d\- ]{5,}\d)(?!\d)")

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


def redact_data(data: Any) -> Any:
    """Return a copy of JSON-like data with secret keys and secret values replaced."""
    if isinstance(data, dict):
        return {
            key: (REDACTED if isinstance(key, str) and _SECRET_KEY_PATTERN.search(key)
                  and value not in (None, "") else redact_data(value))
            for key, value in data.items()
        }
    if isinstance(data, list | tuple):
        return [redact_data(item) for item in data]
    if isinstance(data, str):
        return redact_text(data)
    return data


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
