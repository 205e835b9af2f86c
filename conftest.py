"""Shared fixtures: an authenticated API client and the bundled department mappings."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the message catalogs when the .mo is missing or older than its .po (a fresh
    clone run without `make install`), so Chinese answers are tested, never silently English."""
    from accountsync.catalog import compile_catalogs

    compile_catalogs()


def issue_key(name: str, *, origin_systems: tuple[str, ...] = (), scopes: tuple[str, ...] = ("all",)) -> str:
    """Create an API client (as create_api_token does) and return its key."""
    from api_clients.services import client_issue_key

    return client_issue_key(name=name, origin_systems=origin_systems, scopes=scopes).key


def client_with_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def api_key(db) -> str:
    """The key of the suite's default API client: scope all (staff tooling)."""
    return issue_key("oa-test")


@pytest.fixture
def api_user(api_key, django_user_model):
    return django_user_model.objects.get(username="oa-test")


@pytest.fixture
def api_client(api_key) -> APIClient:
    return client_with_key(api_key)


@pytest.fixture
def oa_client(db) -> APIClient:
    """An OA client as make run creates it: bound to originSystem oa, default scopes."""
    return client_with_key(issue_key("oa-bound", origin_systems=("oa",), scopes=("intake", "read", "retry")))


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def employee_types(db):
    """The bundled employee types. A data migration adds them, but a transactional test
    flushes the tables afterwards, so later tests would find none: restore them."""
    from django.apps import apps

    from departments.models import AccountCategoryMapping, EmployeeTypeMapping

    if not EmployeeTypeMapping.objects.exists():
        module = importlib.import_module("departments.migrations.0002_default_employee_types")
        module.add_defaults(apps, None)
    if not AccountCategoryMapping.objects.exists():
        # The bundled mapping of the replaced system's values (and the descriptions' wording).
        importlib.import_module("departments.migrations.0006_messages").add_defaults(apps, None)


@pytest.fixture(autouse=True)
def _bundled_employee_types(request):
    """Every database test sees the bundled employee types, whatever ran before it."""
    if request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames):
        request.getfixturevalue("employee_types")


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Any]:
    """One in-thread sandbox for the session, accepting the test settings' credentials (the
    setting of every simulated system's credential field, see ``sandbox.systems``).

    Tests reset its world (``sandbox_server.world.reset()``) before they use it.
    """
    from django.conf import settings as django_settings

    from sandbox.server import start_sandbox
    from sandbox.systems import Credentials

    server = start_sandbox(port=0, credentials=Credentials.from_settings(django_settings))
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
