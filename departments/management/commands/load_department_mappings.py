from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from departments.services import BUNDLED_FILE, MappingFileError, department_mappings_load


class Command(BaseCommand):
    help = (
        "Load department mappings (OA code -> IDaaS/WeLink code and AD OU) from a CSV file; "
        "idempotent upsert, all rows or none."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--file",
            type=Path,
            default=BUNDLED_FILE,
            help="CSV with columns idata_departmentcode, idaas_departmentcode, department_name, "
            "ou (default: the bundled file). An OU without DC= parts gets "
            "DC=<IDAAS_DC1>,DC=<IDAAS_DC2> appended.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = department_mappings_load(path=options["file"])
        except MappingFileError as exc:
            raise CommandError(
                _("Nothing was loaded; fix these lines and run again:") + "\n  " + "\n  ".join(exc.problems)
            ) from exc
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Department mappings loaded from %(file)s: %(created)s created, %(updated)s updated, "
                    "%(unchanged)s unchanged."
                )
                % {
                    "file": options["file"],
                    "created": result.created,
                    "updated": result.updated,
                    "unchanged": result.unchanged,
                }
            )
        )
        from account_creation.services.waiting import tasks_release_waiting

        released = tasks_release_waiting()
        if released:
            self.stdout.write(
                _("%(count)d waiting task(s) released: their department mapping now exists; they run at the next run.")
                % {"count": released}
            )
