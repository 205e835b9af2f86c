"""Task list pagination: exact pages and links; count exact up to a limit, then estimated."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from account_creation.api.pagination import CappedCountPaginator
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db

LIST = "/account-creation/"


@pytest.fixture
def six_tasks(api_client, departments, monkeypatch):
    monkeypatch.setattr("account_creation.api.pagination.TaskPagination.page_size", 4)
    response = api_client.post(
        "/account-creation/create_accounts/", make_request([make_user("P1"), make_user("P2")]), format="json"
    )
    assert response.status_code == 201
    return sorted((task["id"] for task in response.json()["tasks"]), reverse=True)


def test_a_page_that_ends_the_set_needs_no_count_query(api_client, six_tasks):
    with CaptureQueriesContext(connection) as queries:
        body = api_client.get(LIST, {"status": "pending", "page": 2}).json()
    assert body["count"] == 6
    assert [task["id"] for task in body["results"]] == six_tasks[4:]
    assert not any("COUNT(*)" in query["sql"] and "subquery" in query["sql"] for query in queries.captured_queries)


def test_pages_links_and_last_page(api_client, six_tasks):
    first = api_client.get(LIST)
    assert first["X-Count-Exact"] == "true"
    assert first.json()["next"].endswith("page=2")
    last = api_client.get(LIST, {"page": "last"}).json()
    assert [task["id"] for task in last["results"]] == six_tasks[4:]
    assert last["next"] is None
    assert api_client.get(LIST, {"page": 3}).status_code == 404
    assert api_client.get(LIST, {"page": "x"}).status_code == 404


def test_beyond_the_limit_the_count_is_flagged_as_an_estimate_on_postgresql(api_client, six_tasks, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "exact_count_limit", 4)
    response = api_client.get(LIST)
    body = response.json()
    assert len(body["results"]) == 4
    assert body["next"]
    if connection.vendor == "postgresql":
        assert response["X-Count-Exact"] == "false"
        assert body["count"] >= 5  # never less than the rows known to exist
    else:  # no planner estimate: SQLite counts exactly
        assert response["X-Count-Exact"] == "true"
        assert body["count"] == 6
