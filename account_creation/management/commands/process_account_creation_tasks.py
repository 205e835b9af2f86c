"""Run the engine: `python manage.py process_account_creation_tasks --max-tasks=50`."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import Counter
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from account_creation.account_types import registry
from account_creation.connectors import configure_pool, missing_configuration
from account_creation.messages import message, stop_reason_text
from account_creation.models import AccountCreationTask, SystemState, TaskStatus
from account_creation.selectors import eligible_tasks, system_reason, systems_list, waiting_counts
from account_creation.services.engine import AccountCreationService, RunSummary
from account_creation.services.health import system_release
from account_creation.services.on_demand import person_run_now
from account_creation.services.retry import task_retry_failed
from account_creation.services.waiting import waiting_for_text
from accountsync.messages import format_datetime
from callbacks.messages import message as callback_message

COLUMNS = ("claimed", "completed", "retried", "failed", "blocked")


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    # Cron starts this every few minutes: skip Django's system checks (they import every
    # URL and view); `migrate` and the API server run them.
    requires_system_checks: list[str] = []
    help = (
        "Create accounts for due tasks: IDaaS, then WeLink, then Email. Cron runs it every "
        "5 minutes; --loop keeps it running on hosts without cron."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--max-tasks", type=_positive_int, default=50, help="Tasks to claim per run (50).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would run and why others wait; change nothing."
        )
        parser.add_argument(
            "--concurrency", type=_positive_int, default=1, help="Worker threads making downstream calls (1)."
        )
        parser.add_argument("--loop", action="store_true", help="Run again every --interval seconds until stopped.")
        parser.add_argument(
            "--interval",
            type=_positive_float,
            default=None,
            help="Seconds between runs with --loop (ACCOUNT_CREATION_RUN_INTERVAL_SECONDS, 300).",
        )
        parser.add_argument(
            "--max-seconds", type=_positive_float, default=None, help="Stop claiming after this many seconds."
        )
        parser.add_argument(
            "--retry-failed",
            action="store_true",
            help="Put failed and blocked tasks back to pending with a fresh attempt budget, end quarantines "
            "(the cause is fixed), then exit.",
        )
        parser.add_argument(
            "--account-type",
            choices=registry.values(),
            help="Only this account type (with --retry-failed, or to process one system).",
        )
        parser.add_argument(
            "--employee-number",
            help="Run only this person's due tasks, now and in order (IDaaS, then WeLink and Email), "
            "until none of them can run any more; prints what happened to each.",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar even on a terminal.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self._handle(**options)
        except DatabaseError as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CommandError(
                _("Database unreachable (%(error)s); the run stopped. Tasks it had claimed go back to the queue "
                  "when their lease expires. Check DATABASE_URL and the database server, then run again.")
                % {"error": first_line}
            ) from exc

    def _handle(self, **options: Any) -> None:
        if options["retry_failed"]:
            outcome = task_retry_failed(account_type=options["account_type"])
            self.stdout.write(_("%(count)d task(s) put back to pending.") % {"count": len(outcome.retried)})
            # "I fixed the cause": a quarantined system gets its tasks back now, not at the next probe.
            for row in systems_list():
                if row.state == SystemState.QUARANTINED and options["account_type"] in (None, row.name):
                    system_release(name=row.name, by="--retry-failed")
                    self.stdout.write(_("%(system)s released from quarantine.") % {"system": row.name})
            for task_id, reason in sorted(outcome.refused.items()):
                self.stdout.write("  " + _("not retried #%(task)s: %(reason)s") % {"task": task_id, "reason": reason})
            return
        if not settings.ACCOUNT_CREATION_ENABLED:
            self.stdout.write(_("Account creation is disabled (ACCOUNT_CREATION_ENABLED=false); nothing to do."))
            return
        types = [options["account_type"]] if options["account_type"] else registry.values()
        for system, missing in missing_configuration().items():
            if missing and system in types:
                self.stderr.write(
                    _("%(system)s is not configured: set %(missing)s. Its tasks are not processed.")
                    % {"system": system, "missing": ", ".join(missing)}
                )
        if options["dry_run"]:
            self._dry_run(types, options["max_tasks"])
            return
        if options["employee_number"]:
            if options["loop"]:
                raise CommandError(_("--employee-number runs one person once; it cannot be combined with --loop."))
            self._run_person(options["employee_number"], types, options["concurrency"])
            return
        configure_pool(options["concurrency"])
        stop = threading.Event()
        self._install_signal_handlers(stop)
        interval = options["interval"] or settings.ACCOUNT_CREATION_RUN_INTERVAL_SECONDS
        while True:
            summary = self._run_once(types, options, stop)
            # In loop mode an idle run prints nothing, so the output shows only real work.
            delivered = summary.callbacks.attempted if summary.callbacks else 0
            if not options["loop"] or summary.total("claimed") or summary.recovered or delivered:
                self._print_summary(summary)
            if not options["loop"] or stop.is_set():
                return
            close_old_connections()
            stop.wait(interval)
            if stop.is_set():
                return

    def _install_signal_handlers(self, stop: threading.Event) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def request_stop(signum: int, frame: Any) -> None:
            if not stop.is_set():
                self.stderr.write(_("Stopping: finishing tasks in flight, claiming no more."))
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

    def _run_once(self, types: list[str], options: dict[str, Any], stop: threading.Event) -> RunSummary:
        show_progress = not options["no_progress"] and sys.stderr.isatty()
        total = options["max_tasks"]
        last_draw = [0.0]

        def progress(summary: RunSummary) -> None:
            now = time.monotonic()
            if now - last_draw[0] < 0.2:
                return
            last_draw[0] = now
            done = sum(summary.total(key) for key in ("completed", "retried", "failed", "dropped"))
            width = 30
            filled = int(width * min(done, total) / max(total, 1))
            counts = {"done": done, "completed": summary.total("completed"), "failed": summary.total("failed")}
            sys.stderr.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] "
                + _("%(done)s done, %(completed)s completed, %(failed)s failed") % counts
            )
            sys.stderr.flush()

        service = AccountCreationService(
            max_tasks=options["max_tasks"],
            concurrency=options["concurrency"],
            max_seconds=options["max_seconds"],
            account_types=types,
            stop_event=stop,
            on_progress=progress if show_progress else None,
        )
        summary = service.run()
        if show_progress:
            sys.stderr.write("\n")
        return summary

    def _run_person(self, employee_number: str, types: list[str], concurrency: int) -> None:
        report = person_run_now(employee_number=employee_number, account_types=types, concurrency=concurrency)
        if not report.tasks:
            raise CommandError(str(message("ondemand.no_tasks", employee=employee_number)))
        self.stdout.write(str(message(
            "ondemand.summary", employee=employee_number, attempts=len(report.attempts), seconds=f"{report.seconds:.2f}"
        )))
        for line in report.lines():
            self.stdout.write(f"  {line}")

    def _print_summary(self, summary: RunSummary) -> None:
        header = f"{'system':<8}" + "".join(f"{name:>11}" for name in COLUMNS)
        lines = [header, "-" * len(header)]
        totals: Counter[str] = Counter()
        for system in registry.values():
            counter = summary.per_type.get(system, Counter())
            totals.update({name: counter[name] for name in COLUMNS})
            lines.append(f"{system:<8}" + "".join(f"{counter[name]:>11}" for name in COLUMNS))
        lines.append(f"{'total':<8}" + "".join(f"{totals[name]:>11}" for name in COLUMNS))
        self.stdout.write("\n".join(lines))
        extra = []
        if summary.recovered:
            extra.append(_("%(count)d task(s) recovered from expired leases") % {"count": summary.recovered})
        dropped = summary.total("dropped")
        if dropped:
            extra.append(_("%(count)d result(s) dropped after a lost lease") % {"count": dropped})
        deferred, waiting = summary.total("deferred"), summary.total("waiting")
        if deferred:
            extra.append(
                _("%(count)d task(s) put back unspent because their system is quarantined") % {"count": deferred}
            )
        if waiting:
            extra.append(_("%(count)d task(s) put back unspent to wait for configuration") % {"count": waiting})
        if summary.released_waiting:
            released = summary.released_waiting
            extra.append(_("%(count)d waiting task(s) released: their configuration now exists") % {"count": released})
        callbacks = summary.callbacks
        if callbacks and callbacks.attempted:
            extra.append(str(callback_message(
                "callback.run_summary", delivered=callbacks.delivered, retried=callbacks.retried,
                failed=callbacks.failed,
            )))
        self.stdout.write(
            _("Run %(runner)s finished in %(seconds)s s: %(reason)s.")
            % {
                "runner": summary.runner_id,
                "seconds": f"{summary.seconds:.2f}",
                "reason": stop_reason_text(summary.stop_reason),
            }
            + (" " + "; ".join(extra) + "." if extra else "")
        )
        for line in self._wait_lines():
            self.stdout.write(line)

    def _wait_lines(self) -> list[str]:
        """"N wait: …" for every quarantined system and every piece of missing configuration."""
        lines = []
        counts = waiting_counts()
        for system in systems_list():
            if system.state == SystemState.QUARANTINED:
                lines.append(
                    _(
                        "%(count)d wait: %(system)s quarantined since %(since)s, reason: %(reason)s. Next probe "
                        "at %(probe)s; fix the cause, or release it with POST "
                        "/account-creation/systems/%(system)s/release/."
                    )
                    % {
                        "count": counts.get(system.name, 0),
                        "system": system.name,
                        "since": _when(system.since),
                        "reason": system_reason(system) or system.reason_code,
                        "probe": _when(system.next_probe_at),
                    }
                )
        waiting: Counter[str] = Counter()
        texts: dict[str, str] = {}
        for value in AccountCreationTask.objects.filter(
            status=TaskStatus.PENDING, waiting_for__isnull=False
        ).values_list("waiting_for", flat=True):
            key = repr(sorted(value.items())) if isinstance(value, dict) else repr(value)
            waiting[key] += 1
            texts[key] = waiting_for_text(value)
        for key, count in waiting.most_common():
            lines.append(_("%(count)d wait: %(what)s") % {"count": count, "what": texts[key]})
        return lines

    def _dry_run(self, types: list[str], max_tasks: int) -> None:
        now = timezone.now()
        configured = [t for t in types if not missing_configuration().get(t)]
        would_run = list(eligible_tasks(now=now, account_types=configured)[:max_tasks])
        self.stdout.write(
            _("Dry run: %(count)d task(s) would run now (max %(max)d); nothing changed.")
            % {"count": len(would_run), "max": max_tasks}
        )
        for task in would_run:
            self.stdout.write(f"  #{task.pk} {task.account_type:<7} {task.employee_number} ({task.business_key})")
        pending = AccountCreationTask.objects.filter(status=TaskStatus.PENDING)
        backoff = pending.filter(next_attempt_at__gt=now)
        due = pending.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        eligible_ids = eligible_tasks(now=now).values("pk")
        waiting_dependency = due.exclude(pk__in=eligible_ids).filter(waiting_for__isnull=True).exclude(
            account_type__in=[s.name for s in systems_list() if s.state == SystemState.QUARANTINED]
        )
        processing = AccountCreationTask.objects.filter(status=TaskStatus.PROCESSING)
        expired = processing.filter(locked_until__lt=now)
        unconfigured = due.exclude(account_type__in=configured)
        self.stdout.write(_("Waiting:"))
        self.stdout.write("  " + _("%(count)d wait for a dependency (their IDaaS task is not completed)")
                          % {"count": waiting_dependency.count()})
        earliest = backoff.order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
        self.stdout.write(
            "  " + _("%(count)d wait for their backoff") % {"count": backoff.count()}
            + (" " + _("(next due %(when)s)") % {"when": _when(earliest)} if earliest else "")
        )
        self.stdout.write(
            "  " + _("%(count)d are leased by a runner (%(expired)d with an expired lease, recovered at the next run)")
            % {"count": processing.count(), "expired": expired.count()}
        )
        if unconfigured.exists():
            self.stdout.write(
                "  " + _("%(count)d belong to systems that are not configured or not selected")
                % {"count": unconfigured.count()}
            )
        for line in self._wait_lines():
            self.stdout.write(f"  {line}")


def _when(moment: Any) -> str:
    return format_datetime(moment) if moment else "-"
