"""Messages as ids: a task's last error and an attempt's error as code and parameters (issue #15).

Numbered 0008: 0006 and 0007 are taken by concurrent work; the merge rewires the dependency."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('account_creation', '0006_requests_cancel_priority'),
    ]

    operations = [
        migrations.AddField(
            model_name='accountcreationlog',
            name='error_data',
            field=models.JSONField(blank=True, help_text='error_message as code and parameters.', null=True),
        ),
        migrations.AddField(
            model_name='accountcreationtask',
            name='last_error_data',
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='accountcreationtask',
            name='last_error',
            field=models.TextField(blank=True, help_text='The last error, as text in LANGUAGE_CODE.'),
        ),
    ]
