"""The request resource: requestId and Location, status and people derived from the tasks."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from account_creation.connectors import override_connectors
from account_creation.connectors.fake import FakeConnector
from account_creation.models import AccountCreationTask, TaskStatus
from account_creation.services.engine import AccountCreationService
from conftest import client_with_key, issue_key, make_request, make_user

pytestmark = pytest.mark.django_db

CREATE = "/account-creation/create_accounts/"
REQUESTS = "/account-creation/requests/"


@pytest.fixture
def fakes():
    connectors = {system: FakeConnector(system) for system in ("idaas", "welink", "email")}
    with override_connectors(connectors):
        yield connectors


def create(client, users=None, **overrides):
    response = client.post(CREATE, make_request(users, **overrides), format="json")
    assert response.status_code in (200, 201, 207), response.json()
    return response


def detail(client, request_id):
    response = client.get(f"{REQUESTS}{request_id}/")
    assert response.status_code == 200, response.content
    return response.json()


def run_engine():
    return AccountCreationService(max_tasks=500).run()


def test_every_accepted_answer_names_the_request_and_its_location(api_client, departments):
    first = create(api_client)
    request_id = first.json()["requestId"]
    assert first.status_code == 201
    assert request_id.startswith("req_")
    assert len(request_id) > 10
    assert first["Location"] == f"http://testserver{REQUESTS}{request_id}/"
    replay = create(api_client)
    assert replay.status_code == 200
    assert replay.json()["requestId"] == request_id
    assert replay["Location"] == first["Location"]
    partial = create(api_client, [make_user("P1"), make_user("P2", country="xx")], business_key="k2")
    assert partial.status_code == 207
    assert partial.json()["requestId"] not in ("", request_id)
    refused = api_client.post(CREATE, make_request([make_user("P3", country="xx")], business_key="k3"), format="json")
    assert refused.status_code == 400
    assert "requestId" not in refused.json()
    assert not refused.has_header("Location")


def test_the_request_follows_its_tasks_until_every_person_is_ready(api_client, departments, fakes):
    request_id = create(api_client).json()["requestId"]
    before = detail(api_client, request_id)
    assert before["status"] == "pending"
    assert before["originSystem"] == "oa"
    assert before["businessKey"] == "65090"
    assert before["progress"] == {
        "total": 3, "completed": 0, "failed": 0, "blocked": 0, "pending": 3, "processing": 0, "cancelled": 0,
    }
    assert before["completedAt"] is None
    [person] = before["people"]
    assert person["employeeNumber"] == "P000126"
    assert person["employeeName"] == "张三"
    assert person["ready"] is False
    assert list(person["accounts"]) == ["idaas", "welink", "email"]
    assert person["accounts"]["idaas"]["status"] == "pending"
    assert person["accounts"]["idaas"]["attempts"] == 0

    run_engine()
    after = detail(api_client, request_id)
    assert after["status"] == "completed"
    assert after["progress"]["completed"] == 3
    assert after["completedAt"] is not None
    assert after["completedAt"].endswith("+08:00")
    [person] = after["people"]
    assert person["ready"] is True
    idaas, email = person["accounts"]["idaas"], person["accounts"]["email"]
    assert idaas["username"] == "zP000126"
    assert idaas["attempts"] == 1
    assert idaas["accountId"]
    assert email["email"] == "zhangsan@corp.example.com"


def test_a_failed_person_makes_the_request_failed_once_nothing_is_left(api_client, departments, fakes, settings):
    settings.ACCOUNT_CREATION_BACKOFF_BASE_SECONDS = 3600
    fakes["idaas"].script_for("P1", "fail")
    fakes["idaas"].script_for("P2", "retry")
    request_id = create(api_client, [make_user("P1", name="张三"), make_user("P2", name="李四"),
                                     make_user("P3", name="王五")]).json()["requestId"]
    run_engine()
    body = detail(api_client, request_id)
    # P2 waits for its next attempt: something is left to do.
    assert body["status"] == "in_progress"
    people = {p["employeeNumber"]: p for p in body["people"]}
    assert people["P1"]["accounts"]["idaas"]["status"] == "failed"
    assert "refused" in people["P1"]["accounts"]["idaas"]["lastError"]
    assert people["P1"]["accounts"]["welink"]["status"] == "blocked"
    assert people["P2"]["accounts"]["idaas"]["nextAttemptAt"].endswith("+08:00")
    assert people["P3"]["ready"] is True
    assert not people["P1"]["ready"]
    assert body["progress"]["failed"] == 1
    assert body["progress"]["blocked"] == 2
    AccountCreationTask.objects.filter(employee_number="P2", account_type="idaas").update(next_attempt_at=None)
    fakes["idaas"].script_for("P2", "fail")
    run_engine()
    assert detail(api_client, request_id)["status"] == "failed"
    listed = api_client.get(REQUESTS, {"status": "failed"}).json()
    assert [row["requestId"] for row in listed["results"]] == [request_id]


def test_rejected_people_and_warnings_are_part_of_the_request(api_client, departments):
    users = [make_user("P1"), make_user("P2", country="xx"), make_user("P3", departmentCode="NOPE")]
    response = create(api_client, users)
    body = detail(api_client, response.json()["requestId"])
    assert [p["employeeNumber"] for p in body["people"]] == ["P1", "P3"]
    assert [(e["employeeNumber"], e["field"]) for e in body["errors"]] == [("P2", "country")]
    assert [(w["employeeNumber"], w["field"]) for w in body["warnings"]] == [("P3", "departmentCode")]


def test_the_list_filters_and_paginates_like_the_task_list(api_client, departments, monkeypatch):
    ids = [create(api_client, [make_user(f"P{i}")], business_key=f"k{i}").json()["requestId"] for i in range(3)]
    listed = api_client.get(REQUESTS).json()
    assert listed["count"] == 3
    assert listed["next"] is None
    assert [row["requestId"] for row in listed["results"]] == ids[::-1]
    assert set(listed["results"][0]) >= {"requestId", "status", "progress", "createdAt", "completedAt"}
    assert [r["requestId"] for r in api_client.get(REQUESTS, {"business_key": "k1"}).json()["results"]] == [ids[1]]
    assert api_client.get(REQUESTS, {"status": "pending"}).json()["count"] == 3
    assert api_client.get(REQUESTS, {"status": "completed"}).json()["count"] == 0
    assert api_client.get(REQUESTS, {"origin_system": "hr"}).json()["count"] == 0
    bad = api_client.get(REQUESTS, {"status": "done"})
    assert bad.status_code == 400
    assert "status" in bad.json()
    monkeypatch.setattr("account_creation.api.pagination.TaskPagination.page_size", 2)
    page = api_client.get(REQUESTS).json()
    assert len(page["results"]) == 2
    assert page["next"].endswith("page=2")
    assert [r["requestId"] for r in api_client.get(REQUESTS, {"page": 2}).json()["results"]] == [ids[0]]


def test_another_clients_request_is_not_found(departments):
    oa = client_with_key(issue_key("oa-app", origin_systems=("oa",), scopes=("intake", "read", "retry")))
    hr = client_with_key(issue_key("hr-app", origin_systems=("hr",), scopes=("intake", "read", "retry")))
    request_id = create(oa).json()["requestId"]
    assert hr.get(f"{REQUESTS}{request_id}/").status_code == 404
    assert hr.post(f"{REQUESTS}{request_id}/cancel/").status_code == 404
    assert hr.get(REQUESTS).json()["count"] == 0
    assert oa.get(REQUESTS).json()["count"] == 1
    reader = client_with_key(issue_key("oa-reader", origin_systems=("oa",), scopes=("read",)))
    assert reader.get(f"{REQUESTS}{request_id}/").status_code == 200
    refused = reader.post(f"{REQUESTS}{request_id}/cancel/")
    assert refused.status_code == 403
    assert "retry" in refused.json()["detail"]
    assert oa.get(f"{REQUESTS}req_doesnotexist/").status_code == 404


@pytest.mark.parametrize("people", [2, 40])
def test_the_detail_answers_in_a_fixed_number_of_queries(api_client, departments, people):
    users = [make_user(f"P{i:04d}", name="张三") for i in range(people)]
    request_id = create(api_client, users).json()["requestId"]
    # Authentication (key, client) + request with progress + tasks with attempts; nothing per person.
    with CaptureQueriesContext(connection) as queries:
        body = detail(api_client, request_id)
    assert len(body["people"]) == people
    assert len(queries.captured_queries) <= 6, [q["sql"][:120] for q in queries.captured_queries]


def test_reused_tasks_show_in_the_later_request(api_client, departments):
    first = create(api_client, [make_user("P1")], systems=["idaas"], business_key="k1").json()["requestId"]
    second = create(api_client, [make_user("P1")], systems=["idaas", "email"], business_key="k2").json()
    body = detail(api_client, second["requestId"])
    accounts = body["people"][0]["accounts"]
    assert accounts["idaas"]["reusedFromRequestId"] == first
    assert "reusedFromRequestId" not in accounts["email"]
    # The reused IDaaS task counts in the later request too: its people are what it tracks.
    assert body["progress"]["total"] == 2
    assert body["progress"]["pending"] == 2


def test_task_status_cancelled_is_a_filter_and_a_statistic(api_client, departments):
    create(api_client)
    AccountCreationTask.objects.filter(account_type="email").update(status=TaskStatus.CANCELLED)
    assert api_client.get("/account-creation/", {"status": "cancelled"}).json()["count"] == 1
    stats = api_client.get("/account-creation/task_stats/").json()
    assert stats["cancelled_tasks"] == 1
    assert stats["failed_tasks"] == 0
    # Cancelled work is neither done nor failed: 0 of 2 remaining tasks completed.
    assert stats["overall_completion_rate"] == 0.0
