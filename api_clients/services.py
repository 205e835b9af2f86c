"""Create, rotate and revoke API clients (what ``create_api_token`` and the admin call)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from accountsync.errors import DomainError
from accountsync.logging import kv
from api_clients.models import DEFAULT_SCOPES, ApiClient, ApiKey, Scope

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssuedKey:
    client: ApiClient
    key: str  # shown once; only its hash is stored
    rotated: bool


def normalise_scopes(scopes: Iterable[str] | None) -> list[str]:
    values = [scope.strip().lower() for scope in (scopes or DEFAULT_SCOPES) if scope.strip()]
    unknown = sorted(set(values) - set(Scope.values))
    if unknown:
        raise DomainError(
            gettext("Unknown scope(s) %(unknown)s; use %(known)s.")
            % {"unknown": ", ".join(unknown), "known": ", ".join(Scope.values)},
            code="scope",
        )
    if not values:
        raise DomainError(gettext("Give at least one scope."), code="scope")
    return sorted(set(values), key=Scope.values.index)


def client_issue_key(
    *,
    name: str,
    origin_systems: Iterable[str] = (),
    scopes: Iterable[str] | None = None,
    expires_days: int | None = None,
) -> IssuedKey:
    """Create the client or update it and rotate its key (old keys stop working at once)."""
    name = name.strip()
    if not name or len(name) > 150:
        raise DomainError(gettext("Give a client name of 1 to 150 characters."), code="name")
    scope_list = normalise_scopes(scopes)
    origins = sorted({origin.strip() for origin in origin_systems if origin.strip()})
    if not origins and not set(scope_list) <= {Scope.ALL, Scope.METRICS}:
        raise DomainError(
            gettext(
                "Give the client's origin systems with --origin-system (repeatable), e.g. --origin-system oa; "
                "only a client with --scope all (or a metrics-only one) may have none."
            ),
            code="origin_system",
        )
    if expires_days is not None and expires_days <= 0:
        raise DomainError(gettext("--expires-days must be a positive number of days."), code="expires_days")
    expiry = timezone.now() + timedelta(days=expires_days) if expires_days else None
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(username=name)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        client, _ = ApiClient.objects.update_or_create(
            user=user,
            defaults={"name": name, "origin_systems": origins, "scopes": scope_list, "upgraded_from_token": False},
        )
        rotated = ApiKey.objects.filter(client=client, revoked=False).update(revoked=True) > 0
        _, key = ApiKey.objects.create_key(client=client, name=name[:50], expiry_date=expiry)
    logger.info(
        "api client key issued %s",
        kv(client=name, rotated=rotated, scopes=",".join(scope_list), origins=",".join(origins) or "*"),
    )
    return IssuedKey(client=client, key=key, rotated=rotated)


def client_revoke(*, name: str) -> int:
    """Revoke every key of the client; returns how many were usable."""
    revoked = ApiKey.objects.filter(client__name=name, revoked=False).update(revoked=True)
    if not revoked:
        raise DomainError(gettext("Client '%(name)s' has no token to revoke.") % {"name": name}, code="not_found")
    logger.info("api client revoked %s", kv(client=name, keys=revoked))
    return revoked
