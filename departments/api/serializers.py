from __future__ import annotations

from rest_framework import serializers

from departments.models import DepartmentMapping


class DepartmentMappingSerializer(serializers.ModelSerializer):
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
