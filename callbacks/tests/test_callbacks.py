"""Completion callbacks end to end: the outbox, signed delivery to a real HTTP receiver, retries."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from io import StringIO

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from account_creation.connectors.base import AccountResult
from account_creation.models import AccountCreationTask, TaskStatus
from account_creation.services.engine import AccountCreationService
from account_creation.services.queue import task_claim_batch, task_finish_success
from callbacks.delivery import deliveries_claim, signed_headers
from callbacks.models import CallbackAttempt, CallbackEvent, DeliveryStatus, new_secret
from callbacks.services import callback_configure
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db

CREATE = "/account-creation/create_accounts/"


def create(client, users=None, **overrides):
    response = client.post(CREATE, make_request(users, **overrides), format="json")
    assert response.status_code in (200, 201, 207), response.json()
    return response.json()


def run_until_quiet(max_runs=40):
    for _ in range(max_runs):
        summary = AccountCreationService(max_tasks=1000).run()
        open_tasks = AccountCreationTask.objects.filter(status__in=[TaskStatus.PENDING, TaskStatus.PROCESSING])
        open_events = CallbackEvent.objects.exclude(status__in=[DeliveryStatus.DELIVERED, DeliveryStatus.FAILED])
        if not open_tasks.exists() and not open_events.exists():
            return summary
    raise AssertionError("the engine did not settle")


def received(oa, kind=None):
    events = oa.snapshot()["events"]
    return [event for event in events if kind is None or event["type"] == kind]


@pytest.mark.slow
def test_every_person_and_the_request_get_exactly_one_event_despite_faults(oa_app, oa, flaky):
    people = [make_user(f"P{i:04d}", name="张三") for i in range(50)]
    request_id = create(oa_app, people)["requestId"]
    run_until_quiet()
    by_person = Counter(
        event["data"]["employeeNumber"] for event in received(oa) if event["type"].startswith("person.")
    )
    assert by_person == Counter({f"P{i:04d}": 1 for i in range(50)})
    kinds = Counter(event["type"] for event in received(oa))
    assert kinds["person.failed"] > 0, "30 % faults should fail somebody"
    assert kinds["person.completed"] + kinds["person.failed"] == 50
    [done] = received(oa, "request.completed")
    assert done["data"]["requestId"] == request_id
    assert done["data"]["status"] == "failed"
    assert done["data"]["progress"]["total"] == 150
    snapshot = oa.snapshot()
    assert snapshot["rejected_signatures"] == 0
    assert CallbackEvent.objects.count() == 51
    assert set(CallbackEvent.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}
    # The receiver saw each webhook-id once (no retries were needed: it never failed).
    assert set(snapshot["deliveries"].values()) == {1}
    completed = next(event for event in received(oa, "person.completed"))
    account = completed["data"]["accounts"]["idaas"]
    assert account["status"] == "completed"
    assert account["username"].endswith(completed["data"]["employeeNumber"])


def test_a_receiver_failing_the_first_two_attempts_gets_each_event_with_the_same_id(oa_app, oa, fakes):
    oa.configure({"fail_first": 2})
    create(oa_app)
    run_until_quiet()
    snapshot = oa.snapshot()
    # Events are not ordered among themselves (at-least-once, delivered in parallel).
    assert sorted(event["type"] for event in snapshot["events"]) == ["person.completed", "request.completed"]
    assert set(snapshot["deliveries"].values()) == {3}
    for event in CallbackEvent.objects.all():
        assert event.status == DeliveryStatus.DELIVERED
        attempts = list(event.delivery_attempts.order_by("number").values_list("status_code", flat=True))
        assert attempts == [503, 503, 200]
        assert "failing the first 2" in event.delivery_attempts.order_by("number")[0].response_excerpt


def test_a_receiver_down_for_the_whole_run_leaves_deliveries_pending_and_accounts_unaffected(
    oa_app, oa, fakes, settings
):
    settings.CALLBACK_BACKOFF_BASE_SECONDS = 30
    oa.configure({"down_seconds": 3600})
    create(oa_app, [make_user(f"P{i}") for i in range(5)])
    summary = AccountCreationService(max_tasks=100).run()
    assert summary.total("completed") == 15
    assert summary.callbacks is not None
    assert summary.callbacks.retried == 6
    now = timezone.now()
    for event in CallbackEvent.objects.all():
        assert event.status == DeliveryStatus.PENDING
        # The contract's schedule: the first retry after CALLBACK_BACKOFF_BASE_SECONDS (30 s),
        # jittered later, never sooner.
        attempted = event.delivery_attempts.get().created_at
        assert attempted + timedelta(seconds=30) <= event.next_attempt_at <= now + timedelta(seconds=45)
        assert "HTTP 503" in event.last_error
    # Every account was created before the first delivery was tried.
    last_task = AccountCreationTask.objects.order_by("-completed_at").values_list("completed_at", flat=True)[0]
    first_attempt = CallbackAttempt.objects.order_by("created_at").values_list("created_at", flat=True)[0]
    assert last_task is not None
    assert last_task <= first_attempt


def test_signatures_verify_with_the_secret_and_both_secrets_after_a_rotation(oa_app, fakes):
    create(oa_app)
    run_until_quiet()
    event = CallbackEvent.objects.select_related("endpoint").get(type="request.completed")
    old_secret = event.endpoint.secret
    body = '{"type":"x"}'
    headers = signed_headers(event, body, timezone.now())
    Webhook(old_secret).verify(body, headers)
    rotated = callback_configure(client_name="oa-app", rotate_secret=True).endpoint
    assert rotated.secret != old_secret
    event.endpoint = rotated
    headers = signed_headers(event, body, timezone.now())
    assert headers["webhook-signature"].count("v1,") == 2
    Webhook(old_secret).verify(body, headers)
    Webhook(rotated.secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


def test_a_person_retried_after_failing_emits_person_completed_then(oa_app, oa, fakes, settings):
    fakes["idaas"].script_for("P000126", "fail")
    create(oa_app)
    run_until_quiet()
    assert sorted(event["type"] for event in received(oa)) == ["person.failed", "request.completed"]
    task = AccountCreationTask.objects.get(account_type="idaas")
    assert oa_app.post(f"/account-creation/{task.pk}/retry/").status_code == 200
    run_until_quiet()
    assert sorted(event["type"] for event in received(oa)[2:]) == ["person.completed", "request.completed"]
    # The request finished again, differently: the OA learns its new status once.
    assert [event["data"]["status"] for event in received(oa, "request.completed")] == ["failed", "completed"]
    run_until_quiet()
    assert len(received(oa)) == 4


def test_no_event_for_a_change_that_rolled_back(oa_app, fakes, monkeypatch):
    create(oa_app)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    [claim] = task_claim_batch(runner_id="r1", limit=1, account_types=["idaas"])
    assert claim.notify
    monkeypatch.setattr("account_creation.services.queue._release_dependents", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        task_finish_success(claim=claim, runner_id="r1", result=AccountResult("id-1", "zP000126", "z@x"))
    assert AccountCreationTask.objects.get(account_type="idaas").status == TaskStatus.PROCESSING
    assert not CallbackEvent.objects.exists()


def test_clients_without_a_callback_get_no_events(api_client, departments, fakes):
    create(api_client)
    AccountCreationService(max_tasks=50).run()
    assert not CallbackEvent.objects.exists()


def test_deliveries_to_one_receiver_are_limited_in_concurrency(oa_app, fakes, settings):
    settings.CALLBACK_CONCURRENCY_PER_RECEIVER = 2
    create(oa_app, [make_user(f"P{i}") for i in range(6)])
    AccountCreationService(max_tasks=100, deliver_callbacks=False).run()
    assert CallbackEvent.objects.count() == 7
    first = deliveries_claim(runner_id="r1", limit=8)
    second = deliveries_claim(runner_id="r2", limit=8)
    assert len(first) == 2
    assert second == []


def test_configure_callback_command(db, departments, sandbox_server, settings):
    from conftest import issue_key

    issue_key("hr-app", origin_systems=("hr",))
    out = StringIO()
    call_command("configure_callback", "hr-app", "--url", f"{sandbox_server.url}/_sandbox/oa/callback", stdout=out)
    secret = out.getvalue().strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    with pytest.raises(CommandError, match="must use https"):
        call_command("configure_callback", "hr-app", "--url", "http://oa.example.com/hook", stdout=StringIO())
    settings.CALLBACK_ALLOW_HTTP = True
    call_command("configure_callback", "hr-app", "--url", "http://oa.example.com/hook", stdout=StringIO())
    out = StringIO()
    call_command("configure_callback", "hr-app", "--disable", stdout=out)
    assert "(disabled)" in out.getvalue()
    assert out.getvalue().strip().splitlines()[-1] == secret
    with pytest.raises(CommandError, match="No API client named 'nobody'"):
        call_command("configure_callback", "nobody", "--url", "https://x.example.com/", stdout=StringIO())
    with pytest.raises(CommandError, match="not an http"):
        call_command("configure_callback", "hr-app", "--url", "ftp://x", stdout=StringIO())


def test_the_sandbox_receiver_refuses_a_bad_signature(oa, sandbox_server):
    oa.configure({"secret": "whsec_" + "A" * 43 + "="})
    answer = requests.post(
        f"{sandbox_server.url}/_sandbox/oa/callback", data=b'{"type":"x"}',
        headers={"webhook-id": "msg_1", "webhook-timestamp": str(int(timezone.now().timestamp())),
                 "webhook-signature": "v1,AAAA"},
        timeout=5,
    )
    assert answer.status_code == 401
    assert oa.snapshot()["rejected_signatures"] == 1


def test_an_event_gives_up_after_its_attempts_is_counted_and_can_be_redelivered(oa_app, oa, fakes, settings,
                                                                                 admin_client):
    settings.CALLBACK_MAX_ATTEMPTS = 2
    oa.configure({"down_seconds": 3600})
    create(oa_app)
    AccountCreationService(max_tasks=50).run()
    AccountCreationService(max_tasks=50).run()
    assert set(CallbackEvent.objects.values_list("status", flat=True)) == {DeliveryStatus.FAILED}
    event = CallbackEvent.objects.get(type="request.completed")
    assert "Gave up after 2 attempts" in event.last_error
    metrics = admin_client.get("/metrics").content.decode()
    assert 'accountsync_callback_events{status="failed"} 2.0' in metrics
    page = admin_client.get(f"/admin/callbacks/callbackevent/{event.pk}/change/").content.decode()
    assert event.event_id in page
    assert "HTTP 503" in page
    assert oa_app.endpoint.secret not in page
    oa.configure({"down_seconds": 0})
    selected = [str(pk) for pk in CallbackEvent.objects.values_list("pk", flat=True)]
    response = admin_client.post(
        "/admin/callbacks/callbackevent/", {"action": "redeliver", "_selected_action": selected}, follow=True
    )
    assert "2 event(s) will be delivered" in response.content.decode()
    AccountCreationService(max_tasks=50).run()
    assert set(CallbackEvent.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}
    assert sorted(oa.snapshot()["deliveries"].values()) == [3, 3]
    endpoint_page = admin_client.get(f"/admin/callbacks/callbackendpoint/{oa_app.endpoint.pk}/change/").content.decode()
    assert oa_app.endpoint.secret not in endpoint_page
