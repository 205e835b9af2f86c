
from collections import Counter

import django.db.models.deletion
from django.db import migrations, models


def backfill(apps, schema_editor):
    """Requests accepted before this table recorded their reused tasks in their warnings."""
    Request = apps.get_model("account_creation", "AccountCreationRequest")
    Task = apps.get_model("account_creation", "AccountCreationTask")
    RequestReuse = apps.get_model("account_creation", "RequestReuse")
    links = []
    for pk, warnings in Request.objects.exclude(warnings=[]).values_list("pk", "warnings").iterator():
        for warning in warnings or []:
            if isinstance(warning, dict) and isinstance(warning.get("reusedTaskId"), int):
                links.append((pk, warning["reusedTaskId"]))
    existing = set(Task.objects.filter(pk__in={task for _, task in links}).values_list("pk", flat=True))
    kept = {(request, task) for request, task in links if task in existing}
    RequestReuse.objects.bulk_create(
        [RequestReuse(request_id=request, task_id=task) for request, task in kept],
        batch_size=1000, ignore_conflicts=True,
    )
    per_request = Counter(request for request, _ in kept)
    for request, count in per_request.items():
        Request.objects.filter(pk=request).update(reused_tasks=count)


class Migration(migrations.Migration):

    dependencies = [
        ('account_creation', '0012_quarantine_reason_data'),
    ]

    operations = [
        migrations.CreateModel(
            name='RequestReuse',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('request', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reuses', to='account_creation.accountcreationrequest', verbose_name='request')),
                ('task', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='reused_by', to='account_creation.accountcreationtask', verbose_name='task')),
            ],
            options={
                'verbose_name': 'reused task',
                'verbose_name_plural': 'reused tasks',
                'indexes': [models.Index(fields=['task'], name='reuse_task_idx')],
                'constraints': [models.UniqueConstraint(fields=('request', 'task'), name='uniq_reuse_request_task')],
            },
        ),
        migrations.AddField(
            model_name='accountcreationrequest',
            name='reused_tasks',
            field=models.PositiveIntegerField(default=0, help_text='Tasks of earlier requests this one reused (fixed at intake).', verbose_name='reused tasks'),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
