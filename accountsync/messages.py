"""Messages as ids: store a code and its parameters, render the text in the reader's language.

A message the product writes (an intake error, a task's ``last_error``, an attempt's
``error_message``) is a :class:`Message`: a code from a catalog (``account_creation/messages.py``
registers its own) and JSON-safe parameters. It is stored as ``{"code": …, "params": …}`` and
rendered at the edge — an API answer in the caller's ``Accept-Language``, a command's output or a
log line in ``LANGUAGE_CODE`` — so one row reads in Chinese and in English.

Parameters may themselves be messages (a retry wraps the reason it retries for) and datetimes,
which render in ``TIME_ZONE`` with their offset (``2026-11-02 14:00:00 +08:00``). Text that is not
ours to translate (a downstream system's own error text, a value the client sent) travels as a
plain parameter. A stored message whose code this version does not know renders its English
``text`` fallback, so an old row never breaks a page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext, override

# code -> lazily translated template with %(name)s placeholders
CATALOG: dict[str, Promise] = {}

# A parameter holding a plain text that is shown as it is (not translated).
TEXT = "text"
_DATETIME_KEY = "$datetime"
_GETTEXT_KEY = "$gettext"


def register(templates: Mapping[str, Promise]) -> None:
    """Add a module's message templates; a code may be defined once."""
    for code, template in templates.items():
        if code in CATALOG and CATALOG[code] is not template:
            raise ValueError(f"message code {code!r} is defined twice")
        CATALOG[code] = template


def format_datetime(moment: datetime) -> str:
    """A datetime as people read it, in TIME_ZONE with its offset: 2026-11-02 14:00:00 +08:00."""
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    text = local.strftime("%Y-%m-%d %H:%M:%S %z")
    return f"{text[:-2]}:{text[-2:]}" if local.utcoffset() is not None else text.rstrip()


def translatable(msgid: str) -> dict[str, str]:
    """A parameter that is itself a catalog text (marked with ``gettext_noop`` where it is defined)."""
    return {_GETTEXT_KEY: msgid}


def _store(value: Any) -> Any:
    if isinstance(value, Message):
        return value.as_stored()
    if isinstance(value, datetime):
        return {_DATETIME_KEY: value.isoformat()}
    if isinstance(value, Promise):
        return str(value)
    return value


def _render_param(value: Any) -> Any:
    if isinstance(value, dict):
        if _DATETIME_KEY in value:
            return format_datetime(datetime.fromisoformat(value[_DATETIME_KEY]))
        if _GETTEXT_KEY in value:
            return gettext(value[_GETTEXT_KEY])
        if "code" in value:
            return Message.from_stored(value).render()
    if isinstance(value, list):
        return ", ".join(str(_render_param(item)) for item in value)
    return value


@dataclass(frozen=True)
class Message:
    code: str
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, code: str, /, **params: Any) -> Message:
        if code not in CATALOG:
            raise KeyError(f"unknown message code {code!r}")
        return cls(code, {name: _store(value) for name, value in params.items()})

    @classmethod
    def text(cls, text: str) -> Message:
        """A text shown as it is (a downstream system's words, not ours to translate)."""
        return cls(TEXT, {TEXT: text})

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any] | None, fallback: str = "") -> Message:
        if not stored or "code" not in stored:
            return cls.text(fallback)
        return cls(str(stored["code"]), dict(stored.get("params") or {}))

    def map_text(self, function: Callable[[str], str]) -> Message:
        """A copy with ``function`` applied to every text parameter (redaction), nested ones too."""

        def mapped(value: Any) -> Any:
            if isinstance(value, str):
                return function(value)
            if isinstance(value, dict) and "code" in value:
                return Message.from_stored(value).map_text(function).as_stored()
            return value

        return Message(self.code, {name: mapped(value) for name, value in self.params.items()})

    def as_stored(self) -> dict[str, Any]:
        return {"code": self.code, "params": self.params}

    def render(self, language: str | None = None) -> str:
        """The text in ``language``, or in the active language (the request's, or LANGUAGE_CODE)."""
        if language is not None:
            with override(language):
                return self.render()
        template = CATALOG.get(self.code)
        if template is None:
            return str(self.params.get(TEXT, self.code))
        values = {name: _render_param(value) for name, value in self.params.items()}
        try:
            return str(template) % values
        except (KeyError, TypeError, ValueError):
            # A stored row from a version whose parameters differed: show what it has.
            return f"{template} {values}"

    def __str__(self) -> str:
        return self.render()


def render_stored(stored: Mapping[str, Any] | None, fallback: str = "") -> str:
    """A stored message in the active language; ``fallback`` (the stored text) when none."""
    if not stored:
        return fallback
    return Message.from_stored(stored, fallback).render()
