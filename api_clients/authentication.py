"""``Authorization: Token <key>``: the API client whose key hashes to this one.

Keeps the header OA systems already send (DRF's TokenAuthentication format); the key itself
is never stored, only its prefix and SHA-512 hash (see models.py). ``request.user`` is the
client's service account, ``request.auth`` the :class:`~api_clients.models.ApiClient`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from accountsync.messages import format_datetime
from api_clients.models import ApiKey

KEYWORD = "Token"
# last_used_at is written at most this often per key (one UPDATE, not one per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def client_for_key(key: str) -> Any:
    """The ApiClient of a presented key; raises AuthenticationFailed with what to do."""
    try:
        api_key = ApiKey.objects.get_from_key(key)
    except ApiKey.DoesNotExist:
        raise exceptions.AuthenticationFailed(gettext("Invalid token.")) from None
    if api_key.has_expired:
        assert api_key.expiry_date is not None  # noqa: S101 - has_expired implies a date
        text = gettext(
            "The token expired at %(expired_at)s. Ask an operator for a new one (python manage.py "
            "create_api_token NAME …)."
        )
        raise exceptions.AuthenticationFailed(text % {"expired_at": format_datetime(api_key.expiry_date)})
    client = api_key.client
    if not client.user.is_active:
        raise exceptions.AuthenticationFailed(gettext("User inactive or deleted."))
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return client


def key_from_header(header: bytes) -> str | None:
    """The key of an ``Authorization: Token <key>`` header, None for another scheme."""
    parts = header.split()
    if not parts or parts[0].lower() != KEYWORD.lower().encode():
        return None
    if len(parts) == 1:
        raise exceptions.AuthenticationFailed(gettext("Invalid token header. No credentials provided."))
    if len(parts) > 2:
        raise exceptions.AuthenticationFailed(
            gettext("Invalid token header. Token string should not contain spaces.")
        )
    try:
        return parts[1].decode()
    except UnicodeError:
        raise exceptions.AuthenticationFailed(
            gettext("Invalid token header. Token string should not contain invalid characters.")
        ) from None


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        key = key_from_header(get_authorization_header(request))
        if key is None:
            return None
        client = client_for_key(key)
        return client.user, client

    def authenticate_header(self, request: Any) -> str:
        return KEYWORD
