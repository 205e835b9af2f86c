"""Set an API client's completion callback: `python manage.py configure_callback oa-prod --url https://…`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accountsync.errors import DomainError
from callbacks.services import callback_configure


class Command(BaseCommand):
    help = (
        "Set where an API client's completion callbacks go (person.completed, person.failed, "
        "request.completed). Prints the signing secret (whsec_…) as the last line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client", help="The API client's name (as given to create_api_token).")
        parser.add_argument("--url", help="Where to POST events; https unless loopback or CALLBACK_ALLOW_HTTP=true.")
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--disable", action="store_true", help="Stop sending events (they are not written).")
        state.add_argument("--enable", action="store_true", help="Send events again.")
        parser.add_argument(
            "--rotate-secret",
            action="store_true",
            help="Issue a new signing secret; the old one keeps signing (a second signature) for 24 hours.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        enabled = False if options["disable"] else True if options["enable"] or options["url"] else None
        try:
            configured = callback_configure(
                client_name=options["client"], url=options["url"], enabled=enabled,
                rotate_secret=options["rotate_secret"],
            )
        except DomainError as exc:
            raise CommandError(str(exc.message)) from exc
        endpoint = configured.endpoint
        state = "enabled" if endpoint.enabled else "disabled"
        self.stdout.write(f"Callback of {endpoint.client.name}: {endpoint.url} ({state}).")
        if configured.rotated:
            self.stdout.write(
                "New signing secret below; the previous one also signs every event until "
                f"{timezone.localtime(endpoint.previous_secret_until):%Y-%m-%d %H:%M %z}. "
                "Verify with either meanwhile."
            )
        else:
            self.stdout.write("Signing secret (give it to the receiver; verify webhook-signature with it):")
        self.stdout.write(endpoint.secret)
