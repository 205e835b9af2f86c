"""Logging helpers: a filter that redacts secrets from every record."""

from __future__ import annotations

import logging

from accountsync.redaction import redact_text


class RedactSecretsFilter(logging.Filter):
    """Replace known secret values in the formatted message and the traceback text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            # Format the traceback now so the redacted text is what handlers print.
            formatter = logging.Formatter()
            record.exc_text = redact_text(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True


def kv(**context: object) -> str:
    """Render structured context as key=value pairs for a log message."""
    parts = []
    for key, value in context.items():
        text = str(value)
        if " " in text or "=" in text or not text:
            text = '"' + text.replace('"', "'") + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)
