"""Set an API client's completion callback: `python manage.py configure_callback oa-prod --url https://…`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accountsync.errors import DomainError
from callbacks.messages import message
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
        state = message("callback.enabled" if endpoint.enabled else "callback.disabled")
        self.stdout.write(str(message("callback.configured", client=endpoint.client.name, url=endpoint.url,
                                      state=state)))
        if configured.rotated and endpoint.previous_secret_until:
            self.stdout.write(str(message("callback.rotated", until=endpoint.previous_secret_until)))
        else:
            self.stdout.write(str(message("callback.secret_follows")))
        self.stdout.write(endpoint.secret)
