"""Admin login brute force (django-axes): after ADMIN_LOCKOUT_FAILURES wrong passwords the next
attempt is refused even with the right password, until the cool-off passes or an operator runs
`python manage.py axes_reset_username NAME` (or `axes_reset`). API tokens are not affected."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from conftest import client_with_key, issue_key

PASSWORD = "right-pw-for-the-lockout-test"  # noqa: S105 - a throwaway test account
LOCKED = "Account locked: too many login attempts"

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)


def log_in(client: Client, username: str, password: str):
    return client.post("/admin/login/", {"username": username, "password": password, "next": "/admin/"})


def fail(client: Client, times: int, username: str = "operator") -> list[int]:
    """Log in with wrong passwords; the status of each answer: 200 (the form again, with its
    error) until the limit, whose failure already answers 429 (locked out)."""
    statuses = []
    for attempt in range(times):
        response = log_in(client, username, f"wrong-{attempt}")
        statuses.append(response.status_code)
        assert (LOCKED in response.content.decode()) == (response.status_code == 429)
    return statuses


def test_the_configured_limits():
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 30 * 60
    assert settings.AUTHENTICATION_BACKENDS == [
        "axes.backends.AxesStandaloneBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"


def test_the_right_password_logs_in(operator):
    response = log_in(Client(), "operator", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_five_wrong_passwords_lock_the_login_even_for_the_right_one(operator):
    client = Client()
    assert fail(client, 5) == [200, 200, 200, 200, 429]
    response = log_in(client, "operator", PASSWORD)
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session
    # From another address too: the username is locked.
    elsewhere = Client(REMOTE_ADDR="198.51.100.7")
    assert log_in(elsewhere, "operator", PASSWORD).status_code == 429


def test_four_wrong_passwords_do_not_lock(operator):
    client = Client()
    assert fail(client, 4) == [200, 200, 200, 200]
    assert log_in(client, "operator", PASSWORD).status_code == 302


def test_axes_reset_username_unlocks(operator):
    client = Client()
    fail(client, 5)
    assert log_in(client, "operator", PASSWORD).status_code == 429
    call_command("axes_reset_username", "operator")
    response = log_in(client, "operator", PASSWORD)
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_axes_reset_unlocks_everything(operator):
    client = Client()
    fail(client, 5)
    call_command("axes_reset")
    assert log_in(client, "operator", PASSWORD).status_code == 302


def test_one_address_guessing_many_usernames_is_locked_out(operator):
    client = Client(REMOTE_ADDR="203.0.113.50")
    statuses = [fail(client, 1, username=name)[0] for name in ("alice", "bob", "carol", "dave", "erin")]
    assert statuses == [200, 200, 200, 200, 429]
    assert log_in(client, "operator", PASSWORD).status_code == 429
    # The operator, from their own address, is not locked.
    assert log_in(Client(REMOTE_ADDR="192.0.2.10"), "operator", PASSWORD).status_code == 302
    call_command("axes_reset_ip", "203.0.113.50")
    assert log_in(client, "operator", PASSWORD).status_code == 302


def test_api_tokens_do_not_go_through_the_lockout(operator):
    key = issue_key("locked-out-client", scopes=("all",))
    # Lock the API client's service user (same username) at the admin login ...
    fail(Client(), 5, username="locked-out-client")
    assert log_in(Client(), "locked-out-client", "anything").status_code == 429
    # ... its token still works: token auth never calls authenticate().
    assert client_with_key(key).get("/account-creation/task_stats/").status_code == 200
