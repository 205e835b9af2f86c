"""A first history entry ("+", no user) for every mapping that existed before history was
kept, so the first later change shows what it changed from."""

from django.db import migrations
from django.utils import timezone

REASON = "history baseline: the value when change history was enabled"
FIELDS = {
    "DepartmentMapping": (
        "id", "idata_departmentcode", "idaas_departmentcode", "department_name", "ou", "is_active",
        "created_at", "updated_at",
    ),
    "EmployeeTypeMapping": (
        "id", "employee_type", "description", "idaas_user_type", "welink_person_type", "email_domain",
        "created_at", "updated_at",
    ),
}


def add_baseline(apps, schema_editor):
    now = timezone.now()
    for name, fields in FIELDS.items():
        model = apps.get_model("departments", name)
        historical = apps.get_model("departments", f"Historical{name}")
        recorded = set(historical.objects.values_list("id", flat=True))
        historical.objects.bulk_create(
            [
                historical(
                    **{field: getattr(row, field) for field in fields},
                    history_date=now,
                    history_type="+",
                    history_change_reason=REASON,
                )
                for row in model.objects.order_by("pk").iterator()
                if row.pk not in recorded
            ],
            batch_size=500,
        )


def remove_baseline(apps, schema_editor):
    for name in FIELDS:
        apps.get_model("departments", f"Historical{name}").objects.filter(history_change_reason=REASON).delete()


class Migration(migrations.Migration):
    dependencies = [("departments", "0003_mapping_history")]
    operations = [migrations.RunPython(add_baseline, remove_baseline)]
