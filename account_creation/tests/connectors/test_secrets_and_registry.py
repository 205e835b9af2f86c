"""No secret, token or full phone number in errors, details or logs; the registry builds connectors."""

from __future__ import annotations

import json
import logging

import pytest

from account_creation.connectors import get_connector, reset_connectors
from account_creation.connectors.base import Connector, ConnectorError
from account_creation.connectors.exchange import ExchangeConnector
from account_creation.connectors.idaas import IdaasConnector
from account_creation.connectors.welink import WelinkConnector
from account_creation.tests.connectors.conftest import (
    EXCHANGE_URL,
    IDAAS_CREATE_URL,
    IDAAS_TOKEN_URL,
    PHONE,
    SECRETS,
    WELINK_CREATE_URL,
    WELINK_DETAIL_URL,
    WELINK_TOKEN_URL,
    make_provisioning_request,
)

IDAAS_TOKEN = "idaas-runtime-token-77"
WELINK_TOKEN = "welink-runtime-token-88"


def leaked(text: str) -> list[str]:
    return [value for value in (*SECRETS, IDAAS_TOKEN, WELINK_TOKEN, PHONE) if value in text]


def echo(*values: str) -> str:
    return "server says: " + " / ".join(values)


def failures(http) -> list[tuple[Connector, str]]:
    """(connector, account type) pairs whose create fails while the server echoes secrets."""
    http.post(IDAAS_TOKEN_URL, json={"code": "201", "access_token": IDAAS_TOKEN, "expires_in": 7200})
    http.post(IDAAS_CREATE_URL, status=400, json={
        "code": "400", "message": echo(SECRETS[0], IDAAS_TOKEN, PHONE), "echo": {"mobile": PHONE}})
    http.post(WELINK_TOKEN_URL, json={"code": "0", "access_token": WELINK_TOKEN, "expires_in": 7200})
    http.post(WELINK_DETAIL_URL, json={"code": "47012"})
    http.post(WELINK_CREATE_URL, json={"code": "47004", "message": echo(SECRETS[1], WELINK_TOKEN, PHONE)})
    http.post(EXCHANGE_URL, json={"jsonValue": {"success": [], "fail": [echo(SECRETS[2], PHONE)]}})
    return [(IdaasConnector(), "idaas"), (WelinkConnector(), "welink"), (ExchangeConnector(), "email")]


def test_failures_never_expose_secrets_tokens_or_phone_numbers(http, caplog):
    caplog.set_level(logging.DEBUG, logger="account_creation")
    for connector, account_type in failures(http):
        with pytest.raises(ConnectorError) as error:
            connector.create(make_provisioning_request(account_type))
        exc = error.value
        assert leaked(str(exc)) == [], account_type
        assert leaked(exc.message) == [], account_type
        assert leaked(json.dumps(exc.details, ensure_ascii=False)) == [], account_type
        assert exc.details, account_type
    assert leaked(caplog.text) == []
    assert caplog.records, "the connectors log their calls"


def test_bad_credentials_answers_do_not_expose_the_secret(http, caplog):
    caplog.set_level(logging.DEBUG, logger="account_creation")
    http.post(IDAAS_TOKEN_URL, status=401, json={"code": "401", "message": f"wrong secret {SECRETS[0]}"})
    http.post(WELINK_TOKEN_URL, json={"code": "10007", "message": f"wrong secret {SECRETS[1]}"})
    pairs: list[tuple[Connector, str]] = [(IdaasConnector(), "idaas"), (WelinkConnector(), "welink")]
    for connector, account_type in pairs:
        with pytest.raises(ConnectorError) as error:
            connector.create(make_provisioning_request(account_type))
        assert leaked(str(error.value) + json.dumps(error.value.details)) == []
    assert leaked(caplog.text) == []


def test_registry_builds_each_real_connector_once():
    reset_connectors()
    try:
        built = {kind: get_connector(kind) for kind in ("idaas", "welink", "email")}
        assert isinstance(built["idaas"], IdaasConnector)
        assert isinstance(built["welink"], WelinkConnector)
        assert isinstance(built["email"], ExchangeConnector)
        assert get_connector("idaas") is built["idaas"]
        assert {connector.account_type for connector in built.values()} == {"idaas", "welink", "email"}
    finally:
        reset_connectors()


def test_session_pool_follows_the_engine_concurrency():
    from account_creation.connectors.http import pool_size

    adapter = IdaasConnector().session.get_adapter("https://idaas.test")
    assert adapter._pool_maxsize == pool_size()  # type: ignore[attr-defined]
