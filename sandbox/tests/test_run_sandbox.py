"""The management command: refuses when disabled, picks credentials, never prints real secrets."""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from sandbox.management.commands.run_sandbox import Command, resolve_credentials
from sandbox.server import SandboxServer
from sandbox.world import Credentials


def test_refuses_to_start_when_the_sandbox_is_disabled(settings):
    settings.SANDBOX_ENABLED = False

    with pytest.raises(CommandError, match="SANDBOX_ENABLED=false"):
        call_command("run_sandbox", "--port", "0")


def test_credentials_default_to_the_apps_own_settings(monkeypatch):
    for variable in ("SANDBOX_IDAAS_ACCOUNT", "SANDBOX_IDAAS_SECRET", "SANDBOX_EMAIL_TOKEN"):
        monkeypatch.delenv(variable, raising=False)

    credentials, origins = resolve_credentials({})

    assert credentials.idaas_account == settings.IDAAS_ACCOUNT
    assert credentials.idaas_secret == settings.IDAAS_SECRET
    assert credentials.welink_client_secret == settings.WELINK_CLIENT_SECRET
    assert credentials.email_token == settings.EMAIL_AUTH_TOKEN
    assert origins["idaas_secret"] == "IDAAS_SECRET"


def test_option_beats_environment_beats_setting_beats_default(monkeypatch, settings):
    monkeypatch.setenv("SANDBOX_IDAAS_SECRET", "from-env")
    monkeypatch.setenv("SANDBOX_EMAIL_TOKEN", "env-token")
    settings.WELINK_CLIENT_ID = ""
    monkeypatch.delenv("SANDBOX_WELINK_CLIENT_ID", raising=False)

    credentials, origins = resolve_credentials({"email_token": "option-token"})

    assert credentials.idaas_secret == "from-env"
    assert origins["idaas_secret"] == "SANDBOX_IDAAS_SECRET"
    assert credentials.email_token == "option-token"
    assert credentials.welink_client_id == Credentials().welink_client_id
    assert origins["welink_client_id"] == "default"


def test_banner_shows_urls_and_demo_secrets_but_never_configured_secrets(monkeypatch):
    monkeypatch.delenv("SANDBOX_WELINK_CLIENT_SECRET", raising=False)
    credentials, origins = resolve_credentials({"idaas_secret": Credentials().idaas_secret})
    server = SandboxServer("127.0.0.1", 0, credentials)
    out = io.StringIO()
    try:
        command = Command(stdout=out)
        command._print_banner(server, credentials, origins)
    finally:
        server.stop()

    text = out.getvalue()
    assert f"IDAAS_BASE_URL={server.url}" in text
    assert f"WELINK_BASE_URL={server.url}" in text
    assert f"EMAIL_BASE_URL={server.url}" in text
    assert f"IDAAS_SECRET={Credentials().idaas_secret}" in text  # the demo value is public
    assert settings.WELINK_CLIENT_SECRET not in text
    assert settings.EMAIL_AUTH_TOKEN not in text
    assert "accepts your configured EMAIL_AUTH_TOKEN" in text
