"""Account type mappings, and the bundled values that let the replaced system's published
example request through unchanged (employeeType "1", accountType "供应商"); employee types'
descriptions in both languages ("正式员工 / regular employee"). All editable in the admin."""

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models


# employee_type, description, IDaaS userType, WeLink personType
EMPLOYEE_TYPES = [
    ("1", "正式员工 / regular employee", "employee", "正式员工"),
    ("S", "供应商人员 / supplier staff", "supplier", "供应商"),
]
# The bundled types' descriptions, old -> new (only rows an operator has not edited change).
DESCRIPTIONS = {
    "正式员工 Regular employee": "正式员工 / regular employee",
    "外包人员 Outsourced staff": "外包人员 / outsourced staff",
    "实习生 Intern": "实习生 / intern",
    "外部顾问 Contractor": "外部顾问 / contractor",
}
# accountType as sent, stored category, employee type that applies instead (or ""), description
ACCOUNT_TYPES = [
    ("personal", "personal", "", "个人账号 / personal account"),
    ("个人", "personal", "", "个人账号 / personal account"),
    ("供应商", "supplier", "S", "供应商账号 / supplier account"),
    ("supplier", "supplier", "S", "供应商账号 / supplier account"),
]


def add_defaults(apps, schema_editor):
    employee_type = apps.get_model("departments", "EmployeeTypeMapping")
    for code, description, user_type, person_type in EMPLOYEE_TYPES:
        employee_type.objects.get_or_create(
            employee_type=code,
            defaults={"description": description, "idaas_user_type": user_type, "welink_person_type": person_type},
        )
    for old, new in DESCRIPTIONS.items():
        employee_type.objects.filter(description=old).update(description=new)
    account_type = apps.get_model("departments", "AccountCategoryMapping")
    for value, category, applies, description in ACCOUNT_TYPES:
        account_type.objects.get_or_create(
            account_type=value,
            defaults={"category": category, "employee_type": applies, "description": description},
        )


def remove_defaults(apps, schema_editor):
    employee_type = apps.get_model("departments", "EmployeeTypeMapping")
    employee_type.objects.filter(employee_type__in=[row[0] for row in EMPLOYEE_TYPES]).delete()
    for old, new in DESCRIPTIONS.items():
        employee_type.objects.filter(description=new).update(description=old)


class Migration(migrations.Migration):

    dependencies = [
        ('departments', '0004_history_baseline'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AccountCategoryMapping',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('account_type', models.CharField(help_text='The value the OA system sends as accountType, e.g. 供应商.', max_length=32, unique=True)),
                ('category', models.CharField(help_text='The account category stored on the request and its tasks, e.g. supplier.', max_length=32)),
                ('employee_type', models.CharField(blank=True, help_text="When set, this employee type applies instead of the request's employeeType (e.g. S).", max_length=32)),
                ('description', models.CharField(blank=True, max_length=100)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'verbose_name': 'account type mapping',
                'ordering': ['account_type'],
            },
        ),
        migrations.CreateModel(
            name='HistoricalAccountCategoryMapping',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('account_type', models.CharField(db_index=True, help_text='The value the OA system sends as accountType, e.g. 供应商.', max_length=32)),
                ('category', models.CharField(help_text='The account category stored on the request and its tasks, e.g. supplier.', max_length=32)),
                ('employee_type', models.CharField(blank=True, help_text="When set, this employee type applies instead of the request's employeeType (e.g. S).", max_length=32)),
                ('description', models.CharField(blank=True, max_length=100)),
                ('created_at', models.DateTimeField(blank=True, editable=False)),
                ('updated_at', models.DateTimeField(blank=True, editable=False)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical account type mapping',
                'verbose_name_plural': 'historical account type mappings',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.RunPython(add_defaults, remove_defaults),
    ]
