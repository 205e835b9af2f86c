"""One person on demand: run a person's due tasks now, in order, and say what happened.

Microsoft Entra's "provision on demand" for one person. It is an ordinary engine run
narrowed to the person's tasks, so leases, dependencies and the fenced writes hold as in
any run (a task another runner holds is left to it); IDaaS runs first, and WeLink and Email
are claimed in the same run as soon as IDaaS completed. Used by
``process_account_creation_tasks --employee-number`` and the admin person page's "run now".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from account_creation.account_types import registry
from account_creation.messages import message
from account_creation.models import AccountCreationTask, DownstreamSystem, SystemState, TaskStatus
from account_creation.selectors import systems_list, task_last_error
from account_creation.services.engine import AccountCreationService
from account_creation.services.waiting import waiting_for_text
from accountsync.messages import Message

# A person has at most one active task per account type; each is attempted at most once
# per run (a retry waits for the next run), so this bounds the run without cutting it short.
ATTEMPTS_PER_TYPE = 2


@dataclass
class PersonRunReport:
    employee_number: str
    attempts: list[tuple[int, str, str, str]] = field(default_factory=list)
    tasks: list[AccountCreationTask] = field(default_factory=list)
    seconds: float = 0.0
    unconfigured: dict[str, list[str]] = field(default_factory=dict)
    quarantined: dict[str, DownstreamSystem] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """One line per attempt made, then one per task with where it stands now (active language)."""
        out = [
            str(message("ondemand.attempt", system=account_type, task=task_id, outcome=kind))
            + (f": {said}" if said else "")
            for task_id, account_type, kind, said in self.attempts
        ]
        now = timezone.now()
        for task in self.tasks:
            status = message(f"status.{task.status}")
            line = message("ondemand.now", system=task.account_type, task=task.pk, status=status,
                           state=self._state(task, now))
            out.append(str(line))
        return out

    def _state(self, task: AccountCreationTask, now: datetime) -> Message:
        result = task.result or {}
        if task.status == TaskStatus.COMPLETED:
            made = ", ".join(str(result[key]) for key in ("username", "email", "account_id") if result.get(key))
            return message("ondemand.created", made=made) if made else message("ondemand.created_plain")
        if task.status == TaskStatus.PROCESSING:
            return message("ondemand.held", runner=task.locked_by, until=task.locked_until or now)
        if task.status == TaskStatus.PENDING:
            if task.waiting_for:
                return Message.text(waiting_for_text(task.waiting_for))
            quarantine = self.quarantined.get(task.account_type)
            if quarantine is not None:
                return message(
                    "ondemand.quarantined", system=task.account_type, since=quarantine.since or now,
                    reason=Message.from_stored(quarantine.reason_data, quarantine.reason or quarantine.reason_code),
                    probe=quarantine.next_probe_at or now,
                )
            if task.account_type in self.unconfigured:
                return message("ondemand.unconfigured", missing=", ".join(self.unconfigured[task.account_type]))
            if task.next_attempt_at and task.next_attempt_at > now:
                why = task_last_error(task) or "—"
                return message("ondemand.backoff", when=task.next_attempt_at, why=why)
            missing = [dep for dep in registry.dependencies(task.account_type) if not self._completed(dep)]
            if missing:
                return message("ondemand.dependency", systems=", ".join(missing))
            return Message.text(task_last_error(task)) if task.last_error else message("ondemand.due")
        return Message.text(task_last_error(task) or task.status)

    def _completed(self, account_type: str) -> bool:
        return any(t.account_type == account_type and t.status == TaskStatus.COMPLETED for t in self.tasks)


def person_tasks(*, employee_number: str) -> list[AccountCreationTask]:
    """The person's current task per account type (the newest), in run order."""
    latest: dict[str, AccountCreationTask] = {}
    for task in AccountCreationTask.objects.filter(employee_number=employee_number).order_by("id"):
        latest[task.account_type] = task
    return sorted(latest.values(), key=lambda task: registry.order(task.account_type))


def person_run_now(
    *, employee_number: str, account_types: Iterable[str] | None = None, concurrency: int = 1
) -> PersonRunReport:
    """Run ``employee_number``'s due tasks until none of them can run any more."""
    types = list(account_types) if account_types else registry.values()
    report = PersonRunReport(employee_number=employee_number)
    if AccountCreationTask.objects.filter(employee_number=employee_number).exists():
        service = AccountCreationService(
            max_tasks=ATTEMPTS_PER_TYPE * len(registry),
            concurrency=concurrency,
            account_types=types,
            employee_number=employee_number,
        )
        summary = service.run()
        report.attempts, report.seconds, report.unconfigured = summary.outcomes, summary.seconds, summary.unconfigured
    report.tasks = person_tasks(employee_number=employee_number)
    report.quarantined = {
        system.name: system for system in systems_list() if system.state == SystemState.QUARANTINED
    }
    return report
