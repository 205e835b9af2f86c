"""`python manage.py create_api_token NAME --origin-system oa [--scope intake,read,retry]`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from accountsync.errors import DomainError
from accountsync.messages import format_datetime
from api_clients.models import DEFAULT_SCOPES, Scope
from api_clients.services import client_issue_key, client_revoke


class Command(BaseCommand):
    help = (
        "Create an API client bound to origin systems with scopes, or update it and rotate its "
        "token; the token is the last line printed (it is stored only as a hash: keep it now). "
        "--revoke makes the client's tokens stop working."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Client name, e.g. oa-prod.")
        parser.add_argument(
            "--origin-system",
            action="append",
            default=[],
            dest="origin_systems",
            metavar="NAME",
            help="An originSystem the client may send and see (repeatable; required unless --scope all).",
        )
        parser.add_argument(
            "--scope",
            action="append",
            default=[],
            dest="scopes",
            metavar="SCOPES",
            help=f"Comma-separated scopes out of {', '.join(Scope.values)} "
            f"(default: {','.join(DEFAULT_SCOPES)}).",
        )
        parser.add_argument(
            "--expires-days", type=int, default=None, metavar="N", help="The token stops working after N days."
        )
        parser.add_argument("--revoke", action="store_true", help="Revoke the client's tokens, print nothing else.")

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"].strip()
        try:
            if options["revoke"]:
                client_revoke(name=name)
                self.stdout.write(_("Token of client '%(name)s' revoked.") % {"name": name})
                return
            scopes = [part for value in options["scopes"] for part in value.split(",")] or None
            issued = client_issue_key(
                name=name,
                origin_systems=options["origin_systems"],
                scopes=scopes,
                expires_days=options["expires_days"],
            )
        except DomainError as exc:
            raise CommandError(str(exc.message)) from None
        client = issued.client
        origins = ", ".join(client.origin_systems) or _("every origin system")
        expiry = issued.client.keys.filter(revoked=False).values_list("expiry_date", flat=True).first()
        until = _(", expires %(when)s") % {"when": format_datetime(expiry)} if expiry else ""
        if issued.rotated:
            text = _(
                "API client '%(name)s': token rotated (the old token no longer works); origin systems: "
                "%(origins)s; scopes: %(scopes)s%(until)s. Send it as 'Authorization: Token <token>'."
            )
        else:
            text = _(
                "API client '%(name)s': token created; origin systems: %(origins)s; scopes: %(scopes)s%(until)s. "
                "Send it as 'Authorization: Token <token>'."
            )
        self.stdout.write(
            text % {"name": name, "origins": origins, "scopes": ",".join(client.scopes), "until": until}
        )
        # The contract: the token is the last line printed, exactly.
        self.stdout.write(issued.key)
