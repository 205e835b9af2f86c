"""Logging helpers: a filter that redacts secrets and keeps every record on one line.

Values from outside (a ``businessKey``, a name, a downstream message) may hold line breaks
or other invisible characters; written as they are, they could forge a log line or hide
part of one. :func:`escape_control` writes control characters (``Cc``), format characters
(``Cf``: zero-width and bidirectional controls), line and paragraph separators (``Zl``,
``Zp``: U+2028, U+2029) and lone surrogates as backslash escapes (``\\n``, ``\\r``,
``\\t``, ``\\x85``, ``\\u2028``). :func:`kv` escapes each value; :class:`RedactSecretsFilter`,
configured on both handlers of ``settings.LOGGING``, escapes the whole message and folds a
record's traceback into it, so one record is always one line of the log.

A backslash itself is not doubled, so escaping is idempotent (a record passing both
handlers' filters is escaped once); a literal ``\\n`` typed by a client therefore reads like
an escaped line break, but can never start a new line.
"""

from __future__ import annotations

import logging
import unicodedata

from accountsync.redaction import redact_text

_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _escape_char(char: str) -> str:
    named = _NAMED_ESCAPES.get(char)
    if named:
        return named
    if unicodedata.category(char) not in _ESCAPED_CATEGORIES:
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape_control(text: str) -> str:
    """``text`` with control, format and line/paragraph-separator characters escaped."""
    if text.isprintable():  # the common case: nothing to escape
        return text
    return "".join(_escape_char(char) for char in text)


class RedactSecretsFilter(logging.Filter):
    """Replace known secrets and escape control characters in the message and traceback.

    The traceback (and stack) text is redacted, escaped and appended to the message, so the
    formatter prints one line per record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            return True
        cleaned = escape_control(redact_text(message))
        extra_parts = []
        if record.exc_info and record.exc_info[1] is not None:
            # Format the traceback now so the redacted text is what handlers print.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            extra_parts.append(record.exc_text)
            record.exc_text = None
        if record.stack_info:
            extra_parts.append(record.stack_info)
            record.stack_info = None
        for part in extra_parts:
            cleaned = f"{cleaned} | {escape_control(redact_text(part))}"
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def kv(**context: object) -> str:
    """Render structured context as key=value pairs for a log message (values escaped)."""
    parts = []
    for key, value in context.items():
        text = escape_control(str(value))
        if " " in text or "=" in text or not text:
            text = '"' + text.replace('"', "'") + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


class ZonedFormatter(logging.Formatter):
    """``asctime`` in ``settings.TIME_ZONE`` with its offset (``2026-11-02T14:00:00.123+08:00``),
    so a log line says which clock it uses, whatever the host's zone is."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging API
        from datetime import datetime
        from zoneinfo import ZoneInfo

        from django.conf import settings

        moment = datetime.fromtimestamp(record.created, tz=ZoneInfo(settings.TIME_ZONE))
        if datefmt:
            return moment.strftime(datefmt)
        return moment.isoformat(timespec="milliseconds")
