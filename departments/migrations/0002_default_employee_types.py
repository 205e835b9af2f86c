"""Bundled employee-type mappings (editable in the admin afterwards)."""

from django.db import migrations

DEFAULTS = [
    # employee_type, description, IDaaS userType, WeLink personType
    ("W", "正式员工 Regular employee", "employee", "正式员工"),
    ("O", "外包人员 Outsourced staff", "supplier", "外包"),
    ("I", "实习生 Intern", "intern", "实习生"),
    ("C", "外部顾问 Contractor", "contractor", "顾问"),
    ("10", "正式员工 Regular employee", "employee", "正式员工"),
    ("11", "外包人员 Outsourced staff", "supplier", "外包"),
    ("12", "实习生 Intern", "intern", "实习生"),
    ("13", "外部顾问 Contractor", "contractor", "顾问"),
]


def add_defaults(apps, schema_editor):
    mapping = apps.get_model("departments", "EmployeeTypeMapping")
    for code, description, user_type, person_type in DEFAULTS:
        mapping.objects.get_or_create(
            employee_type=code,
            defaults={
                "description": description,
                "idaas_user_type": user_type,
                "welink_person_type": person_type,
            },
        )


def remove_defaults(apps, schema_editor):
    mapping = apps.get_model("departments", "EmployeeTypeMapping")
    mapping.objects.filter(employee_type__in=[row[0] for row in DEFAULTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("departments", "0001_initial")]
    operations = [migrations.RunPython(add_defaults, remove_defaults)]
