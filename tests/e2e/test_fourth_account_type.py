"""The worked example of docs/extending.md, proven: a fourth account type (a VPN account
after Email, depending on IDaaS) registered here, with its connector here, runs through
intake, the engine, stats, metrics, /healthz and the dashboard with no change to product code.

The three built-in types talk real HTTP to the sandbox; the VPN connector is this module's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from prometheus_client import generate_latest
from rest_framework.test import APIClient

from account_creation.account_types import ACCOUNT_TYPE_CHOICES, AccountTypeSpec, registry
from account_creation.connectors.base import AccountResult, ProvisioningRequest
from account_creation.models import AccountCreationTask, TaskStatus
from account_creation.ops.metrics import metrics_registry
from conftest import make_request, make_user
from tests.e2e.conftest import run_until_quiet

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class VpnConnector:
    """The fourth type's connector: what docs/extending.md asks a new connector to be."""

    account_type = "vpn"
    calls: list[ProvisioningRequest] = []
    lock = threading.Lock()

    def create(self, request: ProvisioningRequest) -> AccountResult:
        with self.lock:
            self.calls.append(request)
        return AccountResult(account_id=f"vpn-{request.username}", username=request.username, email=request.email)


VPN = AccountTypeSpec(
    value="vpn",
    label="VPN",
    order=3,
    connector=f"{__name__}.VpnConnector",
    depends_on=("idaas",),
    settings=("VPN_GATEWAY_URL",),
)


@pytest.fixture
def vpn(sandbox: Any, settings: Any) -> Iterator[AccountTypeSpec]:
    settings.VPN_GATEWAY_URL = "https://vpn.test"
    VpnConnector.calls.clear()
    with registry.temporarily(VPN):
        yield VPN


def post(client: APIClient, body: dict[str, Any]) -> Any:
    return client.post("/account-creation/create_accounts/", body, format="json")


def test_a_registered_fourth_type_runs_end_to_end(
    vpn: AccountTypeSpec, api_client: APIClient, departments: None, django_user_model: Any
) -> None:
    call_command("check")  # the registry check passes: the connector imports, IDaaS runs first
    assert ("vpn", "VPN") in list(ACCOUNT_TYPE_CHOICES)

    body = make_request([make_user("P000126", "张三")], systems=["vpn", "email", "welink", "idaas"])
    answer = post(api_client, body)
    assert answer.status_code == 201, answer.json()
    tasks = {task["account_type"]: task for task in answer.json()["tasks"]}
    assert set(tasks) == {"idaas", "welink", "email", "vpn"}
    assert AccountCreationTask.objects.get(pk=tasks["vpn"]["id"]).sequence == 3

    run_until_quiet(concurrency=1)

    done = {task.account_type: task for task in AccountCreationTask.objects.filter(employee_number="P000126")}
    assert {t: task.status for t, task in done.items()} == dict.fromkeys(done, TaskStatus.COMPLETED)
    assert done["vpn"].result == {"account_id": "vpn-zP000126", "username": "zP000126",
                                  "email": "zhangsan@corp.example.com", "adopted": False}
    # Its dependency held: VPN ran once, after the person's IDaaS account existed.
    assert len(VpnConnector.calls) == 1
    assert done["idaas"].completed_at is not None
    assert done["vpn"].started_at is not None
    assert done["idaas"].completed_at <= done["vpn"].started_at

    stats = api_client.get("/account-creation/task_stats/").json()
    assert stats["total_tasks"] == 4
    assert stats["stats_by_type"]["vpn"]["completed_tasks"] == 1
    listed = api_client.get("/account-creation/", {"account_type": "vpn"}).json()
    assert [task["id"] for task in listed["results"]] == [tasks["vpn"]["id"]]

    scrape = generate_latest(metrics_registry()).decode()
    assert 'accountsync_tasks{status="completed",system="vpn"} 1.0' in scrape

    staff = django_user_model.objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    browser = Client()
    browser.force_login(staff)
    dashboard = browser.get("/admin/status/").content.decode()
    assert "VPN" in dashboard
    grid = browser.get("/admin/status/request/", {"business_key": body["businessKey"]}).content.decode()
    assert "<th>VPN</th>" in grid  # the grid has a column per registered type, headed by its label


def test_its_dependency_is_enforced_at_intake(vpn: AccountTypeSpec, api_client: APIClient, departments: None) -> None:
    answer = post(api_client, make_request([make_user("P000777", "李四")], systems=["vpn"]))
    assert answer.status_code == 400
    [error] = answer.json()["errors"]
    assert error["employeeNumber"] == "P000777"
    assert "idaas" in error["message"]


def test_an_unconfigured_fourth_type_waits_and_says_so(
    vpn: AccountTypeSpec, api_client: APIClient, departments: None, settings: Any
) -> None:
    settings.VPN_GATEWAY_URL = ""
    health = api_client.get("/healthz").json()
    assert health["systems"]["vpn"] == {"configured": False, "missing": ["VPN_GATEWAY_URL"], "state": "ok"}
    assert post(api_client, make_request([make_user("P000888", "王五")], systems=["idaas", "vpn"])).status_code == 201
    run_until_quiet(concurrency=1)
    statuses = dict(AccountCreationTask.objects.filter(employee_number="P000888").values_list("account_type", "status"))
    assert statuses == {"idaas": TaskStatus.COMPLETED, "vpn": TaskStatus.PENDING}
    assert VpnConnector.calls == []


def test_a_type_without_its_connector_fails_the_system_check() -> None:
    broken = AccountTypeSpec(
        value="vpn", label="VPN", order=3, connector="account_creation.connectors.vpn.VpnConnector"
    )
    with registry.temporarily(broken), pytest.raises(SystemCheckError, match="'vpn' has no connector"):
        call_command("check")


def test_unregistered_the_type_is_unknown_again(api_client: APIClient, departments: None) -> None:
    answer = post(api_client, make_request([make_user()], systems=["idaas", "vpn"]))
    assert answer.status_code == 400
    assert 'Unknown system "vpn"; use idaas, welink, email.' in str(answer.json()["errors"])
