"""Fail closed: the public routes never answer 5xx, whatever the method; the API document
needs a token outside development (API_DOCS_PUBLIC), while the Swagger UI page stays reachable
so that a person can paste a token into its Authorize box."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from conftest import client_with_key, issue_key

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
PUBLIC_ROUTES = (
    "/healthz",
    "/api/schema/",
    "/api/schema/?format=json",
    "/api/docs/",
    "/metrics",
    "/admin/login/",
    "/admin/logout/",
    "/",
    "/no-such-page/",
    "/static/admin/css/base.css",
    "/static/account_creation/ops/dashboard.js",
    "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
    "/static/no-such-file.css",
)
CALLERS = {
    "anonymous": None,
    "bad token": "Token 0000000000000000000000000000000000000000",
    "malformed": "Token a b",
    "bearer": "Bearer nonsense",
}


@pytest.mark.django_db
@pytest.mark.parametrize("docs_public", [False, True], ids=["docs-private", "docs-public"])
@pytest.mark.parametrize("path", PUBLIC_ROUTES)
@pytest.mark.parametrize("method", METHODS)
def test_public_routes_never_answer_5xx(settings, method, path, docs_public):
    settings.API_DOCS_PUBLIC = docs_public
    client = Client(raise_request_exception=False)
    for caller, authorization in CALLERS.items():
        headers = {"Authorization": authorization} if authorization else None
        response = client.generic(method, path, "{}", content_type="application/json", headers=headers)
        assert response.status_code < 500, (method, path, caller, response.status_code)


@pytest.mark.django_db
def test_options_on_the_docs_page_lists_its_methods():
    response = Client(raise_request_exception=False).options("/api/docs/")
    assert response.status_code == 200
    assert "GET" in response["Allow"]


# --- the API document needs a token outside development -------------------------------------


@pytest.fixture
def private_docs(settings):
    settings.API_DOCS_PUBLIC = False


@pytest.mark.django_db
@pytest.mark.usefixtures("private_docs")
@pytest.mark.parametrize("authorization", [None, *[v for v in CALLERS.values() if v]])
def test_the_document_refuses_callers_without_a_valid_token(authorization):
    headers = {"Authorization": authorization} if authorization else None
    for query in ("", "?format=json"):
        response = Client().get(f"/api/schema/{query}", headers=headers)
        assert response.status_code == 401, (authorization, response.status_code)
        assert response["WWW-Authenticate"] == "Token"
        assert "paths" not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.usefixtures("private_docs")
def test_anonymous_callers_are_told_how_to_get_in():
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 401
    assert "API_DOCS_PUBLIC" in json.loads(response.content)["detail"]


@pytest.mark.django_db
@pytest.mark.usefixtures("private_docs")
@pytest.mark.parametrize(
    ("scopes", "origins"),
    [(("metrics",), ()), (("intake",), ("oa",)), (("read",), ("hr",)), (("all",), ())],
    ids=["metrics", "intake", "read", "all"],
)
def test_any_valid_token_gets_the_document(scopes, origins):
    client = client_with_key(issue_key(f"docs-{scopes[0]}", origin_systems=origins, scopes=scopes))
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    document = json.loads(response.content)
    # Whatever the token's scopes, the whole API is described.
    assert "/account-creation/create_accounts/" in document["paths"]
    assert "/department-mappings/" in document["paths"]
    assert client.get("/api/schema/").status_code == 200  # YAML


@pytest.mark.django_db
def test_public_docs_need_no_token(settings):
    settings.API_DOCS_PUBLIC = True
    assert Client().get("/api/schema/").status_code == 200
    assert Client().get("/api/schema/", {"format": "json"}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("docs_public", [False, True])
def test_the_swagger_page_is_always_served_with_an_authorize_box(settings, docs_public):
    """The page holds no API description; its start-up script loads the document, and before
    it can, shows the Token security scheme, so Authorize is there to paste `Token <key>`."""
    settings.API_DOCS_PUBLIC = docs_public
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/account-creation/" not in html
    script = re.search(r"<script nonce=\"[^\"]+\">(.*?)</script>", html, re.S)
    assert script, "the start-up script"
    assert 'const authName = "tokenAuth";' in script.group(1)
    declared = re.search(r"const securityScheme = (\{.*?\});", script.group(1), re.S)
    assert declared, "the security scheme"
    scheme = json.loads(declared.group(1))
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert 'new URL("/api/schema/"' in script.group(1)


def test_api_docs_default_follows_debug():
    import subprocess
    import sys

    from accountsync.tests.test_deploy import ROOT, production_env

    code = "import django; django.setup(); from django.conf import settings; print(settings.API_DOCS_PUBLIC)"

    def value(**env: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=production_env(**env), capture_output=True, text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip().splitlines()[-1]

    assert value() == "False"
    assert value(DEBUG="true") == "True"
    assert value(API_DOCS_PUBLIC="true") == "True"
    assert value(DEBUG="true", API_DOCS_PUBLIC="false") == "False"
