"""API clients: who may call the API, for which origin systems, with which scopes.

A client is bound to one or more origin systems (``oa``, ``hr``) and holds scopes. Its key is
stored only as a hash (djangorestframework-api-key: SHA-512 of a high-entropy key, found by
its 8-character prefix), may expire, and records when it was last used. Rotation revokes
the old key and issues a new one; revocation revokes every key of the client.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey, APIKeyManager


class Scope(models.TextChoices):
    INTAKE = "intake", _("intake: create_accounts")
    READ = "read", _("read: tasks, logs, stats, requests, systems, mappings")
    RETRY = "retry", _("retry: retry and cancel")
    MAPPINGS = "mappings", _("mappings: write department mappings")
    METRICS = "metrics", _("metrics: scrape /metrics (monitoring only)")
    ALL = "all", _("all: every scope, every origin system (staff tooling)")


DEFAULT_SCOPES = (Scope.INTAKE, Scope.READ, Scope.RETRY)
PREFIX_LENGTH = 8


class ApiClient(models.Model):
    name = models.CharField(_("name"), max_length=150, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("service user"),
        on_delete=models.CASCADE,
        related_name="api_client",
        help_text=_("The service account requests are recorded under (no password, cannot sign in)."),
    )
    origin_systems = models.JSONField(
        _("origin systems"),
        default=list,
        blank=True,
        help_text=_("Origin systems this client may send and see, e.g. [\"oa\"]."),
    )
    scopes = models.JSONField(
        _("scopes"),
        default=list,
        help_text=format_lazy(_("What the client may do: {scopes}."), scopes=", ".join(Scope.values)),
    )
    upgraded_from_token = models.BooleanField(
        _("upgraded from token"),
        default=False,
        help_text=_("Migrated from a token of before scopes (scope all): /healthz warns until it is narrowed."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")

    def __str__(self) -> str:
        return self.name

    @property
    def unrestricted(self) -> bool:
        """A client with ``all``: every scope and every origin system."""
        return Scope.ALL in self.scopes


class ApiKeyManager(APIKeyManager):
    def get_from_key(self, key: str) -> Any:
        """The usable key row for ``key`` (hash verified), or DoesNotExist.

        New keys are ``<prefix>.<secret>``. Keys issued before hashing (40 hexadecimal
        characters, DRF's authtoken format) were migrated with their first 8 characters as
        the prefix, so OA systems already configured keep working.
        """
        prefix = key.partition(".")[0] if "." in key else key[:PREFIX_LENGTH]
        api_key = self.get_usable_keys().select_related("client__user").get(prefix=prefix)
        if not api_key.is_valid(key):
            raise ApiKey.DoesNotExist("Key is not valid.")
        return api_key


class ApiKey(AbstractAPIKey):
    """One key of a client; only its prefix and hash are stored."""

    client = models.ForeignKey(ApiClient, verbose_name=_("client"), on_delete=models.CASCADE, related_name="keys")
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    # The library's fields, declared again unchanged but for their translated labels (the library
    # ships no Chinese catalog). The primary key (id) is not shown anywhere and stays as it is.
    prefix = models.CharField(_("prefix"), max_length=8, unique=True, editable=False)
    hashed_key = models.CharField(_("hashed key"), max_length=150, editable=False)
    created = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    name = models.CharField(
        _("name"),
        max_length=50,
        blank=False,
        default=None,
        help_text=_("A free-form name for the API key. Need not be unique. 50 characters max."),
    )
    revoked = models.BooleanField(
        _("revoked"),
        blank=True,
        default=False,
        help_text=_("If the API key is revoked, clients cannot use it anymore. (This cannot be undone.)"),
    )
    expiry_date = models.DateTimeField(
        _("expires"),
        blank=True,
        null=True,
        help_text=_("Once API key expires, clients cannot use it anymore."),
    )

    objects = ApiKeyManager()  # type: ignore[misc]  # the library's manager, with the legacy prefix rule

    class Meta(AbstractAPIKey.Meta):
        # The library's Meta declares plain strings; Django accepts lazy ones.
        verbose_name = _("API key")  # type: ignore[assignment]
        verbose_name_plural = _("API keys")  # type: ignore[assignment]
