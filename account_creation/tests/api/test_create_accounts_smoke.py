import pytest

from conftest import make_request, make_user

pytestmark = pytest.mark.django_db

URL = "/account-creation/create_accounts/"


def test_spec_example_creates_three_tasks_and_replay_creates_none(api_client, departments):
    response = api_client.post(URL, make_request(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["success"] is True
    assert body["created_tasks"] == 3
    assert [t["account_type"] for t in body["tasks"]] == ["idaas", "welink", "email"]

    again = api_client.post(URL, make_request(), format="json")
    assert again.status_code == 200
    assert again.json()["created_tasks"] == 0
    assert again.json()["replayed"] is True
    assert {t["id"] for t in again.json()["tasks"]} == {t["id"] for t in body["tasks"]}


def test_mixed_valid_and_invalid_users_answers_207(api_client, departments):
    users = [make_user("P1"), make_user("P2", phoneNumber=123), make_user("P1")]
    response = api_client.post(URL, make_request(users), format="json")
    assert response.status_code == 207, response.json()
    body = response.json()
    assert body["created_tasks"] == 3
    assert {(e["index"], e["field"]) for e in body["errors"]} == {(1, "phoneNumber"), (2, "employeeNumber")}


def test_anonymous_is_refused(anon_client):
    assert anon_client.post(URL, make_request(), format="json").status_code == 401
