"""OpenAPI: document ``Authorization: Token <key>`` as DRF's TokenAuthentication was."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api_clients.authentication.ApiKeyAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Authorization: Token <key>` with the key create_api_token (or `make run`) "
            'printed. In Swagger UI\'s Authorize box paste the key as printed; the prefix "Token " is '
            "added when missing.",
        }
