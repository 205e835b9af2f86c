"""Hostile input, by hand and generated: every nasty answers 4xx with a message and writes
nothing. Extends account_creation/tests/api/test_create_accounts.py (which covers NUL bytes,
100,000-character fields and SQL/script fragments in some fields, deep nesting of the
envelope, non-JSON bodies) with: every field x every fragment, numbers and other JSON types
where strings belong, invalid UTF-8, bodies over the size limit, unusual content types, nasty
query strings and ids, the department-mapping endpoints; and Hypothesis properties of the
intake validator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from account_creation.api.serializers import AccountUserSerializer, CreateAccountsRequestSerializer
from account_creation.models import AccountCreationRequest, AccountCreationTask
from conftest import make_request, make_user
from departments.models import DepartmentMapping

CREATE = "/account-creation/create_accounts/"
USER_FIELDS = ["employeeNumber", "employeeName", "departmentCode", "phoneNumber", "partnerCompany", "country"]
ENVELOPE_FIELDS = ["originSystem", "businessKey", "accountType", "employeeType"]
FRAGMENTS = [
    "'; DROP TABLE account_creation_accountcreationtask; --",
    "\" OR \"1\"=\"1",
    "1) UNION SELECT key FROM authtoken_token --",
    "<script>alert(document.cookie)</script>",
    "<img src=x onerror=alert(1)>",
    "{{7*7}}${7*7}",
    "../../../../etc/passwd",
    "\x00",
    "a\u202eb",  # right-to-left override
    "\ufeff",
]
# Values of the wrong JSON type for a string field.
WRONG_TYPES: list[Any] = [12345, 1.5, True, None, [], ["x"], {}, {"$gt": ""}, 10**30]


def _counts() -> tuple[int, int, int]:
    return (
        AccountCreationTask.objects.count(),
        AccountCreationRequest.objects.count(),
        DepartmentMapping.objects.count(),
    )


def _post_raw(client, raw: bytes | str, content_type: str = "application/json"):
    return client.generic("POST", CREATE, raw, content_type=content_type)


def _assert_refused_with_message(response, before: tuple[int, int, int]) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    body = response.json()
    messages = [e.get("message") for e in body.get("errors", [])] or [body.get("detail")]
    assert messages, body
    assert all(messages), body
    assert _counts() == before, "a refused request wrote something"
    assert len(response.content) < 20_000, "the answer echoes too much input"


# --- every field x every fragment ------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("field", USER_FIELDS)
@pytest.mark.parametrize("fragment", FRAGMENTS, ids=range(len(FRAGMENTS)))
def test_fragments_in_every_user_field_never_get_through_unchecked(api_client, departments, field, fragment):
    before = _counts()
    user = make_user("H000001", **{field: f"12{fragment}"})
    response = api_client.post(CREATE, make_request([user]), format="json")
    assert response.status_code in (201, 400), response.content[:300]
    if response.status_code == 400:
        _assert_refused_with_message(response, before)
        return
    # Only opaque text may keep such characters (a partner company's name; a department code,
    # which is only ever looked up exactly and waits with a warning when unknown). It is
    # stored as given, never interpreted; NUL never gets in.
    assert field in ("partnerCompany", "departmentCode"), f"{field}={fragment!r} was accepted"
    assert "\x00" not in fragment
    task = AccountCreationTask.objects.get(employee_number="H000001", account_type="idaas")
    stored = task.partner_company if field == "partnerCompany" else task.department_code
    assert stored == f"12{fragment}"


@pytest.mark.django_db
@pytest.mark.parametrize("field", ENVELOPE_FIELDS)
@pytest.mark.parametrize("fragment", FRAGMENTS, ids=range(len(FRAGMENTS)))
def test_fragments_in_every_envelope_field_are_refused(api_client, departments, field, fragment):
    before = _counts()
    response = api_client.post(CREATE, make_request(**{field: f"oa{fragment}"}), format="json")
    if field in ("businessKey", "accountType") and response.status_code == 201:
        # The OA system's opaque id and category: printable text is stored as given.
        assert "\x00" not in fragment
        stored = AccountCreationRequest.objects.get()
        assert (stored.business_key if field == "businessKey" else stored.account_category) == f"oa{fragment}"
        return
    _assert_refused_with_message(response, before)


# --- wrong JSON types --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("field", USER_FIELDS)
@pytest.mark.parametrize("value", WRONG_TYPES, ids=[type(v).__name__ + str(i) for i, v in enumerate(WRONG_TYPES)])
def test_other_json_types_where_a_user_string_belongs(api_client, departments, field, value):
    before = _counts()
    response = api_client.post(CREATE, make_request([make_user("H000002", **{field: value})]), format="json")
    if response.status_code == 201:
        # Optional fields may be null (partnerCompany) or absent-like; nothing else gets in.
        assert field == "partnerCompany", (field, value)
        assert value is None, (field, value)
        return
    _assert_refused_with_message(response, before)


@pytest.mark.django_db
@pytest.mark.parametrize("field", [*ENVELOPE_FIELDS, "systemList", "userList"])
@pytest.mark.parametrize("value", WRONG_TYPES, ids=[type(v).__name__ + str(i) for i, v in enumerate(WRONG_TYPES)])
def test_other_json_types_in_the_envelope(api_client, departments, field, value):
    before = _counts()
    response = api_client.post(CREATE, make_request(**{field: value}), format="json")
    _assert_refused_with_message(response, before)


# --- bytes, sizes, content types ---------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    [
        b'{"originSystem": "\xff\xfe"}',
        json.dumps(make_request()).encode().replace(b"\\u5f20", b"\xc3\x28"),
        b"\xef\xbb\xbf" + b"\xff" * 10,
        b'{"originSystem": "oa", "originSystem": ["x"]}',
        b'{"a": NaN, "originSystem": Infinity}',
        b"{" * 10 + b"}" * 10,
        b'{"userList": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
    ids=["invalid-utf8", "invalid-utf8-in-a-name", "bom-and-garbage", "duplicate-keys", "nan", "braces", "deep-users"],
)
def test_undecodable_and_strange_bodies(api_client, departments, raw):
    before = _counts()
    _assert_refused_with_message(_post_raw(api_client, raw), before)


@pytest.mark.django_db
def test_a_body_over_the_size_limit_is_refused_before_parsing(api_client, departments, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    before = _counts()
    users = [make_user(f"B{i:06d}", partnerCompany="x" * 190) for i in range(6000)]
    raw = json.dumps(make_request(users))
    assert len(raw) > 1024 * 1024
    response = _post_raw(api_client, raw)
    assert response.status_code == 413, response.status_code
    assert "larger than" in response.json()["errors"][0]["message"]
    assert _counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content_type",
    [
        "application/xml",
        "multipart/form-data; boundary=x",
        "text/html",
        "application/octet-stream",
        "application/json; charset=latin-1",
    ],
)
def test_unusual_content_types(api_client, departments, content_type):
    before = _counts()
    response = _post_raw(api_client, json.dumps(make_request()).encode("utf-8"), content_type)
    if response.status_code == 201:  # a JSON body labelled JSON with another charset
        assert content_type.startswith("application/json")
        return
    _assert_refused_with_message(response, before)


# --- query strings, ids, other endpoints -------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "status=%00", "status=pending%00", "employee_number=" + "x" * 100_000, "business_key=%ff%fe",
        "account_type='%20OR%201=1--", "page=-1", "page=99999999999999999999999999", "page=1e3", "origin_system=%00",
    ],
)
def test_nasty_query_strings_answer_4xx_or_an_empty_page(api_client, departments, query):
    response = api_client.get(f"/account-creation/?{query}")
    assert response.status_code in (200, 400, 404), (response.status_code, response.content[:300])
    assert response.json()
    if response.status_code == 200:
        assert response.json()["results"] == []


@pytest.mark.django_db
@pytest.mark.parametrize("task_id", ["0", "-1", "99999999999999999999999", "1%00", "abc", "1;DROP"])
@pytest.mark.parametrize("suffix", ["", "logs/", "retry/"])
def test_nasty_task_ids(api_client, departments, task_id, suffix):
    method = api_client.post if suffix == "retry/" else api_client.get
    response = method(f"/account-creation/{task_id}/{suffix}")
    assert response.status_code == 404, (task_id, suffix, response.status_code, response.content[:200])
    assert response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["idata_departmentcode", "idaas_departmentcode", "department_name", "ou"])
@pytest.mark.parametrize("value", [*FRAGMENTS[:8], "x" * 100_000, 12345, None, ["x"], {"a": 1}])
def test_department_mapping_fields_refuse_nasties(api_client, departments, field, value):
    before = _counts()
    body = {"idata_departmentcode": "990001", "idaas_departmentcode": "D990001", "department_name": "测试部",
            "ou": "OU=Test,DC=example,DC=com", field: value}
    response = api_client.post("/department-mappings/", body, format="json")
    if response.status_code == 201:
        # Codes and names are opaque text, stored as given and never interpreted; but no
        # NUL, no other JSON type, no 100,000 characters, and an OU must be a DN.
        assert field != "ou"
        assert isinstance(value, str)
        assert len(value) < 1000
        assert "\x00" not in value
        return
    assert response.status_code == 400, (field, value, response.status_code)
    assert response.json()
    assert _counts() == before


# --- Hypothesis properties of the intake validator ----------------------------------------

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=10), inner, max_size=3), max_leaves=8)
field_values = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="abcXYZ019_-", min_size=1, max_size=25),
    st.sampled_from(["张三", "Anna Li", "P000126", "120000", "13800138000", "cn", "", " ", "\x00", "\ud800"]),
    json_scalars,
)
users = st.fixed_dictionaries({}, optional={name: field_values for name in USER_FIELDS})


@settings(max_examples=300, deadline=None)
@given(user=users)
def test_the_user_validator_accepts_only_clean_values_and_never_crashes(user):
    serializer = AccountUserSerializer(data=user)
    if serializer.is_valid():
        data = serializer.validated_data
        number = data["employeeNumber"]
        assert 1 <= len(number) <= 19
        assert number.isascii()
        assert all(ch.isalnum() or ch in "-_" for ch in number)
        for value in data.values():
            if isinstance(value, str):
                assert "\x00" not in value
                assert all(ord(ch) >= 32 for ch in value)
                value.encode("utf-8")  # no lone surrogates
    else:
        assert serializer.errors
        assert set(serializer.errors) <= set(USER_FIELDS) | {"non_field_errors"}


# The envelope validator reads the employee and account type mappings (an unknown employeeType
# is a field error reported with every other one).
@pytest.mark.django_db
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(envelope=st.dictionaries(st.sampled_from([*ENVELOPE_FIELDS, "systemList", "userList", "x"]), json_values))
def test_the_envelope_validator_never_crashes(envelope):
    serializer = CreateAccountsRequestSerializer(data=envelope)
    if not serializer.is_valid():
        assert serializer.errors


@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(user=users, field=st.sampled_from(ENVELOPE_FIELDS), value=json_values)
def test_create_accounts_never_answers_5xx_and_a_refusal_writes_nothing(api_client, departments, user, field, value):
    before = _counts()
    body = make_request([user], business_key=f"hyp-{abs(hash(json.dumps(user, default=str))) % 10**9}")
    if value is not None:
        body[field] = value
    # json.dumps escapes lone surrogates (\ud800): valid JSON text the client can send.
    response = _post_raw(api_client, json.dumps(body))
    assert response.status_code in (200, 201, 207, 400, 409), (response.status_code, response.content[:300])
    if response.status_code == 400:
        assert _counts() == before
        assert all(e["message"] for e in response.json()["errors"])
