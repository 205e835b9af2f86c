"""A request that reuses another request's tasks: its status, progress, cancel and callbacks
follow the reused tasks (they are its people's accounts), whoever created them."""

from __future__ import annotations

import pytest

from account_creation.models import AccountCreationTask, RequestReuse, TaskStatus
from account_creation.services.engine import AccountCreationService
from callbacks.models import CallbackEvent
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db

CREATE = "/account-creation/create_accounts/"
REQUESTS = "/account-creation/requests/"


def create(client, users=None, **overrides):
    response = client.post(CREATE, make_request(users, **overrides), format="json")
    assert response.status_code in (200, 201, 207), response.json()
    return response.json()


def detail(client, request_id):
    response = client.get(f"{REQUESTS}{request_id}/")
    assert response.status_code == 200, response.content
    return response.json()


def run():
    # Callbacks are looked at through the outbox (the events written), not delivered here.
    AccountCreationService(max_tasks=1000, deliver_callbacks=False).run()


def events(request_id):
    return sorted(
        (event.type, event.payload["data"].get("employeeNumber", ""), event.payload["data"].get("status", ""))
        for event in CallbackEvent.objects.filter(payload__data__requestId=request_id)
    )


def test_a_request_reusing_pending_tasks_is_not_done_until_they_are(api_client, oa_app, fakes):
    create(api_client, [make_user("P1")], business_key="first")
    later = create(oa_app, [make_user("P1")], business_key="again")
    assert later["created_tasks"] == 0
    assert RequestReuse.objects.filter(request__request_id=later["requestId"]).count() == 3
    body = detail(oa_app, later["requestId"])
    assert body["status"] == "pending"
    assert body["progress"] == {"total": 3, "completed": 0, "failed": 0, "blocked": 0, "pending": 3,
                                     "processing": 0, "cancelled": 0}
    assert body["people"][0]["ready"] is False
    assert body["completedAt"] is None
    assert events(later["requestId"]) == []

    run()
    body = detail(oa_app, later["requestId"])
    assert body["status"] == "completed"
    assert body["progress"]["completed"] == 3
    assert body["people"][0]["ready"] is True
    assert body["completedAt"] is not None
    # The later request's client has a callback: its person and request events were written when
    # the reused tasks finished, although they belong to another client's request.
    assert events(later["requestId"]) == [("person.completed", "P1", ""), ("request.completed", "", "completed")]


def test_a_request_whose_accounts_already_exist_is_completed_with_its_events_at_once(api_client, oa_app, fakes):
    create(api_client, [make_user("P1")], business_key="first")
    run()
    later = create(oa_app, [make_user("P1")], business_key="again")
    body = detail(oa_app, later["requestId"])
    assert body["status"] == "completed"
    assert body["people"][0]["ready"] is True
    assert events(later["requestId"]) == [("person.completed", "P1", ""), ("request.completed", "", "completed")]
    completed = CallbackEvent.objects.get(type="person.completed", payload__data__requestId=later["requestId"])
    assert completed.payload["data"]["accounts"]["idaas"]["username"] == "zP1"


def test_dependents_blocked_in_another_request_get_their_events(api_client, oa_app, fakes):
    fakes["idaas"].script_for("P1", "fail")
    create(api_client, [make_user("P1")], systems=["idaas"], business_key="first")
    # The later request asks only for WeLink: its own task, which waits for the first one's IDaaS.
    later = create(oa_app, [make_user("P1")], systems=["welink"], business_key="welink-only")
    assert later["created_tasks"] == 1
    run()
    assert AccountCreationTask.objects.get(account_type="welink").status == TaskStatus.BLOCKED
    assert detail(oa_app, later["requestId"])["status"] == "failed"
    assert events(later["requestId"]) == [("person.failed", "P1", ""), ("request.completed", "", "failed")]


def test_cancelling_a_request_leaves_the_tasks_it_reused_to_their_own_request(api_client, oa_app, fakes):
    first = create(api_client, [make_user("P1")], business_key="first")
    later = create(oa_app, [make_user("P1"), make_user("P2", name="李四")], business_key="again")
    assert later["created_tasks"] == 3  # P2's own; P1's three are reused
    response = oa_app.post(f"{REQUESTS}{later['requestId']}/cancel/")
    assert response.status_code == 200, response.content
    assert detail(oa_app, later["requestId"])["status"] == "cancelled"
    assert set(AccountCreationTask.objects.filter(employee_number="P1").values_list("status", flat=True)) == {
        TaskStatus.PENDING
    }
    assert detail(api_client, first["requestId"])["status"] == "pending"
    assert ("request.completed", "", "cancelled") in events(later["requestId"])
    # Cancelling again: the request is finished.
    assert oa_app.post(f"{REQUESTS}{later['requestId']}/cancel/").status_code == 409


def test_cancelling_the_first_request_hands_its_reused_tasks_to_the_later_one(api_client, oa_app, fakes):
    first = create(api_client, [make_user("P1"), make_user("P2", name="李四")], business_key="first")
    later = create(oa_app, [make_user("P1")], business_key="again")
    response = api_client.post(f"{REQUESTS}{first['requestId']}/cancel/")
    assert response.status_code == 200, response.content
    # P2's tasks (wanted by nobody else) are cancelled; P1's pass to the request that still wants them.
    assert set(AccountCreationTask.objects.filter(employee_number="P2").values_list("status", flat=True)) == {
        TaskStatus.CANCELLED
    }
    p1 = AccountCreationTask.objects.filter(employee_number="P1")
    assert set(p1.values_list("status", flat=True)) == {TaskStatus.PENDING}
    assert set(p1.values_list("request__request_id", "business_key")) == {(later["requestId"], "again")}
    assert detail(api_client, first["requestId"])["status"] == "cancelled"
    assert detail(oa_app, later["requestId"])["status"] == "pending"
    run()
    body = detail(oa_app, later["requestId"])
    assert body["status"] == "completed"
    assert body["people"][0]["ready"] is True
    assert body["progress"]["total"] == 3
    assert detail(api_client, first["requestId"])["status"] == "cancelled"
    assert ("request.completed", "", "completed") in events(later["requestId"])


def test_a_request_withdrawn_while_it_waited_for_reused_tasks_is_cancelled(api_client, oa_app, fakes):
    create(api_client, [make_user("P1")], systems=["idaas"], business_key="first")
    later = create(oa_app, [make_user("P1"), make_user("P2", name="李四")], systems=["idaas"], business_key="again")
    fakes["idaas"].script_for("P1", "retry")  # P1's (reused) IDaaS task keeps waiting
    run()
    assert detail(oa_app, later["requestId"])["status"] == "in_progress"  # P2's own task is done
    assert oa_app.post(f"{REQUESTS}{later['requestId']}/cancel/").status_code == 200
    body = detail(oa_app, later["requestId"])
    assert body["status"] == "cancelled"
    assert body["completedAt"] is not None
    assert ("request.completed", "", "cancelled") in events(later["requestId"])


def test_a_request_whose_accounts_existed_finished_when_it_was_accepted(api_client, oa_app, fakes):
    create(api_client, [make_user("P1")], business_key="first")
    run()
    later = create(oa_app, [make_user("P1")], business_key="again")
    body = detail(oa_app, later["requestId"])
    assert body["completedAt"] >= body["createdAt"]
