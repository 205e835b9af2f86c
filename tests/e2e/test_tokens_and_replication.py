"""Tokens that expire in the middle of the work, and AD accounts Exchange cannot see yet."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from rest_framework.test import APIClient

from account_creation.models import AccountCreationLog, AccountCreationTask, AttemptOutcome, TaskStatus
from sandbox.server import SandboxServer
from tests.e2e.conftest import all_pages, people, run_until_quiet, set_faults, statuses

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_expired_tokens_are_refetched_once_and_the_work_goes_on(sandbox: SandboxServer, submit: Any) -> None:
    submit(people(5, start=3000))
    run_until_quiet(concurrency=4)
    assert statuses() == {TaskStatus.COMPLETED: 15}
    fetches_before = sandbox.state["totals"]["token_fetches"]
    assert fetches_before["idaas"] == fetches_before["welink"] == 1

    response = requests.post(sandbox.url + "/_sandbox/expire_tokens", timeout=10)
    assert response.status_code == 200
    assert response.json()["expired"] == 2
    submit(people(12, start=3100))
    run_until_quiet(concurrency=4)

    assert statuses() == {TaskStatus.COMPLETED: 51}
    state = sandbox.state
    fetches = state["totals"]["token_fetches"]
    # The cached tokens were refused once; one thread refetched, the others reused its token.
    assert fetches["idaas"] == fetches["welink"] == 2, fetches
    assert len(state["accounts"]["idaas"]) == len(state["accounts"]["welink"]) == 17
    assert all(account["create_calls"] == 1 for system in state["accounts"].values() for account in system)
    # The refresh happened inside the attempts: none of them failed.
    assert set(AccountCreationLog.objects.values_list("outcome", flat=True)) == {AttemptOutcome.SUCCEEDED}


def test_short_lived_tokens_are_renewed_before_they_run_out(sandbox: SandboxServer, submit: Any) -> None:
    # expires_in of 2 s: the connectors keep a short-lived token for half its life.
    set_faults(sandbox, token_ttl_s=2)
    submit(people(3, start=3200))
    run_until_quiet(concurrency=2)
    fetches = sandbox.state["totals"]["token_fetches"]
    # Longer than the kept lifetime, and longer than the token's own.
    sandbox.world.wait(2.2)
    submit(people(3, start=3300))
    run_until_quiet(concurrency=2)
    assert statuses() == {TaskStatus.COMPLETED: 18}
    after = sandbox.state["totals"]["token_fetches"]
    assert after["idaas"] > fetches["idaas"], (fetches, after)
    assert after["welink"] > fetches["welink"], (fetches, after)
    assert set(AccountCreationLog.objects.values_list("outcome", flat=True)) == {AttemptOutcome.SUCCEEDED}


def test_mailbox_waits_for_ad_replication_then_completes(
    sandbox: SandboxServer, submit: Any, settings: Any, api_client: APIClient
) -> None:
    # A short backoff (0.25 s, doubling) so the retries spread over the lag within the
    # default budget of 5 attempts instead of spending it in a few milliseconds.
    settings.ACCOUNT_CREATION_BACKOFF_BASE_SECONDS = 0.5
    settings.ACCOUNT_CREATION_BACKOFF_MAX_SECONDS = 2
    set_faults(sandbox, replication_lag_ms=1500)
    submit([("P000126", "张三")])
    run_until_quiet(concurrency=2)

    assert statuses() == {TaskStatus.COMPLETED: 3}
    email = AccountCreationTask.objects.get(account_type="email")
    logs = all_pages(api_client, f"/account-creation/{email.pk}/logs/")
    assert len(logs) >= 2, logs
    assert [log["outcome"] for log in logs] == ["retry"] * (len(logs) - 1) + ["succeeded"]
    for log in logs[:-1]:
        assert "cannot see the AD user 'zP000126' yet" in log["error_message"]
        assert "couldn't be found" in log["error_message"]
        assert log["error_details"]["retryable"] is True
    detail = api_client.get(f"/account-creation/{email.pk}/").json()
    assert detail["status"] == "completed"
    assert detail["attempts"] == len(logs)
    assert detail["last_error"] == ""
    mailbox = sandbox.state["accounts"]["email"]
    assert [(m["SAMAccountName"], m["create_calls"]) for m in mailbox] == [("zP000126", len(logs))]
