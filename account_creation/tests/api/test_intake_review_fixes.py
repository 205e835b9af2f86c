"""Issue #15 review over HTTP: one 400 lists everything, and country names as people write them."""

from __future__ import annotations

import json

import pytest

from account_creation.countries import COUNTRIES
from account_creation.models import AccountCreationTask
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db

URL = "/account-creation/create_accounts/"


def post(client, body, **headers):
    return client.generic("POST", URL, json.dumps(body), content_type="application/json", **headers)


# --- Everything wrong in one 400 ---------------------------------------------------------


def test_a_wrong_envelope_still_reports_duplicates_and_missing_dependencies(api_client, departments):
    body = make_request(
        [make_user("P1"), make_user("P1"), make_user("P3", country="Atlantis")],
        systems=["welink"],
        employeeType="Z9",
    )

    response = post(api_client, body)

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["index"], e["employeeNumber"], e["field"]) for e in errors] == [
        (None, None, "employeeType"),
        (0, "P1", "systemList"),
        (1, "P1", "employeeNumber"),
        (2, "P3", "country"),
    ]
    assert "more than once" in errors[2]["message"]
    assert "idaas" in errors[1]["message"]
    assert AccountCreationTask.objects.count() == 0


def test_the_same_people_checks_apply_with_a_valid_envelope(api_client, departments):
    body = make_request([make_user("P1"), make_user("P1"), make_user("P3")], systems=["welink"])

    response = post(api_client, body)

    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [
        (0, "systemList"),
        (1, "employeeNumber"),
        (2, "systemList"),
    ]


def test_a_wrong_envelope_counts_a_dependency_the_person_already_has(api_client, departments):
    assert post(api_client, make_request([make_user("P1")], systems=["idaas"])).status_code == 201

    body = make_request([make_user("P1"), make_user("P2")], business_key="65091", systems=["welink"], employeeType="Z9")
    errors = post(api_client, body).json()["errors"]

    # P1's IDaaS task exists already; only P2 lacks one.
    assert [(e["index"], e["field"]) for e in errors] == [(None, "employeeType"), (1, "systemList")]


def test_a_wrong_system_list_still_reports_duplicates(api_client, departments):
    body = make_request([make_user("P1"), make_user("P1")], systems=["idaas", "vpn"])

    errors = post(api_client, body).json()["errors"]

    assert [(e["index"], e["field"]) for e in errors] == [(None, "systemList[1]"), (1, "employeeNumber")]


def test_all_of_it_in_chinese(api_client, departments):
    body = make_request([make_user("P1"), make_user("P1")], systems=["welink"], employeeType="Z9")

    errors = post(api_client, body, HTTP_ACCEPT_LANGUAGE="zh-CN").json()["errors"]

    assert len(errors) == 3
    for error in errors:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"]), error


# --- Country names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Russia", "ru"),
        ("russian federation", "ru"),
        ("Macau", "mo"),
        ("Macao", "mo"),
        ("Korea", "kr"),
        ("South Korea", "kr"),
        ("Taiwan", "tw"),
        ("Vietnam", "vn"),
        ("中国香港", "hk"),
        ("中国澳门", "mo"),
        ("中国台湾", "tw"),
        ("中國", "cn"),
        ("韩国", "kr"),
        ("俄罗斯", "ru"),
        ("MAC", "mo"),
        ("kor", "kr"),
    ],
)
def test_country_accepts_common_and_short_names(api_client, departments, sent, stored):
    response = post(api_client, make_request([make_user(country=sent)]))

    assert response.status_code == 201, response.json()
    assert set(AccountCreationTask.objects.values_list("country", flat=True)) == {stored}


@pytest.mark.parametrize("code", sorted(COUNTRIES))
def test_every_allowed_country_accepts_its_own_english_and_chinese_names(api_client, departments, code):
    from account_creation.countries import country_name

    names = [
        COUNTRIES[code][1],  # the name this product gives it (Macau, Korea, Russia)
        country_name(code, chinese=False),
        country_name(code, chinese=True),
        code.upper(),
    ]
    users = [make_user(f"P{position}", country=name) for position, name in enumerate(names)]
    response = post(api_client, make_request(users))

    assert response.status_code == 201, response.json()
    stored = set(AccountCreationTask.objects.values_list("country", flat=True))
    # uk is our alias of gb: its English name is gb's, the same entry.
    assert {COUNTRIES[country] for country in stored} == {COUNTRIES[code]}, (names, stored)


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_unknown_values_are_still_refused_with_the_hint(api_client, departments, language):
    response = post(api_client, make_request([make_user(country="North Korea-ish")]), HTTP_ACCEPT_LANGUAGE=language)

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["field"] == "country"
    assert "ISO 3166" in error["message"]
