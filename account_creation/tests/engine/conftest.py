from __future__ import annotations

import pytest

from account_creation.connectors import override_connectors
from account_creation.connectors.fake import FakeConnector
from conftest import make_request, make_user

NAMES = ["张三", "李四", "王五", "赵六", "钱七", "孙八", "周九", "吴十", "郑一", "冯二", "陈红", "曾伟"]


@pytest.fixture
def fakes():
    connectors = {system: FakeConnector(system) for system in ("idaas", "welink", "email")}
    with override_connectors(connectors):
        yield connectors


@pytest.fixture
def submit(api_client, departments):
    counter = {"n": 0}

    def _submit(numbers=("P000126",), systems=None, **overrides):
        counter["n"] += 1
        users = [make_user(number, name=NAMES[i % len(NAMES)]) for i, number in enumerate(numbers)]
        body = make_request(users, business_key=f"bk-{counter['n']}", systems=systems, **overrides)
        response = api_client.post("/account-creation/create_accounts/", body, format="json")
        assert response.status_code in (200, 201, 207), response.json()
        return response.json()

    return _submit
