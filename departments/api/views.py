from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from account_creation.api.schema import ErrorDocumentingAutoSchema
from departments.api.serializers import DepartmentMappingSerializer, MappingHistoryEntrySerializer
from departments.history import entries, history_of, tracked_fields
from departments.models import DepartmentMapping

MAX_ID = 2**63 - 1


def _mapping_id(pk: str | None) -> int:
    """The id in the URL, or 404 (not a 500) for text, signs, non-ASCII digits, overflow."""
    if pk is None or not (pk.isascii() and pk.isdigit()) or len(pk) > 19 or not 0 < int(pk) <= MAX_ID:
        raise NotFound(gettext("No department mapping has this id."))
    return int(pk)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("idata_departmentcode", str, description="Exact OA/HR code."),
            OpenApiParameter("search", str, description="Part of the code or name."),
        ]
    )
)
class DepartmentMappingViewSet(viewsets.ModelViewSet):
    """Department mappings: OA/HR code -> IDaaS/WeLink code and AD OU."""

    serializer_class = DepartmentMappingSerializer
    schema = ErrorDocumentingAutoSchema()
    # Reading needs `read`, writing `mappings` (api_clients.access.ScopePermission).
    required_scopes = {
        "list": "read",
        "retrieve": "read",
        "create": "mappings",
        "update": "mappings",
        "partial_update": "mappings",
        "destroy": "mappings",
        "history": "read",
    }

    def perform_create(self, serializer: Any) -> None:
        super().perform_create(serializer)
        self._release_waiting()

    def perform_update(self, serializer: Any) -> None:
        super().perform_update(serializer)
        self._release_waiting()

    def _release_waiting(self) -> None:
        from account_creation.services.waiting import tasks_release_waiting

        # Answered in a header: the mapping's own representation stays as it was.
        self.released_tasks = tasks_release_waiting()

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(self, "released_tasks", None) is not None:
            response["X-Released-Tasks"] = str(self.released_tasks)
        return response

    def get_queryset(self) -> Any:
        queryset = DepartmentMapping.objects.order_by("idata_departmentcode")
        params = self.request.query_params
        for name in ("idata_departmentcode", "search"):
            value = params.get(name, "")
            # PostgreSQL refuses NUL in text: answer 400 instead of a database error.
            if any(ord(ch) < 32 for ch in value) or len(value) > 200:
                raise ValidationError({name: [gettext("Give printable text of at most 200 characters.")]})
        if code := params.get("idata_departmentcode"):
            queryset = queryset.filter(idata_departmentcode=code)
        if term := params.get("search"):
            queryset = queryset.filter(idata_departmentcode__icontains=term) | queryset.filter(
                department_name__icontains=term
            )
        return queryset

    @extend_schema(
        responses=MappingHistoryEntrySerializer(many=True),
        description="Who changed this mapping, when, and each field's value before and after, "
        "newest first (also after the mapping was deleted). `history_type`: + created, "
        "~ changed, - deleted; `history_user`: the API client's service user or the admin's "
        "staff user, null for the CSV loader and other commands.",
    )
    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk: str | None = None) -> Response:
        mapping_id = _mapping_id(pk)
        records = history_of(DepartmentMapping, mapping_id)
        if not records.exists() and not DepartmentMapping.objects.filter(pk=mapping_id).exists():
            raise NotFound(gettext("No department mapping has this id, and none had it."))
        page = self.paginate_queryset(records)
        rows = entries(records, page if page is not None else list(records), tracked_fields(DepartmentMapping))
        data = MappingHistoryEntrySerializer(rows, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)
