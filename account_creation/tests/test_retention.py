"""purge_personal_data: names and phone numbers of long-finished tasks are anonymised.

Also: the admin shows phone numbers masked, as the API does.
"""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from account_creation.connectors import override_connectors
from account_creation.connectors.base import AccountResult, ProvisioningRequest
from account_creation.connectors.fake import FakeConnector
from account_creation.models import AccountCreationLog, AccountCreationRequest, AccountCreationTask, MailboxAddress
from account_creation.services.engine import AccountCreationService
from account_creation.services.retention import ANONYMISED_NAME
from accountsync.errors import PermanentError
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db

PHONE, MASKED = "13800138000", "138****8000"
PERSONAL = ("张三", "李四", PHONE, MASKED, "ABC Partner Ltd")


class TalkativeIdaas(FakeConnector):
    """Fails P000127 permanently with the person's name and phone in the message and details,
    as a real connector's error carries the (masked) request it sent; the traceback of an
    unexpected error could hold the number unmasked."""

    def create(self, request: ProvisioningRequest) -> AccountResult:
        if request.person.employee_number == "P000127":
            self._next(request)
            person = request.person
            raise PermanentError(
                f"IDaaS refused {person.employee_name} (mobile {MASKED})",
                details={"http_status": 400, "message": f"bad mobile {MASKED} for {person.employee_name}",
                         "request": {"userInfo": {"name": person.employee_name, "englishName": "lisi",
                                                  "mobile": MASKED, "employeeNumber": "P000127"}}},
            )
        return super().create(request)


@pytest.fixture
def finished(api_client, departments):
    """Two people: P000126 completes everything; P000127's IDaaS task fails and its dependents
    are blocked (then marked failed, as when an operator gave up on them)."""
    users = [make_user("P000126", name="张三", phoneNumber=PHONE, partnerCompany="ABC Partner Ltd"),
             make_user("P000127", name="李四", phoneNumber=PHONE)]
    response = api_client.post("/account-creation/create_accounts/", make_request(users), format="json")
    assert response.status_code == 201, response.json()
    connectors = {"idaas": TalkativeIdaas("idaas"), "welink": FakeConnector("welink"),
                  "email": FakeConnector("email")}
    with override_connectors(connectors):
        AccountCreationService(max_tasks=50).run()
    AccountCreationTask.objects.filter(status="blocked").update(status="failed")
    return connectors


def age(days: int, **filters) -> None:
    then = timezone.now() - timedelta(days=days)
    tasks = AccountCreationTask.objects.filter(**filters)
    tasks.filter(completed_at__isnull=False).update(completed_at=then, updated_at=then)
    tasks.filter(completed_at__isnull=True).update(updated_at=then)


def purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_personal_data", *args, stdout=out)
    return out.getvalue()


def stored(number: str | None = None) -> str:
    tasks = AccountCreationTask.objects.all()
    logs = AccountCreationLog.objects.all()
    if number:
        tasks, logs = tasks.filter(employee_number=number), logs.filter(task__employee_number=number)
    rows = [list(tasks.values("employee_name", "phone_number", "partner_company", "last_error")),
            list(logs.values("error_message", "error_details", "execution_context", "traceback")),
            list(AccountCreationRequest.objects.values("errors", "warnings"))]
    return json.dumps(rows, ensure_ascii=False)


def test_finished_tasks_past_the_retention_are_anonymised_keeping_the_audit_trail(finished):
    before = {t.pk: (t.employee_number, t.status, t.result) for t in AccountCreationTask.objects.all()}
    attempts_before = AccountCreationLog.objects.count()
    assert "李四" in stored()
    assert MASKED in stored()
    age(400)
    output = purge()
    assert "Anonymised 6 task(s)" in output
    assert [word for word in PERSONAL if word in stored()] == []
    for task in AccountCreationTask.objects.all():
        assert (task.employee_name, task.phone_number, task.partner_company) == (ANONYMISED_NAME, "", "")
        assert (task.employee_number, task.status, task.result) == before[task.pk]
    assert AccountCreationLog.objects.count() == attempts_before
    failed = AccountCreationLog.objects.get(task__employee_number="P000127", task__account_type="idaas")
    details = dict(failed.error_details or {})
    assert details["request"]["userInfo"]["employeeNumber"] == "P000127"
    assert details["request"]["userInfo"]["name"] == "[removed]"
    assert failed.error_message == "IDaaS refused [removed] (mobile [removed])"
    assert details["message"] == "bad mobile [removed] for [removed]"
    assert MailboxAddress.objects.filter(employee_number="P000126").exists()  # an account identifier
    # Idempotent.
    assert "Anonymised 0 task(s)" in purge()


def test_recent_tasks_and_people_with_unfinished_tasks_keep_their_data(finished, api_client):
    age(400, employee_number="P000126")
    age(10, employee_number="P000127")
    purge("--older-than", "30")
    assert AccountCreationTask.objects.filter(employee_number="P000127", employee_name="李四").count() == 3
    assert set(AccountCreationTask.objects.filter(employee_number="P000126")
               .values_list("employee_name", flat=True)) == {ANONYMISED_NAME}

    # A person with a pending task keeps everything until it finishes.
    response = api_client.post("/account-creation/create_accounts/", make_request(
        [make_user("P000127", name="李四")], business_key="bk-2", systems=["idaas"]), format="json")
    assert response.status_code == 201, response.json()
    age(400, employee_number="P000127", status="failed")
    assert "Anonymised 0 task(s)" in purge()


def test_dry_run_changes_nothing(finished):
    age(400)
    snapshot = stored()
    output = purge("--dry-run")
    assert output.startswith("Dry run: would anonymise 6 task(s)")
    assert "would be scrubbed" in output
    assert stored() == snapshot


def test_small_batches_give_the_same_result(finished, django_assert_max_num_queries):
    age(400)
    with django_assert_max_num_queries(40):  # 6 batches of one task: a fixed number per batch
        output = purge("--batch-size", "1")
    assert "Anonymised 6 task(s)" in output
    assert [word for word in PERSONAL if word in stored()] == []


def test_the_default_comes_from_the_setting_and_zero_disables_it(finished, settings):
    age(100)
    settings.PERSONAL_DATA_RETENTION_DAYS = 0
    assert "disabled" in purge()
    settings.PERSONAL_DATA_RETENTION_DAYS = 365
    assert "Anonymised 0 task(s)" in purge()
    settings.PERSONAL_DATA_RETENTION_DAYS = 90
    assert "Anonymised 6 task(s)" in purge()
    with pytest.raises(CommandError, match="at least 1 day"):
        purge("--older-than", "0")


def test_a_purged_task_retried_anyway_fails_permanently_without_a_downstream_call(finished, api_client):
    age(400)
    purge()
    idaas = AccountCreationTask.objects.get(employee_number="P000127", account_type="idaas")
    MailboxAddress.objects.filter(employee_number="P000127").delete()  # as if none was allocated yet
    assert api_client.post(f"/account-creation/{idaas.pk}/retry/").status_code == 200
    fakes = {kind: FakeConnector(kind) for kind in ("idaas", "welink", "email")}
    with override_connectors(fakes):
        AccountCreationService(max_tasks=50).run()
    idaas.refresh_from_db()
    assert idaas.status == "failed"
    assert "purge_personal_data" in idaas.last_error
    assert "new request" in idaas.last_error
    assert fakes["idaas"].calls == []
    assert not MailboxAddress.objects.filter(employee_number="P000127").exists()  # none made from "[removed]"
    # The API shows what is left.
    body = api_client.get(f"/account-creation/{idaas.pk}/").json()
    assert (body["employee_name"], body["phone_number"]) == (ANONYMISED_NAME, "")


def test_every_stored_form_of_the_phone_number_is_cut_out():
    from account_creation.services.retention import _phone_forms, scrub_text

    needles = sorted(_phone_forms("+86 138-0013-8000", "cn"), key=len, reverse=True)
    text = "sent +86-13800138000 / 13800138000 / 138****8000 / +86********8000 / +86 138-0013-8000"
    assert scrub_text(text, needles) == "sent [removed] / [removed] / [removed] / [removed] / [removed]"


# --- the admin masks phone numbers --------------------------------------------------------


def test_admin_list_and_change_views_show_the_phone_masked(finished, admin_client):
    task = AccountCreationTask.objects.get(employee_number="P000126", account_type="idaas")
    listing = admin_client.get("/admin/account_creation/accountcreationtask/")
    change = admin_client.get(f"/admin/account_creation/accountcreationtask/{task.pk}/change/")
    for response in (listing, change):
        assert response.status_code == 200
        html = response.content.decode()
        assert MASKED in html
        assert PHONE not in html
