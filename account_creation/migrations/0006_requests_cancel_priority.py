"""Requests as resources (requestId), cancellation (a final status) and priority.

The request id is added nullable, filled for existing requests, then made unique: a
callable default on a new unique column would give every existing row the same value.
"""

import django.db.models.deletion
from django.db import migrations, models

import account_creation.models


def fill_request_ids(apps, schema_editor):
    Request = apps.get_model("account_creation", "AccountCreationRequest")
    for pk in Request.objects.filter(request_id__isnull=True).values_list("pk", flat=True).iterator():
        Request.objects.filter(pk=pk).update(request_id=account_creation.models.new_request_id())


class Migration(migrations.Migration):

    dependencies = [
        ('account_creation', '0005_account_types_from_registry'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='accountcreationtask',
            name='task_status_valid',
        ),
        migrations.RemoveIndex(
            model_name='accountcreationtask',
            name='task_claim_idx',
        ),
        migrations.AddField(
            model_name='accountcreationrequest',
            name='priority',
            field=models.PositiveSmallIntegerField(choices=[(0, 'high'), (1, 'normal')], default=1),
        ),
        migrations.AddField(
            model_name='accountcreationrequest',
            name='request_id',
            field=models.CharField(editable=False, help_text="The API's requestId: opaque, answered by create_accounts and its replays.", max_length=40, null=True),
        ),
        migrations.AddField(
            model_name='accountcreationrequest',
            name='cancelled_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='accountcreationrequest',
            name='cancelled_by',
            field=models.CharField(blank=True, help_text='Who cancelled it (API client or staff user).', max_length=150),
        ),
        migrations.RunPython(fill_request_ids, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name='accountcreationrequest',
            name='request_id',
            field=models.CharField(default=account_creation.models.new_request_id, editable=False, help_text="The API's requestId: opaque, answered by create_accounts and its replays.", max_length=40, unique=True),
        ),
        migrations.AddField(
            model_name='accountcreationtask',
            name='priority',
            field=models.PositiveSmallIntegerField(choices=[(0, 'high'), (1, 'normal')], default=1, help_text='Due high tasks are claimed first.'),
        ),
        migrations.AlterField(
            model_name='accountcreationtask',
            name='request',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='tasks', to='account_creation.accountcreationrequest'),
        ),
        migrations.AlterField(
            model_name='accountcreationtask',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending'), ('processing', 'Processing'), ('completed', 'Completed'), ('failed', 'Failed'), ('blocked', 'Blocked'), ('cancelled', 'Cancelled')], default='pending', max_length=16),
        ),
        migrations.AddIndex(
            model_name='accountcreationtask',
            index=models.Index(fields=['status', 'priority', 'sequence', 'id'], name='task_claim_idx'),
        ),
        migrations.AddIndex(
            model_name='accountcreationtask',
            index=models.Index(fields=['request', 'status'], name='task_request_idx'),
        ),
        migrations.AddConstraint(
            model_name='accountcreationtask',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'processing', 'completed', 'failed', 'blocked', 'cancelled'])), name='task_status_valid'),
        ),
    ]
