"""Fixtures for the connector tests: a provisioning request, mocked HTTP, fresh connectors."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
import responses

from account_creation.connectors.base import Person, ProvisioningRequest

IDAAS = "https://idaas.test"
WELINK = "https://welink.test"
EXCHANGE = "https://exchange.test"
IDAAS_TOKEN_URL = f"{IDAAS}/api/iam/auth/enterprise-token"
IDAAS_CREATE_URL = f"{IDAAS}/api/idaas/idm-openapi/enterprise/ent-001/user/onboarding"
WELINK_TOKEN_URL = f"{WELINK}/api/auth/v2/tickets"
WELINK_DETAIL_URL = f"{WELINK}/api/contact/v2/user/detail"
WELINK_CREATE_URL = f"{WELINK}/api/contact/v1/user/create"
EXCHANGE_URL = f"{EXCHANGE}/api/Exchange/EnableMailbox"

# The configured secrets (accountsync/test_settings.py).
SECRETS = ("idaas-secret-value-9f3b", "welink-secret-value-7c21", "email-token-value-55aa")
PHONE = "13800138000"


def make_provisioning_request(account_type: str = "idaas", **overrides: Any) -> ProvisioningRequest:
    person_fields = {
        key: overrides.pop(key)
        for key in ("employee_number", "employee_name", "phone_number", "country", "employee_type",
                    "department_code", "partner_company")
        if key in overrides
    }
    person = Person(
        employee_number="P000126",
        employee_name="张三",
        phone_number=PHONE,
        country="cn",
        partner_company="ABC",
        employee_type="W",
        department_code="120000",
    )
    base = ProvisioningRequest(
        task_id=7,
        account_type=account_type,
        person=replace(person, **person_fields),
        username="zP000126",
        english_name="zhangsan",
        email="zhangsan@corp.example.com",
        email_local_part="zhangsan",
        ou="OU=Staff,DC=example,DC=com",
        corp_dept_code="WL120000",
        idaas_user_type="employee",
        welink_person_type="正式员工",
    )
    return replace(base, **overrides)


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def calls_to(mock: responses.RequestsMock, url: str) -> list[Any]:
    return [call for call in mock.calls if call.request.url == url]


def sent_json(call: Any) -> Any:
    return json.loads(call.request.body)
