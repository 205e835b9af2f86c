"""Existing DRF tokens become API clients with scope ``all``, their keys kept only as hashes.

Every OA system already configured keeps sending the same ``Authorization: Token <key>``;
the plain-text rows of ``authtoken_token`` are deleted. The migrated clients see every
origin system (nothing breaks on upgrade); /healthz and the admin warn until an operator
narrows them with ``create_api_token NAME --origin-system … --scope …``.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from rest_framework_api_key.crypto import KeyGenerator

PREFIX_LENGTH = 8


def hash_tokens(apps: Any, schema_editor: Any) -> None:
    Token = apps.get_model("authtoken", "Token")
    ApiClient = apps.get_model("api_clients", "ApiClient")
    ApiKey = apps.get_model("api_clients", "ApiKey")
    generator = KeyGenerator()
    for token in Token.objects.select_related("user"):
        user = token.user
        client, _ = ApiClient.objects.get_or_create(
            user=user, defaults={
                "name": user.get_username(),
                "origin_systems": [],
                "scopes": ["all"],
                "upgraded_from_token": True,
            },
        )
        prefix = token.key[:PREFIX_LENGTH]
        hashed = generator.hash(token.key)
        ApiKey.objects.create(
            id=f"{prefix}.{hashed}", prefix=prefix, hashed_key=hashed, name=client.name[:50], client=client
        )
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("api_clients", "0001_initial"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [migrations.RunPython(hash_tokens, migrations.RunPython.noop)]
