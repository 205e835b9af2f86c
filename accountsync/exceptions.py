"""One place that maps domain errors and infrastructure trouble to HTTP answers."""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from accountsync.errors import ConflictError, DomainError, IntakeRejected
from accountsync.middleware import DATABASE_UNAVAILABLE

__all__ = ["ConflictError", "DomainError", "IntakeRejected", "api_exception_handler"]

logger = logging.getLogger(__name__)


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
    if isinstance(exc, OperationalError | InterfaceError):
        logger.error("database unavailable error=%s", type(exc).__name__)
        return Response({"detail": DATABASE_UNAVAILABLE}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    return exception_handler(exc, context)
