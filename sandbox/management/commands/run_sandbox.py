"""``python manage.py run_sandbox``: serve the simulated systems (IDaaS, WeLink, Exchange) on one port.

Credentials the sandbox accepts, per value, first found wins: the command option, the
``SANDBOX_*`` environment variable, the app's own setting (so a configured AccountSync works
against the sandbox unchanged), the sandbox's demo default. Which values there are, and their
options, variables and settings, comes from the :class:`~sandbox.systems.CredentialField`
declarations of :data:`sandbox.systems.simulated_systems`.
"""

from __future__ import annotations

import ipaddress
import os
import signal
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.server import SandboxServer
from sandbox.systems import Credentials, simulated_systems


def resolve_credentials(options: dict[str, Any]) -> tuple[Credentials, dict[str, str]]:
    """The credentials to accept, and for each field where its value came from."""
    values: dict[str, str] = {}
    origins: dict[str, str] = {}
    for name, field in simulated_systems.credential_fields().items():
        candidates = (
            (options.get(name), field.option),
            (os.environ.get(field.variable), field.variable),
            (getattr(settings, field.setting, ""), field.setting),
        )
        value, origin = next(((v, o) for v, o in candidates if v), (field.default, "default"))
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
        for name, field in simulated_systems.credential_fields().items():
            parser.add_argument(
                field.option,
                dest=name,
                default=None,
                help=(
                    f"Accepted value (default: ${field.variable}, else the {field.setting} setting, "
                    "else a demo value)."
                ),
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
        out = self.stdout
        labels = ", ".join(system.label for system in server.systems)
        out.write(self.style.SUCCESS(f"Sandbox ({labels}) listening on {url}"))
        out.write(f"  state: GET {url}/_sandbox/state   faults: POST {url}/_sandbox/faults")
        out.write("Point AccountSync at it with:")
        for setting in simulated_systems.base_url_settings():
            out.write(f"  {setting}={url}")
        for system in server.systems:
            for setting, example in system.any_value_settings:
                value = getattr(settings, setting, "") or example
                out.write(f"  {setting}={value}   (any value is accepted)")
        for name, field in simulated_systems.credential_fields().items():
            value = getattr(credentials, name)
            origin = origins[name]
            if not field.secret or value == field.default:
                # Account names, client ids and the sandbox's own demo secrets are safe to show.
                out.write(f"  {field.setting}={value}")
            elif origin == field.setting:
                out.write(f"  {field.setting}=<unchanged: the sandbox accepts your configured {field.setting}>")
            else:
                out.write(f"  {field.setting}=<the value given by {origin}>")
        out.write("Stop with Ctrl-C.")
