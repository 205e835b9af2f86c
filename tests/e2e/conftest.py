"""End-to-end fixtures: the sandbox on loopback, the service pointed at it, helpers to submit
requests through the API and to run the engine until it has nothing left to do.

Nothing is faked: the API, the engine, the real connectors and the sandbox talk real HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from account_creation.connectors import reset_connectors
from account_creation.models import AccountCreationTask, TaskStatus
from account_creation.services.engine import AccountCreationService, RunSummary
from conftest import make_request, make_user
from sandbox.faults import faults_from_payload
from sandbox.server import SandboxServer
from sandbox.systems import simulated_systems

# Names with shared readings (张三 twice, 单/曾 as surnames) so address suffixes get exercised.
NAMES = ["李四", "王五", "赵六", "钱七", "孙八", "周九", "吴十", "郑一", "冯二", "陈红", "曾伟", "单芳", "张三"]
RUN_CAP = 40
# Generous: the machine has 2 cores and other test runs share it.
QUIET_DEADLINE_SECONDS = 90.0


@pytest.fixture
def sandbox(sandbox_server: SandboxServer, settings: Any) -> Iterator[SandboxServer]:
    """A clean sandbox, with the service's settings pointing at it and fresh connectors."""
    sandbox_server.world.reset()
    for name in simulated_systems.base_url_settings():  # IDAAS_BASE_URL, WELINK_BASE_URL, …
        setattr(settings, name, sandbox_server.url)
    # Loopback answers take milliseconds; 2 s keeps a busy machine from causing spurious
    # timeouts. The fault test lowers it to 1 s to keep its held answers short.
    settings.ACCOUNT_CREATION_HTTP_TIMEOUT = 2.0
    settings.ACCOUNT_CREATION_BACKOFF_BASE_SECONDS = 0  # a retry happens at the next run
    # Connectors read settings at construction and cache tokens: never reuse another test's.
    reset_connectors()
    yield sandbox_server
    reset_connectors()
    sandbox_server.world.reset()


def set_faults(server: SandboxServer, **switches: Any) -> None:
    server.world.set_faults(faults_from_payload(switches))


@pytest.fixture
def submit(api_client: APIClient, departments: None) -> Callable[..., dict[str, Any]]:
    """POST a create_accounts request for ``people`` ([(number, name)]) and return the answer."""
    counter = {"n": 0}

    def _submit(people: list[tuple[str, str]], *, department_code: str = "120000", **overrides: Any) -> dict[str, Any]:
        counter["n"] += 1
        users = [
            make_user(number, name=name, departmentCode=department_code, phoneNumber=f"138{index:08d}")
            for index, (number, name) in enumerate(people)
        ]
        body = make_request(users, business_key=f"e2e-{counter['n']}-{time.monotonic_ns()}", **overrides)
        response = api_client.post("/account-creation/create_accounts/", body, format="json")
        assert response.status_code == 201, response.json()
        answer: dict[str, Any] = response.json()
        return answer

    return _submit


def people(count: int, *, start: int = 1000) -> list[tuple[str, str]]:
    return [(f"P{start + n:06d}", NAMES[n % len(NAMES)]) for n in range(count)]


def run_until_quiet(*, concurrency: int = 4, max_tasks: int = 1000, max_runs: int = RUN_CAP) -> list[RunSummary]:
    """Run the engine until a run claims nothing and nothing waits for a later time.

    A task that failed during a run waits for the next run even with zero backoff; one
    pending with a ``next_attempt_at`` (a retry, maybe after a backoff) is waited for.
    """
    summaries: list[RunSummary] = []
    deadline = time.monotonic() + QUIET_DEADLINE_SECONDS
    for _ in range(max_runs):
        summary = AccountCreationService(max_tasks=max_tasks, concurrency=concurrency).run()
        summaries.append(summary)
        if summary.total("claimed"):
            continue
        # A retry that fell due after this run started was not claimable by it.
        upcoming = (
            AccountCreationTask.objects.filter(status=TaskStatus.PENDING, next_attempt_at__isnull=False)
            .order_by("next_attempt_at")
            .values_list("next_attempt_at", flat=True)
            .first()
        )
        if upcoming is None:
            return summaries
        assert time.monotonic() < deadline, "the engine did not go quiet in time"
        time.sleep(min(0.5, max(0.0, (upcoming - timezone.now()).total_seconds())))
    raise AssertionError(f"the engine still claimed work after {max_runs} runs")


def run_times(runs: int, *, concurrency: int = 4, max_tasks: int = 1000) -> list[RunSummary]:
    return [AccountCreationService(max_tasks=max_tasks, concurrency=concurrency).run() for _ in range(runs)]


def statuses() -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in AccountCreationTask.objects.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def all_pages(client: APIClient, url: str) -> list[dict[str, Any]]:
    """Every item of a paginated list endpoint (asserting each page answers 200)."""
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200, response.content
        page = response.json()
        items.extend(page["results"])
        next_url = page["next"]
    return items


def result_of(task: AccountCreationTask) -> dict[str, Any]:
    """A task's stored result (completed tasks always have one)."""
    assert isinstance(task.result, dict), f"task {task.pk} has no result: {task.result!r}"
    return task.result
