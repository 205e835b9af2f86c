"""One place that maps domain errors and infrastructure trouble to HTTP answers."""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from accountsync.errors import ConflictError, DomainError
from accountsync.middleware import DATABASE_UNAVAILABLE

__all__ = ["ConflictError", "DomainError", "api_exception_handler"]

logger = logging.getLogger(__name__)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    if isinstance(exc, OperationalError | InterfaceError):
        logger.error("database unavailable error=%s", type(exc).__name__)
        return Response({"detail": DATABASE_UNAVAILABLE}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    return exception_handler(exc, context)
