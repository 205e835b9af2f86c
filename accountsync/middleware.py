"""Answer 503 with a clear message, not a traceback, while the database is unreachable; and
answer the API's unknown paths in JSON, as the rest of the API does."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext, gettext_lazy

logger = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = gettext_lazy(
    "The database is unavailable. Nothing was written; retry the request in a moment. "
    "If this persists, ask the operators to check the database server."
)


API_PREFIXES = ("/account-creation/", "/department-mappings/")


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # A path the URL patterns do not match (e.g. /department-mappings/0.5/) gets Django's
        # HTML 404 page; API clients, and the OpenAPI document, expect JSON there too.
        if (
            response.status_code == 404
            and request.path.startswith(API_PREFIXES)
            and response.get("Content-Type", "").startswith("text/html")
        ):
            return JsonResponse({"detail": gettext("Not found.")}, status=404)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            text = gettext("The request body is larger than %(limit)s bytes; nothing was written.")
            return JsonResponse({"detail": text % {"limit": limit}}, status=413)
        if isinstance(exception, OperationalError | InterfaceError):
            logger.error("database unavailable path=%s error=%s", request.path, type(exception).__name__)
            return JsonResponse({"detail": DATABASE_UNAVAILABLE}, status=503)
        return None
