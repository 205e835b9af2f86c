"""The admin's column headers, filters and form labels follow the reader's language (console point 6)."""

from __future__ import annotations

from typing import Any

import pytest

from account_creation.models import AccountCreationTask
from account_creation.tests.ops.sandbox_data import staff_client
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db

TASKS = "/admin/account_creation/accountcreationtask/"


def _pages(api_client: Any, django_user_model: Any, language: str | None = None) -> tuple[str, str]:
    response = api_client.post(
        "/account-creation/create_accounts/", make_request([make_user("P900001")], business_key="labels-1"),
        format="json",
    )
    assert response.status_code == 201, response.content
    task = AccountCreationTask.objects.get(employee_number="P900001", account_type="idaas")
    client = staff_client(django_user_model)
    headers = {"Accept-Language": language} if language else {}
    listing = client.get(TASKS, headers=headers)
    change = client.get(f"{TASKS}{task.pk}/change/", headers=headers)
    assert listing.status_code == change.status_code == 200
    return listing.content.decode(), change.content.decode()


def test_a_chinese_browser_sees_the_task_field_labels_in_chinese(
    api_client: Any, departments: None, django_user_model: Any
) -> None:
    listing, change = _pages(api_client, django_user_model, "zh-CN")
    # Column headers and filters of the change list.
    for label in ("工号", "姓名", "业务单号", "账号类型", "来源系统", "部门编码", "创建时间"):
        assert label in listing, label
    # Labels of the change form, help texts included.
    help_text = "到期的 high（高优先级）任务先被领取。"
    for label in ("工号", "下次尝试时间", "租约到期时间", "人员类型", "优先级", help_text):
        assert label in change, label
    for english in ("Employee number", "Employee name", "Business key", "Origin system", "Department code",
                    "Next attempt at", "Locked until", "Due high tasks are claimed first."):
        assert english not in listing, english
        assert english not in change, english


def test_without_a_language_the_task_field_labels_stay_english(
    api_client: Any, departments: None, django_user_model: Any
) -> None:
    listing, change = _pages(api_client, django_user_model)
    assert "Employee number" in listing
    assert "Business key" in listing
    assert "Next attempt at" in change
    assert "Due high tasks are claimed first." in change
    assert "工号" not in listing
    assert "下次尝试时间" not in change
