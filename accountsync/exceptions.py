"""One place that maps domain errors and infrastructure trouble to HTTP answers."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from rest_framework import status
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.response import Response
from rest_framework.views import exception_handler

from accountsync.errors import ConflictError, DomainError, IntakeRejected
from accountsync.messages import Message, register, translatable
from accountsync.middleware import DATABASE_UNAVAILABLE

__all__ = ["ConflictError", "DomainError", "IntakeRejected", "api_exception_handler", "parse_error_message"]

logger = logging.getLogger(__name__)

# A body the JSON parser refused, in the reader's language. The parser's own words are English
# (Python's json module, through DRF's ParseError): the known ones are said again in our words,
# the position travels as numbers, anything else is left out rather than shown in English.
BODY = {
    "body.invalid_json": _("The body is not valid JSON: %(detail)s"),
    "body.invalid_json_plain": _("The body is not valid JSON."),
    "body.json_error_at": _("%(reason)s at line %(line)s, column %(column)s."),
    "body.json_position": _("the error is at line %(line)s, column %(column)s."),
    "body.not_text": _("it is not text in its charset (UTF-8 unless Content-Type names another)."),
    "body.json_constant": _("NaN and Infinity are not JSON numbers."),
    "body.charset_unsupported": _("Unsupported charset '%(charset)s' in the Content-Type header; send UTF-8."),
}
register(BODY)

# Django's own 404 (a lookup that found no row) names the model class: say it as the product does.
NOT_FOUND = _(
    "Not found: nothing with this id is visible to this API client. Check the id in the URL (tasks and "
    "requests of other origin systems are not shown to this client)."
)

JSON_REASONS = {
    "Expecting value": gettext_noop("a value is missing"),
    "Expecting property name enclosed in double quotes": gettext_noop("a property name in double quotes is missing"),
    "Expecting ':' delimiter": gettext_noop("':' is missing"),
    "Expecting ',' delimiter": gettext_noop("',' is missing"),
    "Extra data": gettext_noop("unexpected text after the JSON value"),
    "Unterminated string starting at": gettext_noop("a string that is never closed"),
    "Invalid control character at": gettext_noop("a control character that is not escaped"),
    "Invalid \\escape": gettext_noop("an invalid escape"),
    "Invalid \\uXXXX escape": gettext_noop("an invalid \\uXXXX escape"),
}
_JSON_ERROR = re.compile(
    r"^JSON parse error - (?P<reason>.*?)(?:: line (?P<line>\d+) column (?P<column>\d+) \(char \d+\))?$", re.S
)
_CHARSET_ERROR = re.compile(r'^Unsupported charset "(?P<charset>.*)" in request Content-Type header\.$', re.S)


def parse_error_message(detail: Any) -> Message:
    """What a ParseError's detail says, as a message of ours (so it reads in each language)."""
    text = str(detail)
    charset = _CHARSET_ERROR.match(text)
    if charset:
        return Message.of("body.charset_unsupported", charset=charset["charset"][:40])
    found = _JSON_ERROR.match(text)
    if not found:
        return Message.of("body.invalid_json_plain")
    reason, line, column = found["reason"], found["line"], found["column"]
    if line is not None and reason in JSON_REASONS:
        detail_message = Message.of(
            "body.json_error_at", reason=translatable(JSON_REASONS[reason]), line=int(line), column=int(column)
        )
    elif line is not None:
        detail_message = Message.of("body.json_position", line=int(line), column=int(column))
    elif "codec can't decode" in reason:
        detail_message = Message.of("body.not_text")
    elif reason.startswith("Out of range float values"):
        detail_message = Message.of("body.json_constant")
    else:
        return Message.of("body.invalid_json_plain")
    return Message.of("body.invalid_json", detail=detail_message)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, IntakeRejected):
        # The create_accounts answer shape, with nothing created (compatible with the
        # system this replaces): field-level errors, no tasks.
        body = {
            "success": False,
            "created_tasks": 0,
            "replayed": False,
            "errors": exc.errors,
            "warnings": [],
            "tasks": [],
        }
        return Response(body, status=exc.status_code)
    if isinstance(exc, DomainError):
        return Response({"detail": str(exc.message), "code": exc.code}, status=exc.status_code)
    if isinstance(exc, ParseError):
        # DRF's own detail is the parser's English: say it in the caller's language.
        return Response(
            {"detail": str(parse_error_message(exc.detail)), "code": "parse_error"}, status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, OperationalError | InterfaceError):
        logger.error("database unavailable error=%s", type(exc).__name__)
        return Response({"detail": DATABASE_UNAVAILABLE}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    if isinstance(exc, Http404):
        # get_object_or_404's text is "No AccountCreationTask matches the given query.", in English.
        exc = NotFound(NOT_FOUND)
    return exception_handler(exc, context)
