"""Hardened deployment: HTTPS_ONLY, TRUST_X_FORWARDED_PROTO, `check --deploy`, the
Content-Security-Policy on every page, base URLs that must be https, no sandbox by default."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.test import Client, override_settings

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_KEY = secrets.token_urlsafe(50)


def production_env(**env: str) -> dict[str, str]:
    """The environment of a production process: accountsync.settings, no .env, nothing of ours
    inherited from the test run (values "<unset>" are removed)."""
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("ACCOUNT_CREATION_", "DJANGO_", "DATABASE_", "IDAAS_", "WELINK_", "EMAIL_", "SANDBOX_", "API_",
             "HTTPS_", "TRUST_", "ADMIN_", "ACCOUNTSYNC_")
        )
        and key not in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "TEST_DATABASE_NAME")
    }
    base.update(
        DJANGO_SETTINGS_MODULE="accountsync.settings",
        ACCOUNTSYNC_ENV_FILE="/nonexistent",
        DEBUG="false",
        SECRET_KEY=PRODUCTION_KEY,
        ALLOWED_HOSTS="accountsync.example.com",
        LOG_DIR=str(ROOT / "logs" / "test"),
    )
    base.update(env)
    return {key: value for key, value in base.items() if value != "<unset>"}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=production_env(**env),
        capture_output=True, text=True, timeout=180,
    )


SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
names = ["DEBUG", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
         "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER",
         "SECURE_REDIRECT_EXEMPT", "SANDBOX_ENABLED", "API_DOCS_PUBLIC", "IDAAS_BASE_URL", "WELINK_BASE_URL",
         "EMAIL_BASE_URL", "AXES_FAILURE_LIMIT"]
values = {name: getattr(s, name) for name in names}
values["AXES_COOLOFF_MINUTES"] = s.AXES_COOLOFF_TIME.total_seconds() / 60
values["sandbox_installed"] = "sandbox" in s.INSTALLED_APPS
values["csp_upgrade"] = s.CONTENT_SECURITY_POLICY["DIRECTIVES"]["upgrade-insecure-requests"]
print(json.dumps(values))
"""


def production_settings(**env: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SHOW_SETTINGS], cwd=ROOT, env=production_env(**env),
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- check --deploy ----------------------------------------------------------------------


def test_check_deploy_passes_with_production_settings_and_https_only():
    done = manage("check", "--deploy", "--fail-level", "WARNING", HTTPS_ONLY="true")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "no issues" in done.stdout + done.stderr


def test_check_deploy_names_what_https_only_would_fix():
    done = manage("check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in done.stderr, check


# --- HTTPS_ONLY and TRUST_X_FORWARDED_PROTO ------------------------------------------------


def test_defaults_are_plain_http_and_no_proxy_trust():
    values = production_settings()
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert values["csp_upgrade"] is False


def test_https_only_turns_on_redirect_hsts_and_secure_cookies():
    values = production_settings(HTTPS_ONLY="true", TRUST_X_FORWARDED_PROTO="true")
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_HSTS_PRELOAD"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["SECURE_REDIRECT_EXEMPT"] == ["^healthz$"]
    assert values["csp_upgrade"] is True


@pytest.mark.parametrize("name", ["HTTPS_ONLY", "TRUST_X_FORWARDED_PROTO", "API_DOCS_PUBLIC"])
def test_a_malformed_switch_stops_start_up_naming_it(name):
    done = manage("check", **{name: "sometimes"})
    assert done.returncode != 0
    last_line = done.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line
    assert name in last_line


@pytest.mark.django_db
@override_settings(
    SECURE_SSL_REDIRECT=True,
    SECURE_REDIRECT_EXEMPT=[r"^healthz$"],
    SECURE_HSTS_SECONDS=31536000,
    SECURE_HSTS_INCLUDE_SUBDOMAINS=True,
    SECURE_HSTS_PRELOAD=True,
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
)
def test_https_redirect_hsts_and_the_proxy_header():
    client = Client()
    response = client.get("/admin/login/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/admin/login/"
    # /healthz answers plain-http probes of a load balancer.
    assert client.get("/healthz").status_code == 200
    # Behind the proxy: X-Forwarded-Proto: https means the request came in over https.
    proxied = client.get("/admin/login/", headers={"X-Forwarded-Proto": "https"})
    assert proxied.status_code == 200
    assert proxied["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert client.get("/admin/login/", secure=True).status_code == 200


@pytest.mark.django_db
@override_settings(SECURE_SSL_REDIRECT=True)
def test_without_trusting_the_proxy_the_header_proves_nothing():
    response = Client().get("/admin/login/", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 301


# --- SECRET_KEY: no escape hatch ------------------------------------------------------------


def test_the_insecure_key_escape_hatch_is_gone():
    done = manage("check", SECRET_KEY="<unset>", ACCOUNTSYNC_ALLOW_INSECURE_KEY="1")
    assert done.returncode != 0
    assert "SECRET_KEY" in done.stderr.strip().splitlines()[-1]
    assert "ACCOUNTSYNC_ALLOW_INSECURE_KEY" not in (ROOT / "accountsync" / "settings.py").read_text()


def test_debug_still_runs_without_a_key():
    done = manage("check", SECRET_KEY="<unset>", DEBUG="true")
    assert done.returncode == 0, done.stderr[-2000:]


# --- fail closed: sandbox off, no default downstream URL, https only -------------------------


def test_nothing_points_at_the_sandbox_by_default():
    values = production_settings()
    assert values["SANDBOX_ENABLED"] is False
    assert values["sandbox_installed"] is False
    assert values["IDAAS_BASE_URL"] == values["WELINK_BASE_URL"] == values["EMAIL_BASE_URL"] == ""
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert re.search(r"^SANDBOX_ENABLED=false$", example, re.M)
    for line in example.splitlines():
        if re.match(r"^\w+_BASE_URL=", line):
            value = line.split("=", 1)[1]
            assert value == "" or value.startswith("https://"), line


def test_the_sandbox_is_installed_only_when_asked_for():
    values = production_settings(SANDBOX_ENABLED="true", EMAIL_BASE_URL="http://127.0.0.1:8900")
    assert values["sandbox_installed"] is True
    assert values["EMAIL_BASE_URL"] == "http://127.0.0.1:8900"


def test_unset_base_urls_mean_not_configured(monkeypatch, settings):
    from account_creation.connectors import missing_configuration

    settings.WELINK_BASE_URL = ""
    assert "WELINK_BASE_URL" in missing_configuration()["welink"]


@pytest.mark.parametrize(
    "value",
    [
        "https://apig.hieds.net",
        "https://exchange-wrapper.corp.example.com:8443/api/",
        "http://127.0.0.1:8900",
        "http://127.8.9.10",
        "http://localhost:8900",
        "http://[::1]:8900",
        "",
    ],
)
def test_accepted_base_urls(monkeypatch, value):
    from accountsync.settings import _base_url

    monkeypatch.setenv("EMAIL_BASE_URL", value)
    assert _base_url("EMAIL_BASE_URL") == value.rstrip("/")


@pytest.mark.parametrize(
    "value",
    [
        "http://exchange-wrapper.example.com:8080",
        "http://10.0.0.5",
        "http://128.0.0.1",
        "http://localhost.example.com",
        "http://[::ffff:10.0.0.1]",
        "ftp://127.0.0.1",
        "exchange-wrapper.example.com",
        "https://",
        "https://host:notaport",
        "http://[::1",
    ],
)
def test_refused_base_urls_name_the_variable(monkeypatch, value):
    from accountsync.settings import _base_url

    monkeypatch.setenv("WELINK_BASE_URL", value)
    with pytest.raises(ImproperlyConfigured, match="WELINK_BASE_URL"):
        _base_url("WELINK_BASE_URL")


@pytest.mark.parametrize("name", ["IDAAS_BASE_URL", "WELINK_BASE_URL", "EMAIL_BASE_URL"])
def test_a_plain_http_remote_base_url_stops_start_up(name):
    done = manage("check", **{name: "http://downstream.example.com"})
    assert done.returncode != 0
    last_line = done.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line
    assert name in last_line
    assert "https://" in last_line


# --- Content-Security-Policy ----------------------------------------------------------------


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)([^>]*)>", re.I)
INLINE_STYLE = re.compile(r"<style([^>]*)>", re.I)
NONCE = re.compile(r'nonce="([^"]+)"')
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle=", re.I)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+=", re.I)


def assert_page_obeys_the_policy(response) -> None:
    """No inline script, style or handler the policy would block (JSON data blocks are not
    executed, so they need no nonce)."""
    policy = _policy(response)
    allowed = {value[len("'nonce-"):-1] for value in policy.get("script-src", []) if value.startswith("'nonce-")}
    html = response.content.decode()
    for attributes in INLINE_SCRIPT.findall(html):
        if 'type="application/json"' in attributes:
            continue
        nonce = NONCE.search(attributes)
        assert nonce, f"inline <script{attributes}> without a nonce"
        assert nonce.group(1) in allowed, f"inline <script{attributes}> with another nonce"
    style_nonces = {value[len("'nonce-"):-1] for value in policy.get("style-src", []) if value.startswith("'nonce-")}
    for attributes in INLINE_STYLE.findall(html):
        nonce = NONCE.search(attributes)
        assert nonce, f"inline <style{attributes}> without a nonce"
        assert nonce.group(1) in style_nonces, f"inline <style{attributes}> with another nonce"
    assert not STYLE_ATTRIBUTE.search(html), STYLE_ATTRIBUTE.search(html)
    assert not EVENT_HANDLER.search(html), EVENT_HANDLER.search(html)


@pytest.mark.django_db
def test_the_policy_allows_only_this_server():
    response = Client().get("/admin/login/")
    policy = _policy(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no nonce asked for on this page, none sent
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_static_files_carry_the_policy_too():
    response = Client().get("/static/drf_spectacular_sidecar/swagger-ui-dist/oauth2-redirect.html")
    assert response.status_code == 200
    assert "default-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_swagger_ui_runs_its_inline_script_and_style_by_nonce():
    first = Client().get("/api/docs/")
    second = Client().get("/api/docs/")
    assert first.status_code == 200
    assert_page_obeys_the_policy(first)
    nonces = NONCE.findall(first.content.decode())
    assert len(nonces) == 2  # the <style> and the start-up <script>
    assert len(set(nonces)) == 1
    assert f"'nonce-{nonces[0]}'" in _policy(first)["script-src"]
    assert f"'nonce-{nonces[0]}'" in _policy(first)["style-src"]
    assert NONCE.findall(second.content.decode())[0] != nonces[0]  # a new one per response


def _admin_pages() -> list[str]:
    from django.contrib import admin
    from django.urls import reverse

    pages = ["/admin/", "/admin/password_change/", "/admin/status/", "/admin/status/request/?business_key=65090",
             "/admin/status/person/?q=P000126"]
    for model in admin.site._registry:
        opts = model._meta
        pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
    return pages


@pytest.mark.django_db
def test_every_admin_page_and_the_dashboard_obey_the_policy(django_user_model, api_client, departments):
    from conftest import make_request

    assert api_client.post("/account-creation/create_accounts/", make_request(), format="json").status_code == 201
    staff = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-for-the-csp-test")
    client = Client()
    client.force_login(staff)
    checked = 0
    for page in _admin_pages():
        response = client.get(page)
        if response.status_code in (403, 302):  # add pages some models do not offer
            continue
        assert response.status_code == 200, (page, response.status_code)
        assert_page_obeys_the_policy(response)
        checked += 1
    assert checked > 10


# --- the Django test client under axes --------------------------------------------------------


@pytest.mark.django_db
def test_the_test_client_logs_in_with_a_request_as_axes_documents(django_user_model):
    """axes needs the request in authenticate(); Client.login() passes its credentials on, so
    tests give it a blank HttpRequest (or use force_login)."""
    django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-for-the-login-test")
    client = Client()
    assert client.login(request=HttpRequest(), username="boss", password="pw-for-the-login-test")
    assert client.get("/admin/").status_code == 200
    assert not Client().login(request=HttpRequest(), username="boss", password="wrong")
