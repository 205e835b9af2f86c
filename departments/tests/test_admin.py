"""The admin: OU rules on the change form, and the history page showing API changes."""

from __future__ import annotations

import pytest
from django.test import Client

from departments.models import DepartmentMapping

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("ops-admin", "ops@example.com", "pw-for-tests-only")
    client = Client()
    client.force_login(user)
    return client


def form(row: DepartmentMapping, **overrides) -> dict:
    data = {
        "idata_departmentcode": row.idata_departmentcode,
        "idaas_departmentcode": row.idaas_departmentcode,
        "department_name": row.department_name,
        "ou": row.ou,
        "is_active": "on",
        "_save": "Save",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("ou", "says"),
    [
        ("OU=Domain Controllers,DC=example,DC=com", "Domain Controllers"),
        ("CN=Users,DC=example,DC=com", "CN=Users"),
        ("OU=信息技术部,DC=evil,DC=com", "DC=example,DC=com"),
    ],
)
def test_the_change_form_refuses_a_bad_ou(staff, departments, ou, says):
    row = DepartmentMapping.objects.get(idata_departmentcode="120000")
    before = (row.ou, row.history.count())
    response = staff.post(f"/admin/departments/departmentmapping/{row.pk}/change/", form(row, ou=ou))
    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"ou"}
    assert says in errors["ou"][0]
    assert says in response.content.decode()
    row.refresh_from_db()
    assert (row.ou, row.history.count()) == before


def test_the_add_form_refuses_a_bad_ou(staff):
    response = staff.post(
        "/admin/departments/departmentmapping/add/",
        {"idata_departmentcode": "990000", "idaas_departmentcode": "WW990000", "department_name": "x",
         "ou": "CN=System,DC=example,DC=com", "is_active": "on", "_save": "Save"},
    )
    assert response.status_code == 200
    assert "ou" in response.context["adminform"].form.errors
    assert not DepartmentMapping.objects.exists()


def test_a_change_in_the_admin_is_recorded_with_the_staff_user(staff, departments, api_client):
    row = DepartmentMapping.objects.get(idata_departmentcode="120000")
    response = staff.post(f"/admin/departments/departmentmapping/{row.pk}/change/",
                          form(row, ou="OU=运维组,OU=信息技术部,OU=总部,DC=example,DC=com"))
    assert response.status_code == 302
    latest = api_client.get(f"/department-mappings/{row.pk}/history/").json()["results"][0]
    assert latest["history_user"] == "ops-admin"
    assert latest["changes"] == [{"field": "ou", "old": "OU=信息技术部,OU=总部,DC=example,DC=com",
                                  "new": "OU=运维组,OU=信息技术部,OU=总部,DC=example,DC=com"}]


def test_the_history_page_shows_a_change_made_through_the_api(staff, departments, api_client):
    row = DepartmentMapping.objects.get(idata_departmentcode="120000")
    patched = api_client.patch(f"/department-mappings/{row.pk}/", {"ou": "OU=安全组,OU=总部,DC=example,DC=com"},
                               format="json")
    assert patched.status_code == 200, patched.json()
    response = staff.get(f"/admin/departments/departmentmapping/{row.pk}/history/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "oa-test" in page  # who: the API client's service user
    assert "OU=安全组,OU=总部,DC=example,DC=com" in page  # what it became
    assert "OU=信息技术部,OU=总部,DC=example,DC=com" in page  # what it was
    records = list(response.context["page_obj"])
    assert records[0].history_type == "~"
    assert records[0].history_user.username == "oa-test"


def test_the_employee_type_admin_has_a_history_page(staff, employee_types):
    from departments.models import EmployeeTypeMapping

    worker = EmployeeTypeMapping.objects.get(employee_type="W")
    assert staff.get(f"/admin/departments/employeetypemapping/{worker.pk}/history/").status_code == 200
