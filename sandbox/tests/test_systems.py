"""The sandbox follows the account-type registry and its own table of simulated systems."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from account_creation.account_types import AccountTypeSpec, registry
from sandbox.faults import FaultConfigError, Faults, faults_from_payload, known_systems
from sandbox.management.commands.run_sandbox import resolve_credentials
from sandbox.server import SandboxServer
from sandbox.systems import (
    CredentialField,
    Credentials,
    Reply,
    SimulatedRoute,
    SimulatedSystem,
    exact,
    simulated_systems,
)

ROOT = Path(__file__).resolve().parents[2]

VPN_TYPE = AccountTypeSpec(
    value="vpn", label="VPN", order=9, connector="example.VpnConnector", settings=("VPN_TOKEN", "VPN_BASE_URL")
)
VPN = SimulatedSystem(
    name="vpn",
    label="VPN gateway",
    auth_header="X-Vpn-Token",
    rate_limited_reply=Reply(429, {"error": "slow down"}),
    invalid_json_reply=Reply(400, {"error": "not json"}),
    error_reply=lambda status: Reply(status, {"error": f"vpn {status}"}),
    routes=(
        SimulatedRoute(
            re.compile(r"^/vpn/users/(?P<name>[^/]+)$"),
            lambda world, match, token, body: Reply(201, {"user": match["name"], "token": token, "body": body}),
        ),
        SimulatedRoute(exact("/vpn/token"), lambda world, match, token, body: Reply(200, {"ok": 1}), data_call=False),
    ),
    credentials=(CredentialField("vpn_token", "VPN_TOKEN", "sandbox-vpn-token", secret=True),),
)


def test_every_simulated_system_is_a_registered_account_type_and_vice_versa():
    assert set(simulated_systems.names()) == set(registry.values())
    assert simulated_systems.base_url_settings() == ["IDAAS_BASE_URL", "WELINK_BASE_URL", "EMAIL_BASE_URL"]
    for system in simulated_systems:
        spec = registry.get(system.name)
        for field in system.credentials:
            assert field.setting in spec.settings, (system.name, field.setting)


def test_fault_switches_accept_the_types_registered_when_validating():
    assert known_systems() == ["idaas", "welink", "email"]
    with pytest.raises(FaultConfigError, match="systems must be a non-empty list of idaas, welink, email, got"):
        faults_from_payload({"systems": ["vpn"]})

    with registry.temporarily(VPN_TYPE):
        faults = faults_from_payload({"systems": ["vpn"]})
        assert faults.applies_to("vpn")
        assert not faults.applies_to("idaas")
        with pytest.raises(FaultConfigError, match="list of idaas, welink, email, vpn, got"):
            faults_from_payload({"systems": ["ldap"]})
        assert Faults().as_dict()["systems"] == ["idaas", "welink", "email", "vpn"]

    with pytest.raises(FaultConfigError):
        faults_from_payload({"systems": ["vpn"]})


def test_by_default_a_fault_applies_to_every_system_even_one_registered_later():
    faults = faults_from_payload({"error_rate": 0.5})

    assert faults.systems == ()
    assert all(faults.applies_to(name) for name in ("idaas", "welink", "email", "vpn"))
    assert faults.as_dict()["systems"] == ["idaas", "welink", "email"]


def test_a_new_simulated_system_is_one_declaration():
    with registry.temporarily(VPN_TYPE), simulated_systems.temporarily(VPN):
        server = SandboxServer("127.0.0.1", 0).start()
        credentials, origins = resolve_credentials({})
    try:
        url = server.url
        created = requests.post(url + "/vpn/users/zs", json={"a": 1}, headers={"X-Vpn-Token": "t1"}, timeout=5)
        assert (created.status_code, created.json()) == (201, {"user": "zs", "token": "t1", "body": {"a": 1}})
        bad = requests.post(url + "/vpn/users/zs", data=b"{nope", timeout=5)
        assert (bad.status_code, bad.json()) == (400, {"error": "not json"})

        server.world.set_faults(faults_from_payload({"error_rate": 1.0}))
        failed = requests.post(url + "/vpn/users/zs", json={}, timeout=5)
        assert failed.status_code in (500, 503)
        assert failed.json() == {"error": f"vpn {failed.status_code}"}
        assert requests.post(url + "/vpn/token", json={}, timeout=5).json() == {"ok": 1}  # no error: no data call

        server.world.set_faults(faults_from_payload({"rate_limit_per_s": 1}))
        requests.post(url + "/vpn/token", json={}, timeout=5)
        limited = requests.post(url + "/vpn/token", json={}, timeout=5)
        assert (limited.status_code, limited.json()) == (429, {"error": "slow down"})

        totals = server.state["totals"]
        assert totals["requests"]["vpn"] == 5  # a body that is not JSON is answered before counting
        assert totals["faults_by_system"]["vpn"] == {"error": 1, "timeout": 0, "rate_limit": 1}
        # The built-in systems are untouched.
        assert requests.post(url + "/api/auth/v2/tickets", json={}, timeout=5).json()["code"] == "41579"
    finally:
        server.stop()
    assert server.credentials.vpn_token == "sandbox-vpn-token"
    assert credentials.vpn_token == "sandbox-vpn-token"
    assert origins["vpn_token"] == "default"
    assert "vpn" not in simulated_systems.names()


def test_credentials_know_the_fields_of_the_simulated_systems():
    defaults = Credentials()
    assert defaults.as_dict() == {
        "idaas_account": "sandbox-idaas-account",
        "idaas_secret": "sandbox-idaas-secret",
        "welink_client_id": "sandbox-welink-client",
        "welink_client_secret": "sandbox-welink-secret",
        "email_token": "sandbox-email-token",
    }
    assert Credentials.from_values({"email_token": "", "idaas_secret": None, "welink_client_id": "c"}) == Credentials(
        welink_client_id="c"
    )
    with pytest.raises(TypeError, match="unknown credentials: ldap_password"):
        Credentials(ldap_password="x")
    with pytest.raises(TypeError, match="unknown credentials: ldap_password"):
        Credentials.from_values({"ldap_password": None})
    with pytest.raises(AttributeError):
        defaults.email_token = "x"  # type: ignore[misc]
    assert copy.deepcopy(defaults) == defaults


def test_sandbox_imports_without_django_settings_and_only_the_registry_of_the_app():
    code = "import sys, sandbox.server; print(sorted(m for m in sys.modules if m.startswith('account_creation')))"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['account_creation', 'account_creation.account_types']"
