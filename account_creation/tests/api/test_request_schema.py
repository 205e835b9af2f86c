"""Real answers of the request resource match the OpenAPI document (schemathesis generates
mostly 404s for it: ids it cannot guess), in every state a person can be in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from account_creation.connectors import override_connectors
from account_creation.connectors.fake import FakeConnector
from account_creation.services.engine import AccountCreationService
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db

APP = get_wsgi_application()
# Loaded at collection, before any test database or token exists (as test_schemathesis does).
with override_settings(API_DOCS_PUBLIC=True):
    SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/", APP)


@contextmanager
def _keeping_the_test_connection() -> Iterator[None]:
    """Like Django's test client: the WSGI app must not close the test's database connection.
    (The test client reconnects close_old_connections after each of its own requests, so this
    wraps the WSGI calls themselves.)"""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_request_list_and_detail_answers_match_the_document(api_client, api_key, departments):
    connectors = {system: FakeConnector(system) for system in ("idaas", "welink", "email")}
    connectors["idaas"].script_for("P2", "fail")  # its WeLink and Email are then blocked
    connectors["idaas"].script_for("P3", "retry")
    users = [make_user("P1"), make_user("P2", name="李四"), make_user("P3", name="王五"),
             make_user("P4", name="赵六", departmentCode="999999"), make_user("P5", country="atlantis")]
    created = api_client.post("/account-creation/create_accounts/", make_request(users), format="json")
    assert created.status_code == 207, created.content
    request_id = created.json()["requestId"]
    # A later request reusing P1's tasks, to show reusedFromRequestId too.
    later = api_client.post("/account-creation/create_accounts/",
                            make_request([make_user("P1")], business_key="again"), format="json").json()
    with override_connectors(connectors):
        AccountCreationService(max_tasks=100, concurrency=1, deliver_callbacks=False).run()
    headers = {"Authorization": f"Token {api_key}"}
    detail = SCHEMA["/account-creation/requests/{request_id}/"]["GET"]
    listing = SCHEMA["/account-creation/requests/"]["GET"]
    cases = [
        detail.Case(path_parameters={"request_id": request_id}, headers=headers),
        detail.Case(path_parameters={"request_id": later["requestId"]}, headers=headers),
        listing.Case(headers=headers),
        listing.Case(query={"status": "failed"}, headers=headers),
    ]
    with _keeping_the_test_connection():
        for case in cases:
            response = case.call()
            assert response.status_code == 200, response.text
            case.validate_response(response, checks=[response_schema_conformance, status_code_conformance])
        body = cases[0].call().json()
    states = {account["status"] for person in body["people"] for account in person["accounts"].values()}
    assert {"completed", "failed", "blocked", "pending"} <= states
    assert body["errors"]
    assert body["warnings"]
