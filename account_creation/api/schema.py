"""The OpenAPI document lists the error answers every operation can give, not only success.

Schemathesis (tests/security/test_schemathesis.py) found operations answering 400, 401 and
404 where the document promised only 200/201: a client generated from it had no type for
them. This schema class adds, where the view did not declare its own:

* 400 for operations with a body or query parameters (validation errors, by field),
* 401 everywhere (missing or bad token), 429 (throttled), 503 (database unavailable),
* 404 for operations on one object, and for paginated lists (a page that does not exist).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    "Error",
    {
        "detail": serializers.CharField(help_text="What went wrong, for a person to read."),
        "code": serializers.CharField(required=False),
    },
)
# Field name -> list of messages ('non_field_errors' for the whole body); or {"detail": …}.
ValidationErrorSerializer = OpenApiTypes.OBJECT

ERRORS = {
    "401": OpenApiResponse(ErrorSerializer, "Missing or invalid 'Authorization: Token <key>'."),
    "429": OpenApiResponse(ErrorSerializer, "Too many requests for this client; retry after 'Retry-After'."),
    "503": OpenApiResponse(ErrorSerializer, "The database is unavailable; nothing was written, retry later."),
}


class ErrorDocumentingAutoSchema(AutoSchema):
    def get_operation(self, *args: Any, **kwargs: Any) -> Any:
        operation = super().get_operation(*args, **kwargs)
        for parameter in (operation or {}).get("parameters", []):
            # An empty filter (?status=) means "no filter", an empty ?page= the first page:
            # deliberate, compatible with the OA clients; say so in the document.
            if parameter.get("in") == "query":
                parameter["allowEmptyValue"] = True
        return operation

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        extra: dict[str, OpenApiResponse] = dict(ERRORS)
        has_body = self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None
        if has_body or self._is_list_view() or self.get_override_parameters():
            extra["400"] = OpenApiResponse(ValidationErrorSerializer, "Invalid input; nothing was written.")
        if "{" in self.path or self._is_list_view():
            extra["404"] = OpenApiResponse(ErrorSerializer, "No such object, or no such page of the list.")
        for code, response in extra.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response.response, code, direction=direction)
                responses[code]["description"] = response.description
        return responses
