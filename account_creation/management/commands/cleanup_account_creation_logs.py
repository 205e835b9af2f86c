from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from account_creation.models import AccountCreationLog, TaskStatus

FINISHED = (TaskStatus.COMPLETED, TaskStatus.FAILED)


class Command(BaseCommand):
    help = (
        "Delete attempt logs older than DAYS of tasks that are finished (completed or failed); "
        "logs of active tasks are kept, so no active task's attempt count changes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["older_than"]
        if days < 1:
            raise CommandError(_("--older-than must be at least 1 day."))
        cutoff = timezone.now() - timedelta(days=days)
        logs = AccountCreationLog.objects.filter(created_at__lt=cutoff, task__status__in=FINISHED)
        if options["dry_run"]:
            self.stdout.write(
                _("Dry run: %(count)s attempt log(s) older than %(days)s days would be deleted.")
                % {"count": logs.count(), "days": days}
            )
            return
        deleted = 0
        # In chunks, so a large cleanup never holds a long transaction.
        while True:
            ids = list(logs.values_list("pk", flat=True)[:5000])
            if not ids:
                break
            deleted += AccountCreationLog.objects.filter(pk__in=ids).delete()[0]
        self.stdout.write(
            _("Deleted %(count)s attempt log(s) older than %(days)s days of finished tasks.")
            % {"count": deleted, "days": days}
        )
