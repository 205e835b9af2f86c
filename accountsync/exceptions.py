"""One place that maps domain errors and infrastructure trouble to HTTP answers."""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from accountsync.middleware import DATABASE_UNAVAILABLE

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A rule of the domain refused the operation; ``status_code`` says how to answer."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code


class ConflictError(DomainError):
    status_code: int = status.HTTP_409_CONFLICT
    code = "conflict"


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    if isinstance(exc, OperationalError | InterfaceError):
        logger.error("database unavailable error=%s", type(exc).__name__)
        return Response({"detail": DATABASE_UNAVAILABLE}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    return exception_handler(exc, context)
