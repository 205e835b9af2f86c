"""Access: every URL the project routes refuses anonymous and bad-token callers, except
/healthz, the Swagger UI page, the root's and /favicon.ico's redirects and the admin's own
login/logout pages; the OpenAPI document needs a token (API_DOCS_PUBLIC is false outside
development); the admin needs a staff login; API tokens are rotated and revoked with
`create_api_token NAME [--revoke]`."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

API_PREFIXES = ("account-creation/", "department-mappings/")
# The Swagger UI page holds no API description; /api/schema/ is checked with the rest. The root
# only redirects (staff to the dashboard, which asks for its login; anyone else to the API docs);
# /favicon.ico redirects to the static icon.
OPEN = {"healthz", "api/docs/", "", "favicon.ico"}
ADMIN_AUTH_PAGES = {"admin/login/", "admin/logout/"}
METHODS = ("get", "post", "put", "patch", "delete")
# A caller that is not on the machine itself: address-based allowances must not apply.
REMOTE_ADDR = "203.0.113.9"
BAD_CREDENTIALS = [
    "Token 0000000000000000000000000000000000000000",
    "Token ",
    "Token a b",
    "Bearer 0000000000000000000000000000000000000000",
    "Basic b2EtdGVzdDpwYXNzd29yZA==",
    "token' OR '1'='1",
]


def _walk(patterns: list, prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            assert isinstance(pattern, URLPattern)
            yield prefix + str(pattern.pattern)


def _concrete(route: str) -> str:
    """A real path for a route: converters and regex groups filled with plausible values."""
    path = re.sub(r"\(\?P<app_label>([^)|]+)[^)]*\)", r"\1", route)
    path = re.sub(r"\(\?P<url>[^)]*\)", "no-such-page/", path)
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "1", path)
    path = re.sub(r"<(?:\w+:)?(\w+)>", "1", path)
    return "/" + path.replace("^", "").replace("$", "")


ROUTES = sorted(set(_walk(get_resolver().url_patterns)))
PATHS = {route: _concrete(route) for route in ROUTES}


def test_the_walk_sees_every_part_of_the_project():
    paths = set(PATHS.values())
    for expected in ("/account-creation/create_accounts/", "/account-creation/1/retry/", "/department-mappings/1/",
                     "/admin/", "/healthz", "/api/schema/"):
        assert expected in paths
    assert len(ROUTES) > 50, ROUTES  # the admin alone routes dozens


def _refused(route: str, response) -> bool:
    if route.startswith("admin/"):
        if response.status_code in (301, 302):
            return response["Location"].startswith("/admin/login/")
        return response.status_code in (401, 403, 404, 405)
    if route.startswith(API_PREFIXES):
        return response.status_code == 401
    # Plain Django views (e.g. /metrics) may refuse a method before asking who is calling.
    return response.status_code in (401, 403, 405)


@pytest.mark.django_db
@pytest.mark.parametrize("route", [r for r in ROUTES if r not in OPEN | ADMIN_AUTH_PAGES])
def test_anonymous_and_bad_token_callers_are_refused(route, api_user, departments):
    path = PATHS[route]
    for authorization in [None, *BAD_CREDENTIALS]:
        client = Client(REMOTE_ADDR=REMOTE_ADDR)
        headers = {"Authorization": authorization} if authorization is not None else None
        for method in METHODS:
            response = client.generic(method.upper(), path, "{}", content_type="application/json", headers=headers)
            assert _refused(route, response), (method.upper(), path, authorization, response.status_code)
            assert response.status_code < 500
            if route.startswith(API_PREFIXES):
                assert "detail" in response.json()


@pytest.mark.django_db
def test_the_open_pages_answer_without_credentials(settings):
    assert settings.API_DOCS_PUBLIC is False  # DEBUG is false here
    client = Client(REMOTE_ADDR=REMOTE_ADDR)
    assert client.get("/healthz").status_code in (200, 503)
    assert client.get("/api/schema/").status_code == 401
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/admin/login/").status_code == 200


@pytest.mark.django_db
def test_the_api_document_answers_a_valid_token(api_key):
    client = Client(REMOTE_ADDR=REMOTE_ADDR, headers={"Authorization": f"Token {api_key}"})
    assert client.get("/api/schema/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("route", [r for r in ROUTES if r.startswith("admin/") and r not in ADMIN_AUTH_PAGES])
def test_the_admin_refuses_a_signed_in_user_who_is_not_staff(route, django_user_model):
    user = django_user_model.objects.create_user("clerk", password="pw-for-the-test-1")  # noqa: S106
    client = Client(REMOTE_ADDR=REMOTE_ADDR)
    client.force_login(user)
    response = client.get(PATHS[route])
    assert _refused(route, response), (PATHS[route], response.status_code)


@pytest.mark.django_db
def test_staff_see_the_admin(django_user_model):
    staff = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-for-the-test-2")
    client = Client(REMOTE_ADDR=REMOTE_ADDR)
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/account_creation/accountcreationtask/").status_code == 200


@pytest.mark.django_db
def test_tokens_are_rotated_and_revoked(capsys):
    def issue() -> str:
        call_command("create_api_token", "oa-rotation", "--origin-system", "oa")
        return capsys.readouterr().out.strip().splitlines()[-1]

    def status(token: str) -> int:
        client = Client(REMOTE_ADDR=REMOTE_ADDR)
        return client.get("/account-creation/", headers={"Authorization": f"Token {token}"}).status_code

    first = issue()
    assert status(first) == 200
    second = issue()
    assert second != first
    assert status(first) == 401, "a rotated token still works"
    assert status(second) == 200
    call_command("create_api_token", "oa-rotation", "--revoke")
    out = capsys.readouterr().out
    assert second not in out
    assert status(second) == 401, "a revoked token still works"
    with pytest.raises(CommandError):
        call_command("create_api_token", "oa-rotation", "--revoke")
    third = issue()  # a revoked client can be given a new token
    assert status(third) == 200
