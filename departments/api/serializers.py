from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext
from rest_framework import serializers

from departments.models import DepartmentMapping

STRING_FIELDS = ("idata_departmentcode", "idaas_departmentcode", "department_name", "ou")


class DepartmentMappingSerializer(serializers.ModelSerializer):
    def to_internal_value(self, data: Any) -> Any:
        # DRF's CharField turns 12345 into "12345"; a number where a code or an OU belongs
        # is a client bug, answered 400 like the intake does.
        if isinstance(data, Mapping):
            wrong = {
                name: [gettext("Must be a string.")]
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


class FieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The field's name, as in the mapping's JSON.")
    old = serializers.JSONField(allow_null=True, help_text="The value before (null: the entry created it).")
    new = serializers.JSONField(allow_null=True, help_text="The value after (null: the entry deleted it).")


class MappingHistoryEntrySerializer(serializers.Serializer):
    """One change of a mapping: who, when, what kind, and each field's before and after."""

    history_id = serializers.IntegerField()
    history_date = serializers.DateTimeField()
    history_type = serializers.ChoiceField(
        choices=[("+", "created"), ("~", "changed"), ("-", "deleted")],
        help_text="+ created, ~ changed, - deleted.",
    )
    history_user = serializers.CharField(
        allow_null=True,
        help_text="Username of who made the change: the API client's service user, or the admin's "
        "staff user; null for the CSV loader, migrations and other commands.",
    )
    history_change_reason = serializers.CharField(
        allow_null=True, help_text="Why, when recorded (e.g. 'load_department_mappings <file>')."
    )
    changes = FieldChangeSerializer(many=True)
