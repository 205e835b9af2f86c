from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("account_creation", "0008_messages"),
    ]

    operations = [
        migrations.AddField(
            model_name="accountcreationtask",
            name="waiting_for",
            field=models.JSONField(
                blank=True,
                help_text="Configuration the task waits for (code and parameters, e.g. a department mapping); "
                "while set the task is not claimed and spends no attempts.",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="accountcreationtask",
            name="attempt_base",
            field=models.PositiveIntegerField(
                default=0,
                help_text="Attempts that do not count against the budget: those made before the last manual "
                "retry, and those refused by a system-wide problem (quarantine, rate limit).",
            ),
        ),
        migrations.CreateModel(
            name="DownstreamSystem",
            fields=[
                ("name", models.CharField(help_text="The account type.", max_length=16, primary_key=True,
                                          serialize=False)),
                ("state", models.CharField(choices=[("ok", "OK"), ("quarantined", "Quarantined")], default="ok",
                                           max_length=16)),
                ("reason_code", models.CharField(blank=True, max_length=32)),
                ("reason", models.TextField(blank=True, help_text="Why it is quarantined (redacted answer).")),
                ("since", models.DateTimeField(blank=True, null=True)),
                ("next_probe_at", models.DateTimeField(blank=True, null=True)),
                ("probe_by", models.CharField(blank=True, max_length=100)),
                ("consecutive_failures", models.PositiveIntegerField(default=0)),
                ("quarantines", models.PositiveIntegerField(default=0, help_text="Times it entered quarantine.")),
                ("rate_limited", models.PositiveBigIntegerField(default=0,
                                                                help_text="Rate-limited answers received.")),
                ("rate_tat", models.FloatField(default=0.0)),
                ("rate_allowed", models.FloatField(blank=True, null=True)),
                ("rate_decreased_at", models.FloatField(default=0.0)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "ordering": ["name"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("state__in", ["ok", "quarantined"])), name="system_state_valid"
                    )
                ],
            },
        ),
    ]
