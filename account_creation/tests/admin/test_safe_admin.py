"""The admin is safe to hand to IT operators: no deleting the audit trail, phones masked, and a
read-only history of who retried or cancelled what."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from account_creation.connectors import override_connectors
from account_creation.connectors.fake import FakeConnector
from account_creation.models import AccountCreationLog, AccountCreationRequest, AccountCreationTask, TaskStatus
from account_creation.services.engine import AccountCreationService
from account_creation.tests.ops.sandbox_data import staff_client
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db
PHONE = "13912345678"


@pytest.fixture
def superuser_client(django_user_model: Any) -> Client:
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def failed_run(api_client: Any, departments: None) -> AccountCreationTask:
    body = make_request([make_user(phoneNumber=PHONE)], business_key="safe-1")
    assert api_client.post("/account-creation/create_accounts/", body, format="json").status_code == 201
    with override_connectors({s: FakeConnector(s, default="fail") for s in ("idaas", "welink", "email")}):
        AccountCreationService(max_tasks=10).run()
    return AccountCreationTask.objects.get(account_type="idaas")


def test_no_delete_for_tasks_attempts_or_requests_even_for_a_superuser(
    superuser_client: Client, failed_run: AccountCreationTask
) -> None:
    log = AccountCreationLog.objects.filter(task=failed_run).first()
    assert log is not None
    request = failed_run.request
    for model, pk in (("accountcreationtask", failed_run.pk), ("accountcreationlog", log.pk),
                      ("accountcreationrequest", request.pk)):
        changelist = superuser_client.get(f"/admin/account_creation/{model}/").content.decode()
        assert 'value="delete_selected"' not in changelist, model
        change = superuser_client.get(f"/admin/account_creation/{model}/{pk}/change/").content.decode()
        assert f"/{pk}/delete/" not in change, model
        refused = superuser_client.post(f"/admin/account_creation/{model}/{pk}/delete/", {"post": "yes"})
        assert refused.status_code == 403, model
    assert AccountCreationTask.objects.filter(pk=failed_run.pk).exists()
    assert AccountCreationLog.objects.filter(pk=log.pk).exists()


def test_phone_numbers_are_masked_on_every_admin_page(
    superuser_client: Client, failed_run: AccountCreationTask
) -> None:
    log = AccountCreationLog.objects.filter(task=failed_run).first()
    assert log is not None
    pages = [
        "/admin/account_creation/accountcreationtask/",
        f"/admin/account_creation/accountcreationtask/{failed_run.pk}/change/",
        "/admin/account_creation/accountcreationlog/",
        f"/admin/account_creation/accountcreationlog/{log.pk}/change/",
        "/admin/account_creation/accountcreationrequest/",
        f"/admin/account_creation/accountcreationrequest/{failed_run.request.pk}/change/",
    ]
    for url in pages:
        page = superuser_client.get(url)
        assert page.status_code == 200, url
        assert PHONE not in page.content.decode(), url
    assert "5678" in superuser_client.get(pages[1]).content.decode()  # masked, not hidden


def test_history_says_who_retried_from_the_admin_and_the_dashboard(
    django_user_model: Any, failed_run: AccountCreationTask
) -> None:
    operator = staff_client(django_user_model, username="li.operator")
    response = operator.post(
        "/admin/account_creation/accountcreationtask/",
        {"action": "retry_selected", "_selected_action": [str(failed_run.pk)]},
    )
    assert response.status_code == 302
    failed_run.refresh_from_db()
    assert failed_run.status == TaskStatus.PENDING
    history = operator.get(f"/admin/account_creation/accountcreationtask/{failed_run.pk}/history/").content.decode()
    assert "li.operator" in history
    assert "Retried (put back to pending) from the admin&#x27;s task list." in history

    AccountCreationTask.objects.filter(pk=failed_run.pk).update(status=TaskStatus.FAILED)
    other = staff_client(django_user_model, username="wang.operator")
    other.post("/admin/status/retry/", {"task_id": str(failed_run.pk)})
    history = operator.get(f"/admin/account_creation/accountcreationtask/{failed_run.pk}/history/").content.decode()
    assert "wang.operator" in history
    assert "from the status dashboard" in history
    # Read-only: the history page offers nothing to change.
    assert "<form" not in history.split('id="content-main"')[1].split("</main>")[0]


def test_history_says_which_api_client_cancelled_a_request(
    oa_client: Any, departments: None, superuser_client: Client
) -> None:
    created = oa_client.post("/account-creation/create_accounts/", make_request(business_key="safe-2"), format="json")
    request_id = created.json()["requestId"]
    assert oa_client.post(f"/account-creation/requests/{request_id}/cancel/").status_code == 200
    request = AccountCreationRequest.objects.get(request_id=request_id)
    history_url = f"/admin/account_creation/accountcreationrequest/{request.pk}/history/"
    page = superuser_client.get(history_url).content.decode()
    assert "oa-bound" in page
    assert "Cancelled from the API: 3 task(s) not yet started." in page
    task = AccountCreationTask.objects.filter(request=request).first()
    assert task is not None
    task_history = superuser_client.get(f"/admin/account_creation/accountcreationtask/{task.pk}/history/")
    assert "Cancelled from the API" in task_history.content.decode()
