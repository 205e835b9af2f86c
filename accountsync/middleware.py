"""Answer 503 with a clear message, not a traceback, while the database is unreachable; answer
the API's unknown paths in JSON, as the rest of the API does; and choose the language of an
answer from Accept-Language as the contract says."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation.trans_real import parse_accept_lang_header

logger = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = gettext_lazy(
    "The database is unavailable. Nothing was written; retry the request in a moment. "
    "If this persists, ask the operators to check the database server."
)


API_PREFIXES = ("/account-creation/", "/department-mappings/")

# Simplified Chinese for zh, zh-CN, zh-Hans (zh-Hans-CN and the like too); Traditional Chinese
# (zh-TW, zh-HK, zh-Hant) is not what the catalog holds, so it is not taken for it.
SIMPLIFIED_CHINESE = frozenset({"zh", "zh-cn", "zh-hans"})


def accept_language(header: str) -> str | None:
    """The language of settings.LANGUAGES an Accept-Language header asks for: the first of its
    languages (by preference) that is Simplified Chinese or English; English when it names
    languages but none of those; None when it names none (no header, only ``*``), so
    LANGUAGE_CODE decides."""
    named = False
    for code, _quality in parse_accept_lang_header(header):
        if code == "*":
            continue
        named = True
        code = code.lower()
        if code in SIMPLIFIED_CHINESE or code.startswith("zh-hans-"):
            return "zh-hans"
        if code == "en" or code.startswith("en-"):
            return "en"
    return "en" if named else None


class ContractLocaleMiddleware(LocaleMiddleware):
    """Django's LocaleMiddleware (Vary and Content-Language on every answer), choosing the
    language by :func:`accept_language`. Django's own choice would take zh-TW or zh-Hant for
    zh-hans (same generic language) and an unknown language for LANGUAGE_CODE."""

    def process_request(self, request: HttpRequest) -> None:
        language = accept_language(request.META.get("HTTP_ACCEPT_LANGUAGE", ""))
        translation.activate(language or translation.get_supported_language_variant(settings.LANGUAGE_CODE))
        request.LANGUAGE_CODE = translation.get_language()


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
