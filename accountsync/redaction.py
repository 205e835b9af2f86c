"""Keep secrets and personal data out of logs, attempt rows and API responses.

Two mechanisms: values known to be secret (configured credentials, and tokens the
connectors obtain at run time via :func:`register_secret`) are replaced wherever they
appear in text, and mapping keys that name a secret (``Authorization``, ``secret``,
``access_token`` …) have their values replaced whatever they are. Phone numbers are
personal data: :func:`safe_data` also masks them, under phone keys and inside free text.
Both walk JSON-like data with the one walker, :func:`walk`.

A secret is also caught when a downstream system echoes it back altered: in any letter
case, base64-encoded (standard or URL-safe, at any alignment inside a longer encoded
text), hex- or percent-encoded, or cut short to a prefix of at least
:data:`MIN_PREFIX_LENGTH` characters of any of those forms.

Attempt rows keep only allow-listed keys of a connector error's details
(:func:`stored_details`): a field of a downstream answer that is not on the list is never
stored, whatever it holds.
"""

from __future__ import annotations

import base64
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from functools import lru_cache
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


# A run of at least this many characters of a secret's form (from its start) is redacted.
MIN_PREFIX_LENGTH = 8
_URLSAFE = str.maketrans("+/", "-_")


def secret_forms(secret: str) -> set[str]:
    """The forms of ``secret`` that :func:`redact_text` looks for (compared ignoring case).

    Base64 forms are the characters that depend on the secret alone, for each of the three
    alignments it can have inside a longer encoded text (``user:secret`` in a Basic header).
    """
    raw = secret.encode("utf-8", "surrogatepass")
    forms = {secret, raw.hex(), urllib.parse.quote(secret, safe="")}
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw).decode("ascii")
        core = encoded[-(-8 * pad // 6): (8 * (pad + len(raw))) // 6]
        forms.update((core, core.translate(_URLSAFE)))
    return {form for form in forms if len(form) >= _MIN_SECRET_LENGTH}


@lru_cache(maxsize=32)
def _matcher(secrets: tuple[str, ...]) -> tuple[re.Pattern[str] | None, dict[str, list[str]]]:
    """One pattern for the start (first 8 characters) of every form, and forms by start."""
    by_anchor: dict[str, list[str]] = {}
    for secret in secrets:
        for form in secret_forms(secret):
            lowered = form.lower()
            by_anchor.setdefault(lowered[:MIN_PREFIX_LENGTH], []).append(lowered)
    if not by_anchor:
        return None, by_anchor
    anchors = sorted(by_anchor, key=len, reverse=True)
    return re.compile("|".join(re.escape(anchor) for anchor in anchors), re.IGNORECASE), by_anchor


def _match_length(lowered: str, start: int, forms: list[str]) -> int:
    """How far the text from ``start`` runs along the longest matching form (0: none)."""
    best = 0
    for form in forms:
        length = 0
        limit = min(len(form), len(lowered) - start)
        while length < limit and lowered[start + length] == form[length]:
            length += 1
        # Forms shorter than the prefix length must appear whole.
        if length >= min(len(form), MIN_PREFIX_LENGTH):
            best = max(best, length)
    return best


def redact_text(text: str) -> str:
    """``text`` with every known secret, in any of its :func:`secret_forms`, replaced."""
    pattern, by_anchor = _matcher(tuple(known_secrets()))
    if pattern is None or not text:
        return text
    match = pattern.search(text)
    if match is None:
        return text
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters change length when lowered
        lowered = "".join(ch.lower()[:1] or ch for ch in text)
    parts: list[str] = []
    position = 0
    while match is not None:
        start = match.start()
        length = _match_length(lowered, start, by_anchor.get(match.group().lower(), []))
        if length:
            parts.append(text[position:start])
            parts.append(REDACTED)
            position = start + length
        match = pattern.search(text, max(start + max(length, 1), position))
    parts.append(text[position:])
    return "".join(parts)


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


# What of a ConnectorError's details an attempt row keeps. Of a downstream answer: its HTTP
# status, code, message and request id (never its body or other fields). Our own keys: the
# redacted request we sent, the transport error, retry facts, the Exchange fail/success
# items (reduced by the connector to their message texts and identities), and the facts
# our own checks name (mapping codes, reserved names, account collisions).
ANSWER_DETAIL_KEYS = frozenset({"http_status", "code", "message", "request_id"})
OWN_DETAIL_KEYS = frozenset({
    "request", "error", "maybe_applied", "next_attempt_at", "retryable", "error_type", "remembered",
    "lookup_error", "fail", "success", "status", "department_code", "employee_type", "employee_number",
    "local_part", "domain", "reserved_name", "collision", "result",
})
STORED_DETAIL_KEYS = ANSWER_DETAIL_KEYS | OWN_DETAIL_KEYS


def stored_details(details: Any) -> dict[str, Any]:
    """The allow-listed part of ``details``, redacted: what an attempt row may keep."""
    if not isinstance(details, dict):
        return {}
    kept = {key: value for key, value in details.items() if key in STORED_DETAIL_KEYS}
    return redact_data(kept)  # type: ignore[no-any-return]


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
