"""Issue #15 over HTTP: what real OA systems send is accepted, and everything wrong comes back at once."""

from __future__ import annotations

import json

import pytest

from account_creation.models import AccountCreationTask
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db

URL = "/account-creation/create_accounts/"

# The replaced system's published example request, as its integrators send it today.
PEER_EXAMPLE = {
    "originSystem": "oa",
    "businessKey": "65090",
    "accountType": "供应商",
    "employeeType": "1",
    "systemList": ["idaas", "welink", "email"],
    "userList": [
        {
            "employeeNumber": "P000126",
            "employeeName": "张三",
            "departmentCode": "D001",
            "phoneNumber": "1234567890",
            "partnerCompany": "ABC",
            "country": "中国",
        }
    ],
}


def post(client, body, **headers):
    return client.generic("POST", URL, json.dumps(body), content_type="application/json", **headers)


def test_the_peer_example_is_accepted_verbatim_with_only_the_department_as_warning(api_client, departments):
    response = post(api_client, PEER_EXAMPLE)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["errors"] == []
    assert [(w["field"], w["employeeNumber"]) for w in body["warnings"]] == [("departmentCode", "P000126")]
    assert "D001" in body["warnings"][0]["message"]
    tasks = AccountCreationTask.objects.all()
    assert {task.account_type for task in tasks} == {"idaas", "welink", "email"}
    # 供应商 chooses the supplier person type (the bundled, operator-editable mapping).
    assert {(task.account_category, task.employee_type, task.country) for task in tasks} == {("supplier", "S", "cn")}


def test_employee_type_1_alone_is_a_regular_employee(api_client, departments):
    response = post(api_client, make_request(employeeType="1"))

    assert response.status_code == 201, response.json()
    assert set(AccountCreationTask.objects.values_list("employee_type", "account_category")) == {("1", "personal")}


def test_an_edited_account_type_mapping_applies_to_the_next_request(api_client, departments):
    from departments.models import AccountCategoryMapping

    AccountCategoryMapping.objects.filter(account_type="供应商").update(employee_type="O")

    assert post(api_client, PEER_EXAMPLE).status_code in (201, 207)
    assert set(AccountCreationTask.objects.values_list("employee_type", flat=True)) == {"O"}


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("中国", "cn"),
        ("中华人民共和国", "cn"),
        ("China", "cn"),
        ("china", "cn"),
        ("CHN", "cn"),
        ("chn", "cn"),
        ("CN", "cn"),
        ("cn", "cn"),
        ("People's Republic of China", "cn"),
        ("SGP", "sg"),
        ("新加坡", "sg"),
        ("Hong Kong", "hk"),
        (" japan ", "jp"),
    ],
)
def test_country_accepts_iso_codes_and_english_or_chinese_names(api_client, departments, sent, stored):
    response = post(api_client, make_request([make_user(country=sent)]))

    assert response.status_code == 201, response.json()
    assert set(AccountCreationTask.objects.values_list("country", flat=True)) == {stored}


def test_an_unknown_country_says_how_to_write_one(api_client, departments):
    response = post(api_client, make_request([make_user(country="Narnia")]))

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["field"] == "country"
    assert "Narnia" in error["message"]
    for hint in ("ISO 3166", "CHN", "China", "中国"):
        assert hint in error["message"]


def test_phone_numbers_with_prefix_spaces_and_dashes_still_normalise(api_client, departments):
    response = post(api_client, make_request([make_user(phoneNumber="+86 138-0013-8000", country="中国")]))

    assert response.status_code == 201, response.json()


def test_envelope_and_person_errors_come_back_in_one_answer(api_client, departments):
    body = make_request(
        [make_user("P1"), make_user("P2", country="Atlantis")],
        employeeType="Z9",
    )

    response = post(api_client, body)

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(None, "employeeType"), (1, "country")]
    assert AccountCreationTask.objects.count() == 0


def test_a_bad_system_list_and_a_bad_person_come_back_together(api_client, departments):
    body = make_request([make_user("P1", phoneNumber="x")], systems=["idaas", "vpn"])

    errors = post(api_client, body).json()["errors"]

    assert {(e["index"], e["field"]) for e in errors} == {(None, "systemList[1]"), (0, "phoneNumber")}


def test_the_employee_type_error_lists_each_type_with_its_meaning_and_how_to_add_one(api_client, departments):
    response = post(api_client, make_request(employeeType="Z9"))

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    text = error["message"]
    assert "'Z9'" in text
    assert "W — 正式员工 / regular employee" in text
    assert "S — 供应商人员 / supplier staff" in text
    assert "/admin/departments/employeetypemapping/add/" in text
