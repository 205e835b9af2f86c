"""POST /account-creation/create_accounts/: the intake contract of DESIGN.md."""

from __future__ import annotations

import json
import threading

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from account_creation.models import AccountCreationRequest, AccountCreationTask, TaskStatus
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db

URL = "/account-creation/create_accounts/"


def post(client, body):
    # json.dumps escapes non-ASCII, so even a lone surrogate reaches the server as the
    # OA system would send it (APIClient's renderer cannot encode one).
    return client.generic("POST", URL, json.dumps(body), content_type="application/json")


def post_raw(client, raw: str | bytes, content_type: str = "application/json"):
    return client.generic("POST", URL, raw, content_type=content_type)


def assert_nothing_written():
    assert AccountCreationTask.objects.count() == 0
    assert AccountCreationRequest.objects.count() == 0


def error_fields(response) -> set[str]:
    return {error["field"] for error in response.json()["errors"]}


# --- the happy path and replays -------------------------------------------------------


def test_spec_example_creates_one_task_per_system(api_client, departments):
    response = post(api_client, make_request())
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["success"] is True
    assert body["created_tasks"] == 3
    assert body["errors"] == []
    assert body["warnings"] == []
    assert [t["account_type"] for t in body["tasks"]] == ["idaas", "welink", "email"]
    assert all(t["created"] for t in body["tasks"])
    tasks = AccountCreationTask.objects.order_by("sequence")
    assert [(t.employee_number, t.account_type, t.status) for t in tasks] == [
        ("P000126", "idaas", TaskStatus.PENDING),
        ("P000126", "welink", TaskStatus.PENDING),
        ("P000126", "email", TaskStatus.PENDING),
    ]
    assert tasks[0].employee_name == "张三"
    assert tasks[0].department_code == "120000"


def test_replay_answers_existing_tasks_and_writes_nothing(api_client, departments):
    first = post(api_client, make_request()).json()
    again = post(api_client, make_request())
    assert again.status_code == 200, again.json()
    body = again.json()
    assert body["created_tasks"] == 0
    assert body["replayed"] is True
    assert [t["id"] for t in body["tasks"]] == [t["id"] for t in first["tasks"]]
    assert AccountCreationTask.objects.count() == 3
    assert AccountCreationRequest.objects.count() == 1


def test_replay_of_a_partly_rejected_request_repeats_errors(api_client, departments):
    body = make_request([make_user("P1"), make_user("P2", phoneNumber="x")])
    first = post(api_client, body)
    assert first.status_code == 207
    again = post(api_client, body)
    assert again.status_code == 200
    assert again.json()["errors"] == first.json()["errors"]
    assert AccountCreationTask.objects.count() == 3


def test_replay_lists_reused_tasks_too(api_client, departments):
    post(api_client, make_request([make_user("P1")], business_key="k1", systems=["idaas"]))
    body = make_request([make_user("P1")], business_key="k2")
    first = post(api_client, body)
    assert first.status_code == 201, first.json()
    again = post(api_client, body)
    assert again.status_code == 200
    assert {t["id"] for t in again.json()["tasks"]} == {t["id"] for t in first.json()["tasks"]}
    assert len(again.json()["tasks"]) == 3


def test_same_business_key_with_another_body_is_a_conflict(api_client, departments):
    post(api_client, make_request())
    response = post(api_client, make_request([make_user("P999")]))
    assert response.status_code == 409
    assert "businessKey" in response.json()["detail"]
    assert AccountCreationTask.objects.count() == 3
    assert not AccountCreationTask.objects.filter(employee_number="P999").exists()


def test_same_business_key_from_another_origin_is_a_new_request(api_client, departments):
    post(api_client, make_request([make_user("P1")]))
    response = post(api_client, make_request([make_user("P2")], originSystem="hr"))
    assert response.status_code == 201
    assert AccountCreationRequest.objects.count() == 2


# --- 400: invalid envelope, nothing written ---------------------------------------------


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        ("{not json", "application/json"),
        ('[{"originSystem": "oa"}]', "application/json"),
        ('"a string"', "application/json"),
        ("null", "application/json"),
        ("", "application/json"),
        ("originSystem=oa&businessKey=1", "application/x-www-form-urlencoded"),
        (json.dumps(make_request()), "text/plain"),
    ],
    ids=["not-json", "json-list", "json-string", "json-null", "empty", "form", "text-plain"],
)
def test_a_body_that_is_not_a_json_object_is_refused(api_client, departments, raw, content_type):
    response = post_raw(api_client, raw, content_type)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["success"] is False
    assert body["created_tasks"] == 0
    assert body["errors"]
    assert all(e["message"] for e in body["errors"])
    assert_nothing_written()


TOP_LEVEL = ["originSystem", "businessKey", "accountType", "employeeType", "systemList", "userList"]


@pytest.mark.parametrize("field", TOP_LEVEL)
def test_each_missing_top_level_field_is_named(api_client, departments, field):
    body = make_request()
    del body[field]
    response = post(api_client, body)
    assert response.status_code == 400
    assert field in error_fields(response)
    assert_nothing_written()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("originSystem", 12),
        ("businessKey", 65090),
        ("businessKey", None),
        ("accountType", True),
        ("employeeType", ["W"]),
        ("systemList", "idaas"),
        ("systemList", {"idaas": True}),
        ("userList", make_user()),
        ("userList", "P000126"),
        ("businessKey", ""),
    ],
)
def test_wrong_typed_top_level_field_is_named(api_client, departments, field, value):
    response = post(api_client, make_request(**{field: value}))
    assert response.status_code == 400, response.json()
    assert any(f.startswith(field) for f in error_fields(response)), response.json()
    assert_nothing_written()


def test_unknown_system_is_refused(api_client, departments):
    response = post(api_client, make_request(systems=["idaas", "vpn"]))
    assert response.status_code == 400
    assert any(f.startswith("systemList") for f in error_fields(response))
    assert_nothing_written()


@pytest.mark.parametrize("field", ["systemList", "userList"])
def test_empty_lists_are_refused(api_client, departments, field):
    body = make_request()
    body[field] = []
    response = post(api_client, body)
    assert response.status_code == 400
    assert field in error_fields(response)
    assert_nothing_written()


def test_more_users_than_the_limit_is_refused(api_client, departments, settings):
    settings.ACCOUNT_CREATION_MAX_USERS_PER_REQUEST = 3
    users = [make_user(f"P{i}") for i in range(4)]
    response = post(api_client, make_request(users))
    assert response.status_code == 400
    messages = [e["message"] for e in response.json()["errors"] if e["field"] == "userList"]
    assert messages
    assert "3" in messages[0]
    assert_nothing_written()
    assert post(api_client, make_request(users[:3])).status_code == 201


def test_unknown_employee_type_is_refused(api_client, departments):
    response = post(api_client, make_request(employeeType="ZZ"))
    assert response.status_code == 400
    assert error_fields(response) == {"employeeType"}
    assert_nothing_written()


def test_all_users_invalid_is_400(api_client, departments):
    users = [make_user("P1", phoneNumber=""), make_user("bad number!"), "not an object"]
    response = post(api_client, make_request(users))
    assert response.status_code == 400
    body = response.json()
    assert {(e["index"], e["field"]) for e in body["errors"]} == {
        (0, "phoneNumber"),
        (1, "employeeNumber"),
        (2, "userList"),
    }
    assert_nothing_written()


# --- 207 and per-user rules ------------------------------------------------------------


def test_mixed_request_creates_exactly_the_valid_users_tasks(api_client, departments):
    users = [
        make_user("P1"),
        make_user("P2", phoneNumber=123),
        make_user("P3", country="zz"),
        make_user("P4"),
        make_user("P5", employeeName=""),
    ]
    response = post(api_client, make_request(users))
    assert response.status_code == 207, response.json()
    body = response.json()
    assert body["success"] is False
    assert body["created_tasks"] == 6
    assert {(e["index"], e["employeeNumber"], e["field"]) for e in body["errors"]} == {
        (1, "P2", "phoneNumber"),
        (2, "P3", "country"),
        (4, "P5", "employeeName"),
    }
    assert all(e["message"] for e in body["errors"])
    stored = set(AccountCreationTask.objects.values_list("employee_number", flat=True))
    assert stored == {"P1", "P4"}
    assert {t["employee_number"] for t in body["tasks"]} == {"P1", "P4"}


def test_duplicate_employee_in_one_request_is_reported(api_client, departments):
    users = [make_user("P1"), make_user("P2"), make_user("P1", employeeName="李四")]
    response = post(api_client, make_request(users))
    assert response.status_code == 207
    errors = response.json()["errors"]
    assert [(e["index"], e["employeeNumber"], e["field"]) for e in errors] == [(2, "P1", "employeeNumber")]
    assert AccountCreationTask.objects.filter(employee_number="P1").count() == 3
    assert set(AccountCreationTask.objects.filter(employee_number="P1").values_list("employee_name", flat=True)) == {
        "张三"
    }


def test_unknown_department_is_accepted_with_a_warning(api_client, departments):
    users = [make_user("P1"), make_user("P2", departmentCode="999999")]
    response = post(api_client, make_request(users))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["success"] is True
    assert [(w["index"], w["employeeNumber"], w["field"]) for w in body["warnings"]] == [
        (1, "P2", "departmentCode")
    ]
    assert AccountCreationTask.objects.filter(employee_number="P2").count() == 3


def test_welink_without_idaas_task_is_rejected(api_client, departments):
    users = [make_user("P1"), make_user("P2")]
    post(api_client, make_request([make_user("P1")], business_key="k1", systems=["idaas"]))
    response = post(api_client, make_request(users, business_key="k2", systems=["welink", "email"]))
    assert response.status_code == 207, response.json()
    assert [(e["index"], e["employeeNumber"], e["field"]) for e in response.json()["errors"]] == [
        (1, "P2", "systemList")
    ]
    created = AccountCreationTask.objects.filter(business_key="k2").values_list("employee_number", "account_type")
    assert set(created) == {
        ("P1", "welink"),
        ("P1", "email"),
    }


def test_welink_without_any_idaas_is_400(api_client, departments):
    response = post(api_client, make_request(systems=["email"]))
    assert response.status_code == 400
    assert error_fields(response) == {"systemList"}
    assert_nothing_written()


def test_existing_active_task_is_reused_not_duplicated(api_client, departments):
    first = post(api_client, make_request([make_user("P1")], business_key="k1", systems=["idaas"]))
    idaas_id = first.json()["tasks"][0]["id"]
    response = post(api_client, make_request([make_user("P1")], business_key="k2"))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["created_tasks"] == 2
    by_type = {t["account_type"]: t for t in body["tasks"]}
    assert by_type["idaas"]["id"] == idaas_id
    assert by_type["idaas"]["created"] is False
    assert by_type["welink"]["created"]
    assert by_type["email"]["created"]
    assert any(w["employeeNumber"] == "P1" and str(idaas_id) in w["message"] for w in body["warnings"])
    assert AccountCreationTask.objects.filter(employee_number="P1", account_type="idaas").count() == 1


def test_failed_task_does_not_block_a_new_one(api_client, departments):
    post(api_client, make_request([make_user("P1")], business_key="k1", systems=["idaas"]))
    AccountCreationTask.objects.update(status=TaskStatus.FAILED)
    response = post(api_client, make_request([make_user("P1")], business_key="k2", systems=["idaas"]))
    assert response.status_code == 201
    assert response.json()["created_tasks"] == 1
    assert AccountCreationTask.objects.filter(employee_number="P1").count() == 2


# --- hostile input: 4xx, never 500, nothing written ------------------------------------

HOSTILE_USERS = [
    make_user("P\x001"),
    make_user("P1", employeeName="张\x00三"),
    make_user("P1", departmentCode="12\x000000"),
    make_user("P1", employeeName="x" * 100_000),
    make_user("P" * 100_000),
    make_user("P1", departmentCode="1" * 100_000),
    make_user("P1", phoneNumber="1" * 100_000),
    make_user("P1'; DROP TABLE account_creation_accountcreationtask; --"),
    make_user("P1", employeeName="<script>alert(1)</script>"),
    make_user("P1", employeeName="Robert'); DROP TABLE users;--"),
    make_user("P1", phoneNumber="1 OR 1=1"),
    make_user("P1", employeeName="\ud800"),
    make_user("P1", country="\ud800"),
]


@pytest.mark.parametrize("user", HOSTILE_USERS, ids=range(len(HOSTILE_USERS)))
def test_hostile_user_fields_are_refused(api_client, departments, user):
    response = post(api_client, make_request([user]))
    assert response.status_code == 400, response.content[:300]
    assert response.json()["errors"]
    assert_nothing_written()


@pytest.mark.parametrize("user", HOSTILE_USERS, ids=range(len(HOSTILE_USERS)))
def test_hostile_user_next_to_a_valid_one_is_rejected_alone(api_client, departments, user):
    response = post(api_client, make_request([make_user("P7"), user]))
    assert response.status_code == 207, response.content[:300]
    assert [e["index"] for e in response.json()["errors"]] == [1] * len(response.json()["errors"])
    assert set(AccountCreationTask.objects.values_list("employee_number", flat=True)) == {"P7"}
    # The stored request answers the replay with the same errors.
    assert post(api_client, make_request([make_user("P7"), user])).status_code == 200


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("originSystem", "o\x00a"),
        ("businessKey", "6\x005090"),
        ("businessKey", "k" * 100_000),
        ("originSystem", "oa' OR '1'='1"),
        ("accountType", "<script>alert(1)</script>" * 10),
        ("employeeType", "W\x00"),
        ("systemList", ["idaas", "\x00"]),
        ("systemList", ["i" * 100_000]),
        ("systemList", ["\ud800"]),
        ("businessKey", "\ud800"),
    ],
)
def test_hostile_envelope_fields_are_refused(api_client, departments, field, value):
    response = post(api_client, make_request(**{field: value}))
    assert response.status_code == 400, response.content[:300]
    assert any(f.startswith(field) for f in error_fields(response))
    assert len(response.content) < 5000, "errors must not echo huge input"
    assert_nothing_written()


def test_lone_surrogate_in_an_ignored_key_does_not_break_intake(api_client, departments):
    raw = json.dumps(make_request([make_user("P1", extra="\ud800")]))
    assert "\\ud800" in raw
    response = post_raw(api_client, raw)
    assert response.status_code == 201, response.content[:300]


def test_deeply_nested_json_is_refused(api_client, departments):
    raw = '{"originSystem": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = post_raw(api_client, raw)
    assert response.status_code == 400
    assert_nothing_written()


# --- query count -----------------------------------------------------------------------


def _count_queries(client, users: int, business_key: str) -> int:
    body = make_request([make_user(f"{business_key}N{i}") for i in range(users)], business_key=business_key)
    with CaptureQueriesContext(connection) as queries:
        response = post(client, body)
    assert response.status_code == 201, response.content[:300]
    assert AccountCreationTask.objects.filter(business_key=business_key).count() == 3 * users
    return len(queries)


def test_query_count_does_not_grow_with_users(api_client, departments):
    # The key's first use records last_used_at (one UPDATE a minute): settle it first.
    assert api_client.get("/account-creation/task_stats/").status_code == 200
    small = _count_queries(api_client, 2, "Q2")
    large = _count_queries(api_client, 1000, "Q1000")
    assert large == small


def test_query_count_of_a_replay_does_not_grow_with_users(api_client, departments):
    small = make_request([make_user(f"A{i}") for i in range(2)], business_key="R2")
    large = make_request([make_user(f"B{i}") for i in range(500)], business_key="R500")
    post(api_client, small)
    post(api_client, large)
    with CaptureQueriesContext(connection) as small_q:
        assert post(api_client, small).status_code == 200
    with CaptureQueriesContext(connection) as large_q:
        assert post(api_client, large).status_code == 200
    assert len(large_q) == len(small_q)


# --- concurrency (PostgreSQL: real parallel transactions) -------------------------------

postgres_only = pytest.mark.skipif(
    django_settings.DATABASE_VENDOR != "postgresql", reason="needs PostgreSQL for real concurrency"
)


def _post_in_threads(bodies: list[dict], key: str) -> list[int]:
    from rest_framework.test import APIClient

    from account_creation.models import AccountCreationTask as Task  # noqa: F401 - warm import

    barrier = threading.Barrier(len(bodies))
    codes: list[int] = [0] * len(bodies)

    def worker(position: int) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        try:
            barrier.wait()
            codes[position] = client.post(URL, bodies[position], format="json").status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return codes


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_create_one_set_of_tasks(api_key, departments):
    body = make_request([make_user(f"C{i}") for i in range(20)], business_key="race")
    codes = _post_in_threads([body] * 8, api_key)
    assert sorted(codes) == [200] * 7 + [201]
    assert AccountCreationRequest.objects.count() == 1
    assert AccountCreationTask.objects.count() == 60


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_for_one_employee_create_one_task_per_system(api_key, departments):
    bodies = [make_request([make_user("P1"), make_user(f"X{i}")], business_key=f"key-{i}") for i in range(8)]
    codes = _post_in_threads(bodies, api_key)
    assert codes == [201] * 8
    assert AccountCreationTask.objects.filter(employee_number="P1").count() == 3
    assert AccountCreationTask.objects.count() == 3 + 8 * 3


# --- what the one-statement insert stores ---------------------------------------------


def test_stored_tasks_have_every_column_as_the_orm_would_write_it(api_client, departments):
    from django.utils import timezone

    before = timezone.now()
    response = post(api_client, make_request([make_user("P1"), make_user("P2", partnerCompany=None, country="HK")]))
    after = timezone.now()
    assert response.status_code == 201
    request = AccountCreationRequest.objects.get()
    by_key = {(t["employee_number"], t["account_type"]): t["id"] for t in response.json()["tasks"]}
    for task in AccountCreationTask.objects.all():
        assert by_key[(task.employee_number, task.account_type)] == task.pk
        assert task.request_id == request.pk
        assert task.sequence == {"idaas": 0, "welink": 1, "email": 2}[task.account_type]
        assert before <= task.created_at <= after
        assert task.created_at.tzinfo is not None
        assert task.updated_at == task.created_at
        assert task.next_attempt_at is None
        assert task.locked_until is None
        assert task.locked_by == ""
        assert task.result is None
        assert task.attempt_base == 0
        assert task.status == TaskStatus.PENDING
    p2 = AccountCreationTask.objects.filter(employee_number="P2").first()
    assert p2 is not None
    assert p2.partner_company == ""
    assert p2.country == "hk"
    assert p2.phone_number == "13800138000"
    assert AccountCreationTask.objects.filter(result__isnull=True).count() == 6
    assert AccountCreationTask.objects.filter(created_at__gte=before, next_attempt_at__isnull=True).count() == 6
