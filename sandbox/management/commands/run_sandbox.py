"""``python manage.py run_sandbox``: serve the IDaaS, WeLink and Exchange imitations on one port.

Credentials the sandbox accepts, per value, first found wins: the command option, the
``SANDBOX_*`` environment variable, the app's own setting (so a configured AccountSync works
against the sandbox unchanged), the sandbox's demo default.
"""

from __future__ import annotations

import ipaddress
import os
import signal
from dataclasses import fields
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.server import SandboxServer
from sandbox.world import Credentials

# credential field -> (command option, sandbox variable, app setting, secret?)
CREDENTIAL_SOURCES: dict[str, tuple[str, str, str, bool]] = {
    "idaas_account": ("idaas_account", "SANDBOX_IDAAS_ACCOUNT", "IDAAS_ACCOUNT", False),
    "idaas_secret": ("idaas_secret", "SANDBOX_IDAAS_SECRET", "IDAAS_SECRET", True),
    "welink_client_id": ("welink_client_id", "SANDBOX_WELINK_CLIENT_ID", "WELINK_CLIENT_ID", False),
    "welink_client_secret": ("welink_client_secret", "SANDBOX_WELINK_CLIENT_SECRET", "WELINK_CLIENT_SECRET", True),
    "email_token": ("email_token", "SANDBOX_EMAIL_TOKEN", "EMAIL_AUTH_TOKEN", True),
}


def resolve_credentials(options: dict[str, Any]) -> tuple[Credentials, dict[str, str]]:
    """The credentials to accept, and for each field where its value came from."""
    defaults = Credentials()
    values: dict[str, str] = {}
    origins: dict[str, str] = {}
    for name, (option, variable, setting, _secret) in CREDENTIAL_SOURCES.items():
        candidates = (
            (options.get(option), f"--{option.replace('_', '-')}"),
            (os.environ.get(variable), variable),
            (getattr(settings, setting, ""), setting),
        )
        value, origin = next(((v, o) for v, o in candidates if v), (getattr(defaults, name), "default"))
        values[name], origins[name] = value, origin
    return Credentials(**values), origins


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Command(BaseCommand):
    help = (
        "Serve local imitations of the IDaaS, WeLink and Exchange APIs on one port, with "
        "/_sandbox/state, /_sandbox/faults, /_sandbox/reset and /_sandbox/expire_tokens. "
        "Only available when SANDBOX_ENABLED is true."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8900, help="Port to listen on (default 8900; 0 = any free).")
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1).")
        for option, variable, setting, _secret in CREDENTIAL_SOURCES.values():
            parser.add_argument(
                f"--{option.replace('_', '-')}",
                dest=option,
                default=None,
                help=f"Accepted value (default: ${variable}, else the {setting} setting, else a demo value).",
            )

    def handle(self, *args: Any, **options: Any) -> None:
        if not getattr(settings, "SANDBOX_ENABLED", False):
            raise CommandError("The sandbox is disabled (SANDBOX_ENABLED=false); it never runs in that deployment.")
        credentials, origins = resolve_credentials(options)
        host: str = options["host"]
        try:
            server = SandboxServer(host, options["port"], credentials)
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{options['port']}: {exc}") from exc

        self._print_banner(server, credentials, origins)
        if not _is_loopback(host):
            self.stderr.write(
                self.style.WARNING(
                    f"Warning: listening on {host}, not a loopback address; anyone who reaches it can "
                    "read the sandbox state and change its faults."
                )
            )

        def _terminate(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("Stopping the sandbox.")
        finally:
            server.stop()
            signal.signal(signal.SIGTERM, previous)

    def _print_banner(self, server: SandboxServer, credentials: Credentials, origins: dict[str, str]) -> None:
        url = server.url
        defaults = Credentials()
        out = self.stdout
        out.write(self.style.SUCCESS(f"Sandbox (IDaaS, WeLink, Exchange) listening on {url}"))
        out.write(f"  state: GET {url}/_sandbox/state   faults: POST {url}/_sandbox/faults")
        out.write("Point AccountSync at it with:")
        out.write(f"  IDAAS_BASE_URL={url}")
        out.write(f"  WELINK_BASE_URL={url}")
        out.write(f"  EMAIL_BASE_URL={url}")
        enterprise = getattr(settings, "IDAAS_ENTERPRISE_ID", "") or "sandbox-enterprise"
        out.write(f"  IDAAS_ENTERPRISE_ID={enterprise}   (any value is accepted)")
        app_names = {field: CREDENTIAL_SOURCES[field][2] for field in (f.name for f in fields(Credentials))}
        for name, setting in app_names.items():
            value = getattr(credentials, name)
            is_secret = CREDENTIAL_SOURCES[name][3]
            origin = origins[name]
            if not is_secret or value == getattr(defaults, name):
                # Account names, client ids and the sandbox's own demo secrets are safe to show.
                out.write(f"  {setting}={value}")
            elif origin == setting:
                out.write(f"  {setting}=<unchanged: the sandbox accepts your configured {setting}>")
            else:
                out.write(f"  {setting}=<the value given by {origin}>")
        out.write("Stop with Ctrl-C.")
