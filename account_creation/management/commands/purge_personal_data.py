from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from account_creation.services.retention import BATCH_SIZE, purge_personal_data
from accountsync.messages import format_datetime


class Command(BaseCommand):
    help = (
        "Anonymise the names, phone numbers and partner companies of tasks finished (completed or "
        "failed) more than DAYS days ago (default: PERSONAL_DATA_RETENTION_DAYS), in their attempt "
        "rows and request rows too. Employee numbers, accounts, outcomes and attempt rows are kept. "
        "Safe to run again: anonymised tasks are skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, metavar="DAYS", default=None,
                            help="Days since the task finished (default: PERSONAL_DATA_RETENTION_DAYS).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would change, change nothing.")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help=f"Tasks per transaction ({BATCH_SIZE}).")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["older_than"]
        if days is None:
            days = settings.PERSONAL_DATA_RETENTION_DAYS
            if days == 0:
                self.stdout.write(
                    _(
                        "Personal-data purge is disabled (PERSONAL_DATA_RETENTION_DAYS=0); nothing changed. "
                        "Pass --older-than DAYS to purge anyway."
                    )
                )
                return
        if days < 1:
            raise CommandError(_("--older-than must be at least 1 day."))
        if options["batch_size"] < 1:
            raise CommandError(_("--batch-size must be at least 1."))
        report = purge_personal_data(older_than_days=days, dry_run=options["dry_run"],
                                     batch_size=options["batch_size"])
        if options["dry_run"]:
            text = _(
                "Dry run: would anonymise %(tasks)s task(s) finished before %(cutoff)s (more than %(days)s days "
                "ago); %(logs)s attempt row(s) and %(requests)s request row(s) would be scrubbed of names and "
                "phone numbers."
            )
        else:
            text = _(
                "Anonymised %(tasks)s task(s) finished before %(cutoff)s (more than %(days)s days ago); %(logs)s "
                "attempt row(s) and %(requests)s request row(s) scrubbed of names and phone numbers."
            )
        self.stdout.write(
            text
            % {
                "tasks": report.tasks,
                "cutoff": format_datetime(report.cutoff),
                "days": days,
                "logs": report.logs,
                "requests": report.requests,
            }
        )
