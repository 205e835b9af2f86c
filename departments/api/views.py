from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.exceptions import ValidationError

from account_creation.api.schema import ErrorDocumentingAutoSchema
from departments.api.serializers import DepartmentMappingSerializer
from departments.models import DepartmentMapping


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
    }

    def get_queryset(self) -> Any:
        queryset = DepartmentMapping.objects.order_by("idata_departmentcode")
        params = self.request.query_params
        for name in ("idata_departmentcode", "search"):
            value = params.get(name, "")
            # PostgreSQL refuses NUL in text: answer 400 instead of a database error.
            if any(ord(ch) < 32 for ch in value) or len(value) > 200:
                raise ValidationError({name: ["Give printable text of at most 200 characters."]})
        if code := params.get("idata_departmentcode"):
            queryset = queryset.filter(idata_departmentcode=code)
        if term := params.get("search"):
            queryset = queryset.filter(idata_departmentcode__icontains=term) | queryset.filter(
                department_name__icontains=term
            )
        return queryset
