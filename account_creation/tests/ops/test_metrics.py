"""GET /metrics: who may scrape, and that every metric reflects what the engine did."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from prometheus_client.parser import text_string_to_metric_families

from account_creation.models import AccountCreationLog, AccountCreationTask, AttemptOutcome, EngineRun, TaskStatus
from account_creation.tests.ops.sandbox_data import SandboxRun, staff_client
from accountsync.settings import _ip_networks
from conftest import issue_key, make_request, make_user

pytestmark = pytest.mark.django_db

METRICS = (
    "accountsync_tasks",
    "accountsync_due_tasks",
    "accountsync_oldest_due_task_age_seconds",
    "accountsync_attempts",
    "accountsync_attempts_last_15m",
    "accountsync_downstream_call_seconds",
    "accountsync_engine_runs",
    "accountsync_engine_run_duration_seconds",
    "accountsync_lease_recoveries",
    "accountsync_last_engine_run_finished_timestamp_seconds",
    "accountsync_token_refreshes",
    "accountsync_callback_events",
    "accountsync_callback_oldest_undelivered_seconds",
    "accountsync_system_quarantined",
    "accountsync_rate_limited_answers",
    "accountsync_tasks_waiting_for_configuration",
)


def scrape(client: Any, **headers: str) -> dict[str, Any]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


def samples(family: Any, suffix: str = "") -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value for s in family.samples if s.name == family.name + suffix
    }


# --- who may scrape -----------------------------------------------------------------------


def test_anonymous_callers_are_refused() -> None:
    response = Client().get("/metrics")
    assert response.status_code == 401
    assert "Bearer" in response["WWW-Authenticate"]
    assert b"accountsync_tasks" not in response.content


@pytest.mark.parametrize("header", ["Token not-a-real-key", "Bearer wrong", "Basic dXNlcjpwYXNz", "Bearer "])
def test_bad_credentials_are_refused(header: str, settings: Any) -> None:
    settings.METRICS_TOKEN = "the-metrics-token-abc"
    assert Client().get("/metrics", HTTP_AUTHORIZATION=header).status_code == 401


def test_an_empty_metrics_token_never_matches(settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_api_token_bearer_token_allowed_address_and_staff_session(settings: Any, api_key: str,
                                                                  django_user_model: Any) -> None:
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Token {api_key}").status_code == 200  # scope all
    metrics_only = issue_key("prometheus", scopes=("metrics",))
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Token {metrics_only}").status_code == 200
    # An OA client's token (intake, read, retry for oa) may not read every system's numbers.
    oa_key = issue_key("oa-metrics", origin_systems=("oa",), scopes=("intake", "read", "retry"))
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Token {oa_key}").status_code == 401

    settings.METRICS_TOKEN = "the-metrics-token-abc"
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer the-metrics-token-abc").status_code == 200

    settings.METRICS_ALLOWED_NETWORKS = _ip_networks("METRICS_ALLOWED_IPS", ["10.1.2.0/24"])
    assert Client(REMOTE_ADDR="10.1.2.7").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="10.1.3.7").get("/metrics").status_code == 401
    # A forwarded header is not an address: only the peer counts.
    assert Client(REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="10.1.2.7").get("/metrics").status_code == 401

    assert staff_client(django_user_model).get("/metrics").status_code == 200
    assert staff_client(django_user_model, staff=False, username="clerk").get("/metrics").status_code == 401
    assert staff_client(django_user_model, username="no-perms", perms=()).get("/metrics").status_code == 401


def test_metrics_allowed_ips_must_be_addresses() -> None:
    assert len(_ip_networks("METRICS_ALLOWED_IPS", ["127.0.0.1", "10.0.0.0/8", "::1"])) == 3
    with pytest.raises(ImproperlyConfigured, match="METRICS_ALLOWED_IPS"):
        _ip_networks("METRICS_ALLOWED_IPS", ["10.0.0.300"])


# --- what it says -------------------------------------------------------------------------


@pytest.mark.slow
def test_every_metric_after_a_sandbox_run(sandbox_run: SandboxRun, api_client: Any) -> None:
    families = scrape(api_client)
    assert set(METRICS) <= set(families)

    tasks = samples(families["accountsync_tasks"])
    for status in TaskStatus.values:
        for system in ("idaas", "welink", "email"):
            expected = AccountCreationTask.objects.filter(account_type=system, status=status).count()
            assert tasks[(("status", status), ("system", system))] == expected
    assert tasks[(("status", "failed"), ("system", "idaas"))] == len(sandbox_run.failing_numbers)
    assert tasks[(("status", "blocked"), ("system", "welink"))] == len(sandbox_run.failing_numbers)
    assert tasks[(("status", "completed"), ("system", "email"))] == 4

    attempts = samples(families["accountsync_attempts"], "_total")
    finished = AccountCreationLog.objects.exclude(outcome=AttemptOutcome.RUNNING)
    assert sum(attempts.values()) == finished.count()
    assert attempts[(("outcome", "succeeded"), ("system", "idaas"))] == 4
    # The people whose OU IDaaS refuses fail at their first attempt; WeLink/Email 5xx retried.
    assert attempts[(("outcome", "retry"), ("system", "welink"))] + attempts[
        (("outcome", "retry"), ("system", "email"))] >= 1
    assert attempts[(("outcome", "failed"), ("system", "idaas"))] >= 2
    assert sum(samples(families["accountsync_attempts_last_15m"]).values()) == finished.count()

    latency = families["accountsync_downstream_call_seconds"]
    counts = samples(latency, "_count")
    assert sum(counts.values()) == AccountCreationLog.objects.filter(duration_ms__isnull=False).count()
    buckets = [s for s in latency.samples if s.name.endswith("_bucket") and s.labels["system"] == "idaas"]
    values = [s.value for s in buckets]
    assert values == sorted(values), "histogram buckets are cumulative"
    assert buckets[-1].labels["le"] == "+Inf"
    assert buckets[-1].value == counts[(("system", "idaas"),)]

    runs = EngineRun.objects.filter(finished_at__isnull=False)
    assert samples(families["accountsync_engine_runs"], "_total")[()] == runs.count() == sandbox_run.runs
    assert samples(families["accountsync_engine_run_duration_seconds"], "_count")[()] == runs.count()
    assert samples(families["accountsync_engine_run_duration_seconds"], "_sum")[()] > 0
    assert samples(families["accountsync_lease_recoveries"], "_total")[()] == 0
    last = samples(families["accountsync_last_engine_run_finished_timestamp_seconds"])[()]
    assert last == pytest.approx(runs.order_by("-finished_at")[0].finished_at.timestamp())  # type: ignore[union-attr]
    refreshes = samples(families["accountsync_token_refreshes"], "_total")
    assert set(refreshes) == {(("system", s),) for s in ("idaas", "welink", "email")}
    # The engine processes fetched IDaaS and WeLink tokens (Exchange uses a static token).
    assert refreshes[(("system", "idaas"),)] >= 1
    assert refreshes[(("system", "welink"),)] >= 1
    assert refreshes[(("system", "email"),)] == 0
    # The queue is quiet: nothing due.
    assert set(samples(families["accountsync_due_tasks"]).values()) == {0}
    assert set(samples(families["accountsync_oldest_due_task_age_seconds"]).values()) == {0}


def test_due_work_and_its_age(api_client: Any, departments: None) -> None:
    body = make_request([make_user("P300001"), make_user("P300002", name="李四")], business_key="due-1")
    assert api_client.post("/account-creation/create_accounts/", body, format="json").status_code == 201
    AccountCreationTask.objects.update(created_at=AccountCreationTask.objects.first().created_at)  # type: ignore[union-attr]
    from datetime import timedelta

    from django.utils import timezone

    AccountCreationTask.objects.filter(account_type="idaas").update(created_at=timezone.now() - timedelta(minutes=20))
    families = scrape(api_client)
    due = samples(families["accountsync_due_tasks"])
    # WeLink and Email wait for IDaaS: not claimable, so not due.
    assert due == {(("system", "idaas"),): 2, (("system", "welink"),): 0, (("system", "email"),): 0}
    age = samples(families["accountsync_oldest_due_task_age_seconds"])
    assert 20 * 60 <= age[(("system", "idaas"),)] < 30 * 60
    assert age[(("system", "welink"),)] == 0


def test_lease_recoveries_and_run_counts_come_from_engine_runs(api_client: Any) -> None:
    from django.utils import timezone

    now = timezone.now()
    for recovered in (3, 4):
        EngineRun.objects.create(runner_id="r", host="h", pid=1, started_at=now, finished_at=now, recovered=recovered)
    EngineRun.objects.create(runner_id="r", host="h", pid=2, started_at=now)  # still running: not counted
    families = scrape(api_client)
    assert samples(families["accountsync_lease_recoveries"], "_total")[()] == 7
    assert samples(families["accountsync_engine_runs"], "_total")[()] == 2


def _queries_for_scrape(client: Any) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/metrics").status_code == 200
    return len(queries)


def test_scrape_queries_do_not_grow_with_data(api_client: Any, departments: None) -> None:
    _queries_for_scrape(api_client)  # the key's first use records last_used_at (one UPDATE a minute)
    empty = _queries_for_scrape(api_client)
    for n in range(3):
        users = [make_user(f"P4{n}{i:04d}", name="张三") for i in range(20)]
        body = make_request(users, business_key=f"grow-{n}")
        assert api_client.post("/account-creation/create_accounts/", body, format="json").status_code == 201
    from account_creation.connectors import override_connectors
    from account_creation.connectors.fake import FakeConnector
    from account_creation.services.engine import AccountCreationService

    with override_connectors({s: FakeConnector(s) for s in ("idaas", "welink", "email")}):
        AccountCreationService(max_tasks=500).run()
    full = _queries_for_scrape(api_client)
    assert full == empty
    # tasks, due, attempts, downstream, runs, systems (2), callbacks (2), plus the key look-up.
    assert full <= 10
