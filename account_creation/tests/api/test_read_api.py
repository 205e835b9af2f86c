"""The read side: task list, detail, logs, stats, schema and authentication."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from account_creation.models import AccountCreationLog, AccountCreationTask, AttemptOutcome, TaskStatus
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db

LIST = "/account-creation/"
STATS = "/account-creation/task_stats/"
CREATE = "/account-creation/create_accounts/"


def create(client, users, *, business_key="65090", systems=None, origin="oa") -> list[int]:
    response = client.post(
        CREATE, make_request(users, business_key=business_key, systems=systems, originSystem=origin), format="json"
    )
    assert response.status_code == 201, response.json()
    return [task["id"] for task in response.json()["tasks"]]


def add_log(task_id: int, attempt: int, outcome=AttemptOutcome.RETRY, message="boom") -> AccountCreationLog:
    return AccountCreationLog.objects.create(
        task_id=task_id, execution_attempt=attempt, outcome=outcome, runner="r1", error_message=message
    )


# --- list and filters ------------------------------------------------------------------


def test_list_is_paginated_newest_first(api_client, departments, monkeypatch):
    # PageNumberPagination reads PAGE_SIZE once, at import: patch the class, not settings.
    monkeypatch.setattr("rest_framework.pagination.PageNumberPagination.page_size", 4)
    ids = create(api_client, [make_user("P1"), make_user("P2")])
    first = api_client.get(LIST)
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 6
    assert body["previous"] is None
    assert body["next"]
    assert [t["id"] for t in body["results"]] == sorted(ids, reverse=True)[:4]
    second = api_client.get(body["next"]).json()
    assert [t["id"] for t in second["results"]] == sorted(ids, reverse=True)[4:]
    assert second["next"] is None
    assert second["previous"]


def test_task_json_uses_the_contract_names(api_client, departments):
    create(api_client, [make_user("P1")], systems=["idaas"])
    task = api_client.get(LIST).json()["results"][0]
    for name in ("id", "account_type", "status", "employee_number", "business_key", "origin_system",
                 "attempts", "next_attempt_at", "result"):
        assert name in task
    assert task["phone_number"] != "13800138000", "the phone number is masked"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "failed"}, {("P1", "idaas")}),
        ({"account_type": "email"}, {("P1", "email"), ("P2", "email"), ("P3", "email")}),
        ({"employee_number": "P3"}, {("P3", "idaas"), ("P3", "welink"), ("P3", "email")}),
        ({"business_key": "k2"}, {("P3", "idaas"), ("P3", "welink"), ("P3", "email")}),
        ({"origin_system": "hr"}, {("P3", "idaas"), ("P3", "welink"), ("P3", "email")}),
        ({"account_type": "idaas", "status": "pending"}, {("P2", "idaas"), ("P3", "idaas")}),
        ({"employee_number": "nobody"}, set()),
    ],
)
def test_each_filter(api_client, departments, params, expected):
    create(api_client, [make_user("P1"), make_user("P2")], business_key="k1")
    create(api_client, [make_user("P3")], business_key="k2", origin="hr")
    AccountCreationTask.objects.filter(employee_number="P1", account_type="idaas").update(status=TaskStatus.FAILED)
    response = api_client.get(LIST, params)
    assert response.status_code == 200
    got = {(t["employee_number"], t["account_type"]) for t in response.json()["results"]}
    assert got == expected
    assert response.json()["count"] == len(expected)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "done"}, "status"),
        ({"account_type": "vpn"}, "account_type"),
        ({"employee_number": "P\x001"}, "employee_number"),
        ({"business_key": "k" * 1000}, "business_key"),
        ({"origin_system": "\x00"}, "origin_system"),
    ],
)
def test_bad_filter_values_are_400(api_client, departments, params, field):
    create(api_client, [make_user("P1")])
    response = api_client.get(LIST, params)
    assert response.status_code == 400, response.content[:200]
    assert field in response.json()


# --- detail, attempts, logs ------------------------------------------------------------


def test_detail_shows_attempts_from_log_rows(api_client, departments):
    idaas_id, welink_id, _ = create(api_client, [make_user("P1")])
    add_log(idaas_id, 1)
    add_log(idaas_id, 2)
    add_log(idaas_id, 3, outcome=AttemptOutcome.SUCCEEDED, message="")
    detail = api_client.get(f"{LIST}{idaas_id}/")
    assert detail.status_code == 200
    assert detail.json()["id"] == idaas_id
    assert detail.json()["attempts"] == 3
    assert api_client.get(f"{LIST}{welink_id}/").json()["attempts"] == 0


@pytest.mark.parametrize("task_id", ["999999", "abc", "99999999999999999999999"])
def test_unknown_task_is_404(api_client, departments, task_id):
    assert api_client.get(f"{LIST}{task_id}/").status_code == 404
    assert api_client.get(f"{LIST}{task_id}/logs/").status_code == 404


def test_list_queries_do_not_grow_with_page_size(api_client, departments):
    first = create(api_client, [make_user("P0")], business_key="first", systems=["idaas"])
    add_log(first[0], 1)
    with CaptureQueriesContext(connection) as one:
        assert api_client.get(LIST).json()["count"] == 1
    ids = create(api_client, [make_user(f"P{i}") for i in range(1, 16)], business_key="more")
    for task_id in ids:
        add_log(task_id, 1)
        add_log(task_id, 2)
    with CaptureQueriesContext(connection) as many:
        results = api_client.get(LIST).json()["results"]
    assert len(results) == 46
    assert {t["attempts"] for t in results} == {1, 2}
    assert len(many) == len(one)


def test_logs_are_oldest_first(api_client, departments):
    task_id = create(api_client, [make_user("P1")], systems=["idaas"])[0]
    other = create(api_client, [make_user("P2")], business_key="other", systems=["idaas"])[0]
    add_log(task_id, 2, message="second")
    add_log(task_id, 1, message="first")
    add_log(task_id, 3, outcome=AttemptOutcome.SUCCEEDED, message="")
    add_log(other, 1, message="not mine")
    response = api_client.get(f"{LIST}{task_id}/logs/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["execution_attempt"] for row in rows] == [1, 2, 3]
    assert [row["error_message"] for row in rows] == ["first", "second", ""]
    assert rows[2]["outcome"] == "succeeded"


# --- stats -----------------------------------------------------------------------------


def test_task_stats_counts_and_shape_in_one_query(api_client, departments):
    create(api_client, [make_user(f"P{i}") for i in range(4)])
    tasks = AccountCreationTask.objects
    tasks.filter(employee_number="P0").update(status=TaskStatus.COMPLETED)
    tasks.filter(employee_number="P1", account_type="idaas").update(status=TaskStatus.FAILED)
    tasks.filter(employee_number="P1").exclude(account_type="idaas").update(status=TaskStatus.BLOCKED)
    tasks.filter(employee_number="P2", account_type="idaas").update(
        status=TaskStatus.PROCESSING, locked_by="r1", locked_until="2030-01-01T00:00:00Z"
    )
    with CaptureQueriesContext(connection) as queries:
        response = api_client.get(STATS)
    assert response.status_code == 200
    stats = response.json()
    assert {k: stats[k] for k in stats if k != "stats_by_type"} == {
        "total_tasks": 12,
        "pending_tasks": 5,
        "processing_tasks": 1,
        "completed_tasks": 3,
        "failed_tasks": 1,
        "blocked_tasks": 2,
        "cancelled_tasks": 0,
        "overall_completion_rate": 25.0,
    }
    assert set(stats["stats_by_type"]) == {"idaas", "welink", "email"}
    assert stats["stats_by_type"]["idaas"] == {
        "total_tasks": 4,
        "pending_tasks": 1,
        "processing_tasks": 1,
        "completed_tasks": 1,
        "failed_tasks": 1,
        "blocked_tasks": 0,
        "cancelled_tasks": 0,
        "completion_rate": 25.0,
    }
    assert stats["stats_by_type"]["email"]["blocked_tasks"] == 1
    task_queries = [q for q in queries.captured_queries if "account_creation_accountcreationtask" in q["sql"]]
    assert len(task_queries) == 1


def test_task_stats_on_an_empty_database(api_client, db):
    stats = api_client.get(STATS).json()
    assert stats["total_tasks"] == 0
    assert stats["overall_completion_rate"] == 0.0
    assert stats["stats_by_type"]["email"]["total_tasks"] == 0


# --- read only, authentication ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", LIST),
        ("put", "{id}/"),
        ("patch", "{id}/"),
        ("delete", "{id}/"),
        ("put", "{id}/logs/"),
        ("delete", "{id}/logs/"),
        ("post", STATS),
        ("get", CREATE),
    ],
)
def test_tasks_cannot_be_written_through_the_api(api_client, departments, method, path):
    task_id = create(api_client, [make_user("P1")], systems=["idaas"])[0]
    before = list(AccountCreationTask.objects.values())
    url = path if path.startswith("/") else f"{LIST}{path.format(id=task_id)}"
    response = getattr(api_client, method)(url, {"status": "completed"}, format="json")
    assert response.status_code in (403, 405)
    assert list(AccountCreationTask.objects.values()) == before


PROTECTED = [
    ("get", LIST),
    ("get", f"{LIST}1/"),
    ("get", f"{LIST}1/logs/"),
    ("get", STATS),
    ("post", CREATE),
    ("get", "/department-mappings/"),
    ("post", "/department-mappings/"),
    ("get", "/department-mappings/1/"),
    ("put", "/department-mappings/1/"),
    ("patch", "/department-mappings/1/"),
    ("delete", "/department-mappings/1/"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize("token", [None, "Token not-a-real-token", "Bearer abc", "Token "])
def test_every_api_route_needs_a_valid_token(departments, method, path, token):
    client = APIClient()
    if token is not None:
        client.credentials(HTTP_AUTHORIZATION=token)
    before = AccountCreationTask.objects.count()
    response = getattr(client, method)(path, make_request(), format="json")
    assert response.status_code == 401, (path, response.status_code)
    assert AccountCreationTask.objects.count() == before


@pytest.mark.parametrize("path", ["/healthz", "/api/docs/"])
def test_health_and_the_docs_page_need_no_token(anon_client, db, path):
    assert anon_client.get(path).status_code == 200


def test_the_api_document_needs_a_token_outside_development(anon_client, api_client, settings):
    assert settings.API_DOCS_PUBLIC is False
    assert anon_client.get("/api/schema/").status_code == 401
    assert api_client.get("/api/schema/").status_code == 200
    settings.API_DOCS_PUBLIC = True
    assert anon_client.get("/api/schema/").status_code == 200


def _schema(client) -> dict:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def test_schema_is_openapi_and_documents_create_accounts(api_client):
    schema = _schema(api_client)
    assert schema["openapi"].startswith("3.")
    operation = schema["paths"]["/account-creation/create_accounts/"]["post"]
    assert {"201", "207", "400"} <= set(operation["responses"])
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    request_schema = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(request_schema["required"]) == {
        "originSystem", "businessKey", "accountType", "employeeType", "systemList", "userList"
    }
    user_items = request_schema["properties"]["userList"]["items"]
    if "$ref" in user_items:
        user_items = schema["components"]["schemas"][user_items["$ref"].rsplit("/", 1)[1]]
    assert {"employeeNumber", "employeeName", "departmentCode", "phoneNumber", "partnerCompany", "country"} <= set(
        user_items.get("properties", {})
    )
    for path in ("/account-creation/", "/account-creation/{id}/", "/account-creation/{id}/logs/",
                 "/account-creation/task_stats/", "/department-mappings/", "/department-mappings/{id}/"):
        assert path in schema["paths"], path
    list_params = {p["name"] for p in schema["paths"]["/account-creation/"]["get"]["parameters"]}
    assert {"status", "account_type", "employee_number", "business_key", "origin_system"} <= list_params


def test_schema_is_valid_openapi(api_client):
    from drf_spectacular.validation import validate_schema

    validate_schema(_schema(api_client))
