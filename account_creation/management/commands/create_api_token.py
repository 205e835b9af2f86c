from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = (
        "Create an API client, or rotate its token if it exists; the token is the last line "
        "printed. --revoke deletes the client's token."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Client name, e.g. oa-prod.")
        parser.add_argument("--revoke", action="store_true", help="Delete the token, print nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"].strip()
        if not name or len(name) > 150:
            raise CommandError("Give a client name of 1 to 150 characters.")
        user_model = get_user_model()
        with transaction.atomic():
            if options["revoke"]:
                deleted, _ = Token.objects.filter(user__username=name).delete()
                if not deleted:
                    raise CommandError(f"Client {name!r} has no token to revoke.")
                self.stdout.write(f"Token of client {name!r} revoked.")
                return
            user, created = user_model.objects.get_or_create(username=name)
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            rotated = Token.objects.filter(user=user).delete()[0] > 0
            token = Token.objects.create(user=user)
        action = "rotated (the old token no longer works)" if rotated else "created"
        self.stdout.write(f"API client {name!r}: token {action}. Send it as 'Authorization: Token <token>'.")
        self.stdout.write(token.key)
