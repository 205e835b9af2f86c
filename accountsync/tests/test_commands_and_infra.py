"""create_api_token, /healthz, start-up checks of the environment, log redaction."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parents[2]
# A key is an 8-character prefix (stored) and a 32-character secret (only its hash is stored).
KEY_FORMAT = re.compile(r"[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}")


def create_token(*args: str) -> str:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue()


def client_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


# --- create_api_token --------------------------------------------------------------------


@pytest.mark.django_db
def test_token_is_the_last_line_and_works():
    token = create_token("oa-prod", "--origin-system", "oa").strip().splitlines()[-1]
    assert KEY_FORMAT.fullmatch(token), token
    assert client_with(token).get("/account-creation/task_stats/").status_code == 200


@pytest.mark.django_db
def test_rotating_invalidates_the_old_token():
    old = create_token("oa-prod", "--origin-system", "oa").strip().splitlines()[-1]
    output = create_token("oa-prod", "--origin-system", "oa")
    new = output.strip().splitlines()[-1]
    assert new != old
    assert "rotated" in output
    assert client_with(old).get("/account-creation/task_stats/").status_code == 401
    assert client_with(new).get("/account-creation/task_stats/").status_code == 200


@pytest.mark.django_db
def test_revoke():
    token = create_token("oa-prod", "--origin-system", "oa").strip().splitlines()[-1]
    create_token("oa-prod", "--revoke")
    assert client_with(token).get("/account-creation/task_stats/").status_code == 401
    with pytest.raises(CommandError, match="no token"):
        create_token("oa-prod", "--revoke")


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["", "   ", "x" * 151])
def test_bad_client_name(name):
    with pytest.raises(CommandError):
        create_token(name)


@pytest.mark.django_db
def test_token_is_the_last_stdout_line_of_the_real_command(tmp_path):
    db = tmp_path / "db.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "DJANGO_SETTINGS_MODULE": "accountsync.test_settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    done = subprocess.run(
        [sys.executable, "manage.py", "create_api_token", "oa-test", "--origin-system", "oa"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60,
    )
    last = done.stdout.strip().splitlines()[-1]
    assert KEY_FORMAT.fullmatch(last), last


# --- /healthz ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_reports_the_database_without_auth(anon_client):
    response = anon_client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["status"] in ("ok", "degraded")


@pytest.mark.django_db
def test_healthz_answers_503_when_the_database_is_down(anon_client, monkeypatch):
    from django.db import OperationalError
    from django.db.backends.utils import CursorWrapper

    def broken(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(CursorWrapper, "execute", broken)
    response = anon_client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


@pytest.mark.django_db
def test_api_answers_503_not_500_when_the_database_is_down(api_client, monkeypatch):
    from django.db import OperationalError
    from django.db.backends.utils import CursorWrapper

    api_client.get("/account-creation/task_stats/")  # authenticate once, with a working database

    def broken(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(CursorWrapper, "execute", broken)
    response = api_client.get("/account-creation/task_stats/")
    assert response.status_code == 503
    assert "database" in response.json()["detail"]


@pytest.mark.django_db
def test_unknown_api_paths_and_the_private_api_document_answer_in_the_callers_language(settings):
    from django.test import Client

    settings.API_DOCS_PUBLIC = False
    zh = Client(HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert zh.get("/department-mappings/0.5/").json() == {"detail": "未找到。"}
    assert Client().get("/department-mappings/0.5/").json() == {"detail": "Not found."}
    locked = zh.get("/api/schema/", {"format": "json"})
    assert locked.status_code == 401
    assert locked.json()["detail"].startswith("查看 API 文档需要 API 令牌")
    assert "API_DOCS_PUBLIC=true" in locked.json()["detail"]


# --- start-up configuration --------------------------------------------------------------


def manage_check(**env: str) -> subprocess.CompletedProcess[str]:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ACCOUNT_CREATION_", "DJANGO_", "DATABASE_")) and key not in ("DEBUG", "SECRET_KEY")
    }
    base.update(
        DJANGO_SETTINGS_MODULE="accountsync.settings",
        ACCOUNTSYNC_ENV_FILE="/nonexistent",
        SECRET_KEY="a-test-secret-key-that-is-long-enough-1234567890",
        LOG_DIR=str(ROOT / "logs" / "test"),
    )
    base.update(env)
    base = {key: value for key, value in base.items() if value is not None and value != "<unset>"}
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


def test_valid_environment_passes_check():
    done = manage_check()
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ACCOUNT_CREATION_MAX_RETRIES", "abc"),
        ("ACCOUNT_CREATION_MAX_RETRIES", "0"),
        ("DEBUG", "maybe"),
        ("ACCOUNT_CREATION_HTTP_TIMEOUT", "-1"),
        ("ACCOUNT_CREATION_HTTP_TIMEOUT", "soon"),
        ("ACCOUNT_CREATION_MAX_USERS_PER_REQUEST", "1.5"),
        ("ACCOUNT_CREATION_ENABLED", "perhaps"),
        ("ACCOUNT_CREATION_BACKOFF_BASE_SECONDS", "-5"),
        ("ACCOUNT_CREATION_LEASE_SECONDS", "0"),
        ("DATABASE_URL", "nosuchdb://x"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_malformed_value_stops_start_up_naming_the_variable(name, value):
    done = manage_check(**{name: value})
    assert done.returncode != 0
    last_line = done.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line
    assert name in last_line


def test_missing_secret_key_without_debug_is_a_clear_error():
    done = manage_check(SECRET_KEY="<unset>", DEBUG="false")
    assert done.returncode != 0
    assert "SECRET_KEY" in done.stderr.strip().splitlines()[-1]


def test_missing_secret_key_is_allowed_in_debug():
    done = manage_check(SECRET_KEY="<unset>", DEBUG="true")
    assert done.returncode == 0, done.stderr[-2000:]


# --- log redaction -----------------------------------------------------------------------


def _format(record: logging.LogRecord) -> str:
    from accountsync.logging import RedactSecretsFilter

    assert RedactSecretsFilter().filter(record) is True
    return logging.Formatter("%(message)s").format(record)


def _record(msg: str, args: tuple = (), exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("account_creation.test", logging.ERROR, __file__, 1, msg, args, exc_info)


@pytest.mark.parametrize("name", ["IDAAS_SECRET", "WELINK_CLIENT_SECRET", "EMAIL_AUTH_TOKEN", "SECRET_KEY"])
def test_configured_secrets_are_redacted_in_messages_and_args(settings, name):
    secret = getattr(settings, name)
    text = _format(_record("calling with secret=%s and again %s", (secret, f"Bearer {secret}")))
    assert secret not in text
    assert "secret=***" in text


def test_secrets_are_redacted_in_tracebacks(settings):
    try:
        raise RuntimeError(f"login failed for {settings.IDAAS_SECRET}")
    except RuntimeError:
        record = _record("token refresh failed", exc_info=sys.exc_info())
    text = _format(record)
    assert settings.IDAAS_SECRET not in text
    assert "RuntimeError" in text


def test_runtime_tokens_are_redacted():
    from accountsync.redaction import register_secret

    register_secret("runtime-access-token-abcdef")
    assert "runtime-access-token-abcdef" not in _format(_record("token %s", ("runtime-access-token-abcdef",)))


def test_ordinary_messages_are_untouched():
    record = _record("task %s completed for %s", (42, "P000126"))
    assert _format(record) == "task 42 completed for P000126"


def test_the_configured_handlers_use_the_filter(settings, caplog):
    handlers = settings.LOGGING["handlers"]
    assert all("redact" in handler.get("filters", []) for handler in handlers.values())
