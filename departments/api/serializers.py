from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from departments.models import DepartmentMapping

STRING_FIELDS = ("idata_departmentcode", "idaas_departmentcode", "department_name", "ou")


class DepartmentMappingSerializer(serializers.ModelSerializer):
    def to_internal_value(self, data: Any) -> Any:
        # DRF's CharField turns 12345 into "12345"; a number where a code or an OU belongs
        # is a client bug, answered 400 like the intake does.
        if isinstance(data, Mapping):
            wrong = {
                name: ["Must be a string."]
                for name in STRING_FIELDS
                if data.get(name) is not None and not isinstance(data.get(name), str)
            }
            if wrong:
                raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)

    class Meta:
        model = DepartmentMapping
        fields = [
            "id",
            "idata_departmentcode",
            "idaas_departmentcode",
            "department_name",
            "ou",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
