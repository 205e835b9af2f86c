"""Shared fixtures: an authenticated API client and the bundled department mappings."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


@pytest.fixture
def api_user(django_user_model):
    return django_user_model.objects.create(username="oa-test")


@pytest.fixture
def api_client(api_user) -> APIClient:
    token = Token.objects.create(user=api_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def employee_types(db):
    """The bundled employee types. A data migration adds them, but a transactional test
    flushes the tables afterwards, so later tests would find none: restore them."""
    from django.apps import apps

    from departments.models import EmployeeTypeMapping

    if not EmployeeTypeMapping.objects.exists():
        module = importlib.import_module("departments.migrations.0002_default_employee_types")
        module.add_defaults(apps, None)


@pytest.fixture(autouse=True)
def _bundled_employee_types(request):
    """Every database test sees the bundled employee types, whatever ran before it."""
    if request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames):
        request.getfixturevalue("employee_types")


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Any]:
    """One in-thread sandbox for the session, accepting the test settings' credentials.

    Tests reset its world (``sandbox_server.world.reset()``) before they use it.
    """
    from django.conf import settings as django_settings

    from sandbox.server import start_sandbox

    server = start_sandbox(
        port=0,
        idaas_account=django_settings.IDAAS_ACCOUNT,
        idaas_secret=django_settings.IDAAS_SECRET,
        welink_client_id=django_settings.WELINK_CLIENT_ID,
        welink_client_secret=django_settings.WELINK_CLIENT_SECRET,
        email_token=django_settings.EMAIL_AUTH_TOKEN,
    )
    yield server
    server.stop()


@pytest.fixture
def departments(employee_types):
    from departments.services import department_mappings_load

    department_mappings_load()


def make_user(number: str = "P000126", name: str = "张三", **overrides) -> dict:
    user = {
        "employeeNumber": number,
        "employeeName": name,
        "departmentCode": "120000",
        "phoneNumber": "13800138000",
        "partnerCompany": "ABC",
        "country": "cn",
    }
    user.update(overrides)
    return user


def make_request(users=None, *, business_key: str = "65090", systems=None, **overrides) -> dict:
    body = {
        "originSystem": "oa",
        "businessKey": business_key,
        "accountType": "personal",
        "employeeType": "W",
        "systemList": systems or ["idaas", "welink", "email"],
        "userList": users if users is not None else [make_user()],
    }
    body.update(overrides)
    return body
