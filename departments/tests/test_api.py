"""/department-mappings/: CRUD, OU validation, uniqueness."""

from __future__ import annotations

import pytest

from departments.models import DepartmentMapping

pytestmark = pytest.mark.django_db

URL = "/department-mappings/"


def mapping(**overrides) -> dict:
    body = {
        "idata_departmentcode": "990000",
        "idaas_departmentcode": "WW990000",
        "department_name": "测试部",
        "ou": "OU=测试部,OU=总部,DC=example,DC=com",
    }
    body.update(overrides)
    return body


def test_crud(api_client):
    created = api_client.post(URL, mapping(), format="json")
    assert created.status_code == 201, created.json()
    mapping_id = created.json()["id"]
    assert created.json()["is_active"] is True

    listed = api_client.get(URL).json()
    assert listed["count"] == 1
    assert listed["results"][0]["idata_departmentcode"] == "990000"
    assert api_client.get(f"{URL}{mapping_id}/").json()["ou"] == "OU=测试部,OU=总部,DC=example,DC=com"

    patched = api_client.patch(f"{URL}{mapping_id}/", {"department_name": "新名字"}, format="json")
    assert patched.status_code == 200
    assert DepartmentMapping.objects.get().department_name == "新名字"

    put = api_client.put(f"{URL}{mapping_id}/", mapping(idaas_departmentcode="WW1", is_active=False), format="json")
    assert put.status_code == 200, put.json()
    stored = DepartmentMapping.objects.get()
    assert (stored.idaas_departmentcode, stored.is_active) == ("WW1", False)

    assert api_client.delete(f"{URL}{mapping_id}/").status_code == 204
    assert not DepartmentMapping.objects.exists()
    assert api_client.get(f"{URL}{mapping_id}/").status_code == 404


def test_filters_by_code_and_search(api_client, departments):
    assert api_client.get(URL, {"idata_departmentcode": "120000"}).json()["count"] == 1
    found = api_client.get(URL, {"search": "信息技术"}).json()["results"]
    assert "120000" in {row["idata_departmentcode"] for row in found}
    assert api_client.get(URL, {"search": "no-such-department"}).json()["count"] == 0


@pytest.mark.parametrize("params", [{"idata_departmentcode": "12\x000000"}, {"search": "\x00"}])
def test_bad_query_values_are_400(api_client, departments, params):
    assert api_client.get(URL, params).status_code == 400


@pytest.mark.parametrize(
    "ou",
    [
        "OU=测试部，OU=总部，DC=example，DC=com",
        "OU=测试部,OU=总部",
        "",
        "测试部",
        "DC=example,DC=com,OU=测试部",
        "OU=测试部,DC=example,OU=x,DC=com",
        "OU=测试部,,DC=example,DC=com",
        "OU=测试部,DC=example,DC=com,",
    ],
)
def test_invalid_ou_is_a_field_error(api_client, ou):
    response = api_client.post(URL, mapping(ou=ou), format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"ou"}
    assert not DepartmentMapping.objects.exists()


def test_full_width_comma_is_explained(api_client):
    response = api_client.post(URL, mapping(ou="OU=测试部，DC=example，DC=com"), format="json")
    assert "，" in response.json()["ou"][0]


@pytest.mark.parametrize(
    "ou",
    [
        "OU=测试部,DC=example,DC=com",
        "OU=R\\,D,OU=总部,DC=example,DC=com",
        # CN= containers are allowed, except AD's built-in ones (test_ou_rules.py).
        "CN=Users,OU=总部,DC=example,DC=com",
        "OU = 测试部 , DC=Example,DC=COM",
    ],
)
def test_valid_ou_is_accepted(api_client, ou):
    response = api_client.post(URL, mapping(ou=ou), format="json")
    assert response.status_code == 201, response.json()
    assert DepartmentMapping.objects.get().ou == ou


def test_invalid_ou_on_patch_is_refused(api_client, departments):
    row = DepartmentMapping.objects.get(idata_departmentcode="120000")
    response = api_client.patch(f"{URL}{row.pk}/", {"ou": "OU=x，DC=y"}, format="json")
    assert response.status_code == 400
    assert "ou" in response.json()
    row.refresh_from_db()
    assert "，" not in row.ou


def test_duplicate_code_is_400_not_500(api_client):
    assert api_client.post(URL, mapping(), format="json").status_code == 201
    response = api_client.post(URL, mapping(idaas_departmentcode="other"), format="json")
    assert response.status_code == 400
    assert "idata_departmentcode" in response.json()
    assert DepartmentMapping.objects.count() == 1


def test_renaming_onto_an_existing_code_is_400(api_client):
    api_client.post(URL, mapping(), format="json")
    other = api_client.post(URL, mapping(idata_departmentcode="990001"), format="json").json()
    response = api_client.patch(f"{URL}{other['id']}/", {"idata_departmentcode": "990000"}, format="json")
    assert response.status_code == 400
    assert "idata_departmentcode" in response.json()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("idata_departmentcode", ""),
        ("idata_departmentcode", "1" * 65),
        ("idata_departmentcode", "12\x00"),
        ("idaas_departmentcode", None),
        ("ou", "OU=" + "x" * 600 + ",DC=com"),
    ],
)
def test_field_errors_are_400(api_client, field, value):
    response = api_client.post(URL, mapping(**{field: value}), format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not DepartmentMapping.objects.exists()
