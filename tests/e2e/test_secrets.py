"""No secret and no issued token in logs, attempt rows, task rows or API answers."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from rest_framework.test import APIClient

from account_creation.connectors import reset_connectors
from account_creation.models import AccountCreationLog, AccountCreationTask, TaskStatus
from accountsync.logging import RedactSecretsFilter
from sandbox.server import SandboxServer
from tests.e2e.conftest import all_pages, people, run_times, run_until_quiet, set_faults

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SECRET_SETTINGS = ("IDAAS_SECRET", "WELINK_CLIENT_SECRET", "EMAIL_AUTH_TOKEN")


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """What a handler configured like the service's (with the redaction filter) writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def log_file_tail(path: Path, offset: int) -> str:
    if not path.exists():
        return ""
    data = path.read_bytes()
    # Rotated meanwhile: the new file is all ours to read.
    return data[offset if len(data) >= offset else 0:].decode("utf-8", errors="replace")


def test_no_secret_or_token_leaks_anywhere(
    sandbox: SandboxServer, submit: Any, api_client: APIClient, settings: Any, captured_logs: io.StringIO
) -> None:
    log_file = Path(settings.LOG_DIR) / "hr_sync.log"
    offset = log_file.stat().st_size if log_file.exists() else 0
    secrets = {name: getattr(settings, name) for name in SECRET_SETTINGS}
    settings.ACCOUNT_CREATION_HTTP_TIMEOUT = 1.0
    settings.ACCOUNT_CREATION_MAX_RETRIES = 10

    # 1. Errors, timeouts and expired tokens with the right credentials.
    submit(people(6, start=6000))
    set_faults(sandbox, error_rate=0.3, timeout_rate=0.1, timeout_hold_ms=1500, seed=7)
    run_times(2, concurrency=3)
    assert requests.post(sandbox.url + "/_sandbox/expire_tokens", timeout=10).status_code == 200
    set_faults(sandbox)
    run_until_quiet(concurrency=3)

    # 2. WeLink and Exchange refuse the credentials (IDaaS still works).
    wrong = {"WELINK_CLIENT_SECRET": "wrong-welink-secret-4d1e", "EMAIL_AUTH_TOKEN": "wrong-email-token-8b0c"}
    for name, value in wrong.items():
        setattr(settings, name, value)
    reset_connectors()
    submit(people(3, start=6100))
    run_until_quiet(concurrency=3)

    # 3. IDaaS refuses its secret too.
    wrong["IDAAS_SECRET"] = "wrong-idaas-secret-77f2"  # noqa: S105 - a test value
    settings.IDAAS_SECRET = wrong["IDAAS_SECRET"]
    reset_connectors()
    submit(people(2, start=6200))
    run_until_quiet(concurrency=3)

    # Every system refused its credentials at least once, so errors of each kind were written;
    # each system is quarantined (issue #17): its tasks wait, with the error, unspent.
    from account_creation.models import DownstreamSystem

    assert AccountCreationTask.objects.filter(status=TaskStatus.PENDING, account_type="idaas").exclude(
        last_error="").exists()
    assert AccountCreationTask.objects.filter(status=TaskStatus.PENDING, account_type="welink").exclude(
        last_error="").exists()
    assert AccountCreationTask.objects.filter(status=TaskStatus.PENDING, account_type="email").exclude(
        last_error="").exists()
    assert set(DownstreamSystem.objects.filter(state="quarantined").values_list("name", flat=True)) == {
        "idaas", "welink", "email"}
    tokens = sandbox.world.issued_tokens()
    assert len(tokens) >= 4  # IDaaS and WeLink, before and after the expiry

    forbidden = {**{f"configured {k}": v for k, v in secrets.items()},
                 **{f"wrong {k}": v for k, v in wrong.items()},
                 **{f"issued token #{n}": token for n, token in enumerate(tokens)}}

    texts: dict[str, str] = {
        "log handler": captured_logs.getvalue(),
        "log file": log_file_tail(log_file, offset),
    }
    for log in AccountCreationLog.objects.all():
        texts[f"attempt row {log.pk}"] = json.dumps(
            [log.error_message, log.error_details, log.execution_context, log.traceback, log.runner],
            ensure_ascii=False,
        )
    for task in AccountCreationTask.objects.all():
        texts[f"task row {task.pk}"] = json.dumps([task.last_error, task.result], ensure_ascii=False)
        texts[f"GET task {task.pk}"] = api_client.get(f"/account-creation/{task.pk}/").content.decode()
        texts[f"GET logs {task.pk}"] = json.dumps(all_pages(api_client, f"/account-creation/{task.pk}/logs/"),
                                                  ensure_ascii=False)
    texts["GET list"] = json.dumps(all_pages(api_client, "/account-creation/"), ensure_ascii=False)
    texts["GET stats"] = api_client.get("/account-creation/task_stats/").content.decode()

    # The scan looks at what it should: the failures and the token traffic are in there.
    assert "token_fetched" in texts["log handler"]
    assert "token_fetched" in texts["log file"]
    assert "token_rejected" in texts["log handler"]
    assert any("code 10007" in text for text in texts.values())
    assert any("refused EMAIL_AUTH_TOKEN (HTTP 401)" in text for text in texts.values())
    assert any("IDaaS refused the enterprise token" in text for text in texts.values())

    leaks = [f"{what} in {where}" for where, text in texts.items() for what, value in forbidden.items()
             if value in text]
    assert leaks == []
