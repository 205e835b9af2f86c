"""The API docs: the OpenAPI document (/api/schema/) and Swagger UI (/api/docs/).

The document describes every endpoint, so outside development it needs an API token of any
scope (``API_DOCS_PUBLIC``, default: ``DEBUG``). The Swagger UI page is always served: it holds
no API description, only Swagger UI and its start-up script, which loads the document and,
when that needs a token, offers the Authorize button for ``Token <key>`` and loads the document
with it. The start-up script and style are inline, allowed by the request's CSP nonce.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny, BasePermission

from api_clients.authentication import ApiKeyAuthentication

DOCS_ACCESS_MESSAGE = gettext_lazy(
    "The API document needs an API token: send Authorization: Token <key> (any scope; an operator "
    "creates one with python manage.py create_api_token NAME …), or set API_DOCS_PUBLIC=true."
)


class ApiDocsAccess(BasePermission):
    """Anyone when ``API_DOCS_PUBLIC`` is true; otherwise a caller with a valid API token."""

    message = DOCS_ACCESS_MESSAGE

    def has_permission(self, request: Any, view: Any) -> bool:
        if settings.API_DOCS_PUBLIC:
            return True
        user = request.user
        return bool(user is not None and user.is_authenticated)


class ApiSchemaView(SpectacularAPIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [ApiDocsAccess]

    def permission_denied(self, request: Any, message: str | None = None, code: str | None = None) -> NoReturn:
        if request.authenticators and not request.successful_authenticator:
            raise NotAuthenticated(DOCS_ACCESS_MESSAGE)  # 401, saying how to get in
        super().permission_denied(request, message=message, code=code)


class SwaggerUIView(SpectacularSwaggerView):
    """drf-spectacular's Swagger UI with our page: nonce-carrying inline script and style, and
    an Authorize button that works before the document could be loaded."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    template_name = "api_docs/swagger_ui.html"
    template_name_js = "api_docs/swagger_ui.js"

    @extend_schema(exclude=True)
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        from drf_spectacular.extensions import OpenApiAuthenticationExtension
        from drf_spectacular.openapi import AutoSchema

        response = super().get(request, *args, **kwargs)
        # The document's security scheme for Token keys (api_clients/schema.py), so the page can
        # offer Authorize before it has the document.
        scheme = OpenApiAuthenticationExtension.get_match(ApiKeyAuthentication)
        assert scheme is not None  # noqa: S101 - api_clients.apps registers it
        response.data.update(
            auth_name=json.dumps(scheme.name),
            security_scheme=json.dumps(scheme.get_security_definition(AutoSchema())),
        )
        return response

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:  # type: ignore[override]
        # DRF's answer (metadata rendered by the HTML template renderer) would be a 500.
        return HttpResponse(status=200, headers={"Allow": ", ".join(self.allowed_methods)})
