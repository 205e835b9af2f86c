"""Child-process helper for the multi-process engine tests (not collected by pytest).

python proc_runner.py seed N            create N people x 3 systems through the intake
python proc_runner.py run LATENCY MAX    run the engine with fake connectors (LATENCY s per call)
python proc_runner.py real MAX CONC SECS run the engine with the real connectors (base URLs from the environment)
python proc_runner.py verify            print JSON facts about tasks and attempts
python proc_runner.py cancel DELAY      cancel the (only) request after DELAY seconds
python proc_runner.py seed_callback N URL  seed N people from a client whose callback is URL; print its secret
python proc_runner.py callbacks          print JSON facts about callback events
Reads DATABASE_URL; uses accountsync.test_settings.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accountsync.test_settings")

import django  # noqa: E402

django.setup()

from django.db.models import Count, Q  # noqa: E402

from account_creation.connectors import override_connectors  # noqa: E402
from account_creation.connectors.fake import FakeConnector  # noqa: E402
from account_creation.models import AccountCreationLog, AccountCreationTask  # noqa: E402
from account_creation.services.engine import AccountCreationService  # noqa: E402
from account_creation.services.intake import payload_fingerprint, request_create_accounts  # noqa: E402
from departments.services import department_mappings_load  # noqa: E402

SURNAMES = "张王李赵刘陈杨黄周吴"


def seed_callback(count: int, url: str) -> None:
    from api_clients.services import client_issue_key
    from callbacks.services import callback_configure

    issued = client_issue_key(name="oa-proc", origin_systems=["oa"], scopes=["intake", "read"])
    secret = callback_configure(client_name="oa-proc", url=url).endpoint.secret
    seed(count, client=issued.client.user, quiet=True)
    print(secret)


def callback_facts() -> None:
    from callbacks.models import CallbackAttempt, CallbackEvent

    print(json.dumps({
        "events": CallbackEvent.objects.count(),
        "statuses": dict(CallbackEvent.objects.values_list("status").annotate(n=Count("id"))),
        "attempts": CallbackAttempt.objects.count(),
        "lost_attempts": CallbackAttempt.objects.filter(error__startswith="No answer recorded").count(),
    }))


def seed(count: int, client: object = None, quiet: bool = False) -> None:
    department_mappings_load()
    envelope = {
        "originSystem": "oa",
        "businessKey": f"proc-{count}-{os.getpid()}",
        "accountType": "personal",
        "employeeType": "W",
        "systemList": ["idaas", "welink", "email"],
    }
    users = [
        (
            i,
            {
                "employeeNumber": f"M{i:06d}",
                "employeeName": SURNAMES[i % 10] + "伟",
                "departmentCode": "120000",
                "phoneNumber": "13800138000",
                "partnerCompany": "",
                "country": "cn",
            },
        )
        for i in range(count)
    ]
    request_create_accounts(
        envelope=envelope, users=users, rejected=[], fingerprint=payload_fingerprint(envelope, []), client=client
    )
    if not quiet:
        print(AccountCreationTask.objects.count())


def run(latency: float, max_tasks: int, concurrency: int) -> None:
    fakes = {s: FakeConnector(s, latency_seconds=latency) for s in ("idaas", "welink", "email")}
    with override_connectors(fakes):
        summary = AccountCreationService(max_tasks=max_tasks, concurrency=concurrency).run()
    print(json.dumps({"claimed": summary.total("claimed"), "completed": summary.total("completed")}), flush=True)


def cancel(after_completed: int) -> None:
    """Cancel the request once the runners have completed ``after_completed`` tasks: mid-run
    however fast or slow this machine is (a fixed delay raced with fast runners)."""
    import time

    from account_creation.models import AccountCreationRequest, AccountCreationTask, TaskStatus
    from account_creation.services.cancel import request_cancel

    deadline = time.monotonic() + 120
    while (
        AccountCreationTask.objects.filter(status=TaskStatus.COMPLETED).count() < after_completed
        and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    outcome = request_cancel(request=AccountCreationRequest.objects.get(), actor="proc-test")
    print(json.dumps({"cancelled": outcome.cancelled}), flush=True)


def real(max_tasks: int, concurrency: int, max_seconds: float) -> None:
    summary = AccountCreationService(max_tasks=max_tasks, concurrency=concurrency, max_seconds=max_seconds).run()
    print(json.dumps({"claimed": summary.total("claimed"), "completed": summary.total("completed"),
                      "deferred": summary.total("deferred")}), flush=True)


def systems() -> None:
    from account_creation.models import DownstreamSystem

    print(json.dumps({row.name: {"state": row.state, "reason": row.reason} for row in DownstreamSystem.objects.all()}))


def attempts(system: str) -> None:
    logs = AccountCreationLog.objects.filter(task__account_type=system).count()
    base = sum(AccountCreationTask.objects.filter(account_type=system).values_list("attempt_base", flat=True))
    print(json.dumps({"attempts": logs, "spent": logs - base}))


def probe_due(system: str) -> None:
    from account_creation.models import DownstreamSystem

    DownstreamSystem.objects.filter(name=system).update(next_probe_at="2000-01-01T00:00:00Z")
    print("ok")


def verify() -> None:
    per_task = AccountCreationLog.objects.values("task_id").annotate(
        attempts=Count("id"), succeeded=Count("id", filter=Q(outcome="succeeded"))
    )
    facts = {
        "tasks": AccountCreationTask.objects.count(),
        "statuses": dict(AccountCreationTask.objects.values_list("status").annotate(n=Count("id"))),
        "max_succeeded_per_task": max((row["succeeded"] for row in per_task), default=0),
        "tasks_with_one_success": sum(1 for row in per_task if row["succeeded"] == 1),
        "max_attempts": max((row["attempts"] for row in per_task), default=0),
        "outcomes": dict(AccountCreationLog.objects.values_list("outcome").annotate(n=Count("id"))),
        "runners": AccountCreationLog.objects.values("runner").distinct().count(),
        "cancelled_with_attempts": AccountCreationTask.objects.filter(status="cancelled", logs__isnull=False)
        .distinct()
        .count(),
    }
    print(json.dumps(facts))


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "seed":
        seed(int(sys.argv[2]))
    elif command == "run":
        run(float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    elif command == "seed_callback":
        seed_callback(int(sys.argv[2]), sys.argv[3])
    elif command == "callbacks":
        callback_facts()
    elif command == "cancel":
        cancel(int(sys.argv[2]))
    elif command == "real":
        real(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    elif command == "systems":
        systems()
    elif command == "attempts":
        attempts(sys.argv[2])
    elif command == "probe_due":
        probe_due(sys.argv[2])
    elif command == "verify":
        verify()
    else:
        raise SystemExit(f"unknown command {command}")
