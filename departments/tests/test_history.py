"""GET /department-mappings/{id}/history/: who changed a mapping, when, before and after."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from conftest import client_with_key, issue_key
from departments.models import DepartmentMapping, EmployeeTypeMapping

pytestmark = pytest.mark.django_db

URL = "/department-mappings/"
SAFE_OU = "OU=测试部,OU=总部,DC=example,DC=com"


def mapping(**overrides) -> dict:
    body = {"idata_departmentcode": "990000", "idaas_departmentcode": "WW990000", "department_name": "测试部",
            "ou": SAFE_OU}
    body.update(overrides)
    return body


def changes(entry: dict) -> dict:
    return {change["field"]: (change["old"], change["new"]) for change in entry["changes"]}


def test_history_says_who_created_changed_and_deleted_what(db):
    hr_admin = client_with_key(issue_key("hr-admin", origin_systems=("oa",), scopes=("read", "mappings")))
    second_oa = client_with_key(issue_key("second-oa", origin_systems=("oa2",), scopes=("read", "mappings")))
    auditor = client_with_key(issue_key("auditor", origin_systems=("oa",), scopes=("read",)))

    created = hr_admin.post(URL, mapping(), format="json")
    assert created.status_code == 201, created.json()
    mapping_id = created.json()["id"]
    patched = second_oa.patch(f"{URL}{mapping_id}/", {"ou": "OU=销售部,DC=example,DC=com"}, format="json")
    assert patched.status_code == 200, patched.json()
    assert hr_admin.delete(f"{URL}{mapping_id}/").status_code == 204

    # Readable with the `read` scope alone, also after the mapping was deleted.
    response = auditor.get(f"{URL}{mapping_id}/history/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["count"] == 3
    deleted, changed, added = body["results"]  # newest first
    assert [e["history_type"] for e in body["results"]] == ["-", "~", "+"]
    assert [e["history_user"] for e in body["results"]] == ["hr-admin", "second-oa", "hr-admin"]
    assert deleted["history_date"] >= changed["history_date"] >= added["history_date"]
    assert deleted["history_id"] > changed["history_id"] > added["history_id"]
    assert set(added) == {"history_id", "history_date", "history_type", "history_user", "history_change_reason",
                          "changes"}

    assert changes(added) == {
        "idata_departmentcode": (None, "990000"),
        "idaas_departmentcode": (None, "WW990000"),
        "department_name": (None, "测试部"),
        "ou": (None, SAFE_OU),
        "is_active": (None, True),
    }
    # A change lists only what it changed: the OU, from -> to.
    assert changed["changes"] == [{"field": "ou", "old": SAFE_OU, "new": "OU=销售部,DC=example,DC=com"}]
    assert changes(deleted)["ou"] == ("OU=销售部,DC=example,DC=com", None)


def test_history_of_a_put_lists_each_changed_field(api_client):
    mapping_id = api_client.post(URL, mapping(), format="json").json()["id"]
    put = api_client.put(f"{URL}{mapping_id}/", mapping(idaas_departmentcode="WW1", is_active=False), format="json")
    assert put.status_code == 200, put.json()
    latest = api_client.get(f"{URL}{mapping_id}/history/").json()["results"][0]
    assert latest["history_type"] == "~"
    assert latest["history_user"] == "oa-test"
    assert changes(latest) == {"idaas_departmentcode": ("WW990000", "WW1"), "is_active": (True, False)}


def test_history_is_paginated_across_pages(api_client, monkeypatch):
    from rest_framework.pagination import PageNumberPagination

    monkeypatch.setattr(PageNumberPagination, "page_size", 2)
    mapping_id = api_client.post(URL, mapping(), format="json").json()["id"]
    for name in ("一", "二", "三"):
        api_client.patch(f"{URL}{mapping_id}/", {"department_name": name}, format="json")
    first = api_client.get(f"{URL}{mapping_id}/history/").json()
    assert first["count"] == 4
    assert first["next"]
    second = api_client.get(first["next"]).json()
    # The diff of the last entry of a page is against the first entry of the next page.
    assert changes(first["results"][-1]) == {"department_name": ("一", "二")}
    assert changes(second["results"][0]) == {"department_name": ("测试部", "一")}
    assert second["results"][1]["history_type"] == "+"


def test_a_client_without_the_mappings_scope_changes_nothing(api_client, departments):
    row = DepartmentMapping.objects.get(idata_departmentcode="120000")
    before = (row.ou, row.updated_at, row.history.count())
    reader = client_with_key(issue_key("oa-reader", origin_systems=("oa",), scopes=("intake", "read", "retry")))
    response = reader.patch(f"{URL}{row.pk}/", {"ou": "OU=Domain Controllers,DC=example,DC=com"}, format="json")
    assert response.status_code == 403
    assert "mappings" in response.json()["detail"]
    assert reader.delete(f"{URL}{row.pk}/").status_code == 403
    row.refresh_from_db()
    assert (row.ou, row.updated_at, row.history.count()) == before
    # It may still read the history.
    assert reader.get(f"{URL}{row.pk}/history/").status_code == 200


def test_history_needs_the_read_scope(api_client, departments):
    row = DepartmentMapping.objects.get(idata_departmentcode="120000")
    intake_only = client_with_key(issue_key("intake-only", origin_systems=("oa",), scopes=("intake",)))
    assert intake_only.get(f"{URL}{row.pk}/history/").status_code == 403
    assert client_with_key("no-such-key").get(f"{URL}{row.pk}/history/").status_code == 401


@pytest.mark.parametrize("mapping_id", ["0", "-1", "abc", "99999999999999999999999", "1" * 5000, "١", "1_0", "424242"])
def test_history_of_an_unknown_id_is_404(api_client, mapping_id):
    response = api_client.get(f"{URL}{mapping_id}/history/")
    assert response.status_code == 404
    assert response.json()["detail"]


def test_the_loader_records_history_without_a_user(api_client, tmp_path):
    call_command("load_department_mappings", stdout=None)
    row = DepartmentMapping.objects.get(idata_departmentcode="120000")
    [entry] = api_client.get(f"{URL}{row.pk}/history/").json()["results"]
    assert entry["history_type"] == "+"
    assert entry["history_user"] is None
    assert entry["history_change_reason"] == "load_department_mappings department_mappings.csv"
    assert DepartmentMapping.history.count() == DepartmentMapping.objects.count()

    # An unchanged second load writes no history; a changed row gets one "~" entry.
    call_command("load_department_mappings")
    assert DepartmentMapping.history.count() == DepartmentMapping.objects.count()
    path = tmp_path / "one.csv"
    path.write_text("idata_departmentcode,idaas_departmentcode,department_name,ou\n"
                    '120000,WW120000,信息技术部,"OU=信息技术部,OU=新总部"\n', encoding="utf-8")
    call_command("load_department_mappings", "--file", str(path))
    latest = api_client.get(f"{URL}{row.pk}/history/").json()["results"][0]
    assert latest["history_type"] == "~"
    assert latest["history_user"] is None
    assert latest["history_change_reason"] == "load_department_mappings one.csv"
    assert changes(latest) == {
        "ou": ("OU=信息技术部,OU=总部,DC=example,DC=com", "OU=信息技术部,OU=新总部,DC=example,DC=com")
    }


def test_employee_type_mappings_keep_a_history_too(employee_types):
    worker = EmployeeTypeMapping.objects.get(employee_type="W")
    worker.welink_person_type = "员工"
    worker.save()
    assert [h.history_type for h in worker.history.all()][:1] == ["~"]
