"""Trust boundaries between API clients, through HTTP: origin systems, scopes, hashed keys.

Found by trying the API as a second OA client would, with its own valid token: it listed the
other client's people, read their attempt logs, retried their tasks, sent requests as the
other's originSystem and learned which of its businessKeys exist. Each test below is one of
those, now refused.
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from account_creation.connectors import override_connectors
from account_creation.connectors.fake import FakeConnector
from account_creation.models import AccountCreationRequest, AccountCreationTask, TaskStatus
from account_creation.services.engine import AccountCreationService
from api_clients.models import ApiClient, ApiKey
from conftest import client_with_key, issue_key, make_request, make_user

pytestmark = pytest.mark.django_db
URL = "/account-creation/create_accounts/"


@pytest.fixture
def oa(departments: None) -> APIClient:
    return client_with_key(issue_key("oa-client", origin_systems=("oa",), scopes=("intake", "read", "retry")))


@pytest.fixture
def hr(departments: None) -> APIClient:
    return client_with_key(issue_key("hr-client", origin_systems=("hr",), scopes=("intake", "read", "retry")))


def submit(client: APIClient, origin: str, number: str, key: str) -> dict[str, Any]:
    response = client.post(URL, make_request([make_user(number)], business_key=key, originSystem=origin), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def failed_hr_task(hr: APIClient) -> int:
    task_id = submit(hr, "hr", "P000200", "hr-1")["tasks"][0]["id"]
    with override_connectors({s: FakeConnector(s, default="fail") for s in ("idaas", "welink", "email")}):
        AccountCreationService(max_tasks=10).run()
    assert AccountCreationTask.objects.get(pk=task_id).status == TaskStatus.FAILED
    return task_id


def test_another_clients_tasks_are_invisible(oa: APIClient, hr: APIClient) -> None:
    hr_task = failed_hr_task(hr)
    submit(oa, "oa", "P000100", "oa-1")

    listed = oa.get("/account-creation/").json()
    assert {task["origin_system"] for task in listed["results"]} == {"oa"}
    assert listed["count"] == 3
    assert oa.get("/account-creation/", {"origin_system": "hr"}).json()["count"] == 0
    assert oa.get("/account-creation/", {"employee_number": "P000200"}).json()["count"] == 0
    assert oa.get(f"/account-creation/{hr_task}/").status_code == 404
    assert oa.get(f"/account-creation/{hr_task}/logs/").status_code == 404
    assert oa.post(f"/account-creation/{hr_task}/retry/").status_code == 404
    assert AccountCreationTask.objects.get(pk=hr_task).status == TaskStatus.FAILED  # not retried
    stats = oa.get("/account-creation/task_stats/").json()
    assert stats["total_tasks"] == 3
    assert stats["failed_tasks"] == 0
    # Its owner sees and retries it.
    assert hr.get(f"/account-creation/{hr_task}/logs/").status_code == 200
    assert hr.post(f"/account-creation/{hr_task}/retry/").status_code == 200


def test_a_foreign_origin_system_is_refused_and_writes_nothing(oa: APIClient) -> None:
    response = oa.post(URL, make_request([make_user()], originSystem="hr"), format="json")
    assert response.status_code == 403
    assert "originSystem 'hr'" in response.json()["detail"]
    assert "oa" in response.json()["detail"]
    assert not AccountCreationRequest.objects.exists()
    assert not AccountCreationTask.objects.exists()


def test_the_replay_check_never_reveals_another_systems_business_keys(oa: APIClient, hr: APIClient) -> None:
    submit(hr, "hr", "P000300", "shared-key")
    # The oa client cannot probe hr's keys (403 before any look-up) …
    probe = oa.post(URL, make_request([make_user("P000301")], business_key="shared-key", originSystem="hr"),
                    format="json")
    assert probe.status_code == 403
    # … and the same businessKey under its own originSystem is simply another request.
    assert submit(oa, "oa", "P000301", "shared-key")["created_tasks"] == 3


@pytest.mark.parametrize(
    ("scopes", "method", "path", "expected"),
    [
        (("read",), "post", URL, 403),
        (("intake",), "get", "/account-creation/", 403),
        (("intake",), "get", "/account-creation/task_stats/", 403),
        (("intake", "read"), "post", "/account-creation/{task}/retry/", 403),
        (("read",), "patch", "/department-mappings/{mapping}/", 403),
        (("read",), "post", "/department-mappings/", 403),
        (("read",), "get", "/department-mappings/", 200),
        (("intake",), "get", "/department-mappings/", 403),
    ],
)
def test_a_missing_scope_is_refused(
    scopes: tuple[str, ...], method: str, path: str, expected: int, hr: APIClient, api_client: APIClient
) -> None:
    task = failed_hr_task(hr)
    mapping = api_client.get("/department-mappings/").json()["results"][0]["id"]
    client = client_with_key(issue_key("narrow", origin_systems=("hr",), scopes=scopes))
    body = make_request([make_user("P000999")], originSystem="hr") if path == URL else {"department_name": "x"}
    response = getattr(client, method)(path.format(task=task, mapping=mapping), body, format="json")
    assert response.status_code == expected, response.content
    if expected == 403:
        assert "scope" in response.json()["detail"]
    assert AccountCreationTask.objects.get(pk=task).status == TaskStatus.FAILED
    assert not AccountCreationTask.objects.filter(employee_number="P000999").exists()


def test_mappings_scope_may_write_mappings(api_client: APIClient, departments: None) -> None:
    mapping = api_client.get("/department-mappings/").json()["results"][0]
    writer = client_with_key(issue_key("hr-admin", origin_systems=("hr",), scopes=("read", "mappings")))
    response = writer.patch(f"/department-mappings/{mapping['id']}/", {"department_name": "新名字"}, format="json")
    assert response.status_code == 200, response.content


def test_scope_all_sees_every_origin_system(api_client: APIClient, oa: APIClient, hr: APIClient) -> None:
    submit(oa, "oa", "P000100", "oa-1")
    submit(hr, "hr", "P000200", "hr-1")
    assert api_client.get("/account-creation/").json()["count"] == 6
    assert api_client.get("/account-creation/task_stats/").json()["total_tasks"] == 6


def test_keys_are_stored_only_as_hashes(capsys: Any) -> None:
    call_command("create_api_token", "oa-hash", "--origin-system", "oa")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    with connection.cursor() as cursor:
        for table in ("api_clients_apikey", "api_clients_apiclient", "authtoken_token"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names
            rows = repr(cursor.fetchall())
            assert key not in rows
            assert key.partition(".")[2] not in rows
    stored = ApiKey.objects.get(client__name="oa-hash")
    assert stored.prefix == key[:8]
    assert stored.hashed_key.startswith("sha512$$")


def test_the_admin_never_shows_a_key(django_user_model: Any) -> None:
    key = issue_key("oa-admin-view", origin_systems=("oa",), scopes=("intake",))
    staff = django_user_model.objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    browser = Client()
    browser.force_login(staff)
    client = ApiClient.objects.get(name="oa-admin-view")
    page = browser.get(f"/admin/api_clients/apiclient/{client.pk}/change/").content.decode()
    assert key[:8] in page  # the prefix identifies it
    assert key not in page
    assert key.partition(".")[2] not in page
    assert browser.get("/admin/authtoken/tokenproxy/").status_code == 404  # no plain-text token admin


def test_expiry_and_last_use(capsys: Any) -> None:
    call_command("create_api_token", "oa-expiring", "--origin-system", "oa", "--expires-days", "30")
    out = capsys.readouterr().out
    key = out.strip().splitlines()[-1]
    assert "expires" in out
    client = client_with_key(key)
    assert client.get("/account-creation/").status_code == 200
    stored = ApiKey.objects.get(client__name="oa-expiring")
    assert stored.last_used_at is not None
    ApiKey.objects.filter(pk=stored.pk).update(expiry_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/account-creation/")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert "create_api_token" in response.json()["detail"]


def test_origin_systems_are_required_unless_scope_all() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--origin-system"):
        call_command("create_api_token", "oa-no-origin")
    with pytest.raises(CommandError, match="Unknown scope"):
        call_command("create_api_token", "oa-bad", "--origin-system", "oa", "--scope", "intake,everything")
    call_command("create_api_token", "staff-tool", "--scope", "all")
    assert ApiClient.objects.get(name="staff-tool").scopes == ["all"]


def test_tokens_of_before_scopes_keep_working_as_hashes(django_user_model: Any) -> None:
    """The upgrade: DRF tokens become clients with scope all, the plain keys are deleted."""
    from rest_framework.authtoken.models import Token

    legacy_user = django_user_model.objects.create(username="oa-legacy")
    legacy = Token.objects.create(user=legacy_user).key
    migration = importlib.import_module("api_clients.migrations.0002_hash_existing_tokens")
    migration.hash_tokens(apps, None)
    assert not Token.objects.exists()
    client = ApiClient.objects.get(name="oa-legacy")
    assert client.scopes == ["all"]
    assert client.upgraded_from_token
    assert client_with_key(legacy).get("/account-creation/").status_code == 200
    assert client_with_key(legacy[:8] + "0" * 32).get("/account-creation/").status_code == 401
    # Narrowing it replaces the token and clears the warning.
    call_command("create_api_token", "oa-legacy", "--origin-system", "oa")
    client.refresh_from_db()
    assert not client.upgraded_from_token
    assert client.origin_systems == ["oa"]
    assert client_with_key(legacy).get("/account-creation/").status_code == 401
