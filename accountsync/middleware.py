"""Answer 503 with a clear message, not a traceback, while the database is unreachable."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = (
    "The database is unavailable. Nothing was written; retry the request in a moment. "
    "If this persists, ask the operators to check the database server."
)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OperationalError | InterfaceError):
            logger.error("database unavailable path=%s error=%s", request.path, type(exception).__name__)
            return JsonResponse({"detail": DATABASE_UNAVAILABLE}, status=503)
        return None
