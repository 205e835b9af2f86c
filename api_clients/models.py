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
from rest_framework_api_key.models import AbstractAPIKey, APIKeyManager


class Scope(models.TextChoices):
    INTAKE = "intake", "intake: create_accounts"
    READ = "read", "read: tasks, logs, stats, requests, systems, mappings"
    RETRY = "retry", "retry: retry and cancel"
    MAPPINGS = "mappings", "mappings: write department mappings"
    METRICS = "metrics", "metrics: scrape /metrics (monitoring only)"
    ALL = "all", "all: every scope, every origin system (staff tooling)"


DEFAULT_SCOPES = (Scope.INTAKE, Scope.READ, Scope.RETRY)
PREFIX_LENGTH = 8


class ApiClient(models.Model):
    name = models.CharField(max_length=150, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_client",
        help_text="The service account requests are recorded under (no password, cannot sign in).",
    )
    origin_systems = models.JSONField(
        default=list, blank=True, help_text="Origin systems this client may send and see, e.g. [\"oa\"]."
    )
    scopes = models.JSONField(default=list, help_text="What the client may do: " + ", ".join(Scope.values) + ".")
    upgraded_from_token = models.BooleanField(
        default=False,
        help_text="Migrated from a token of before scopes (scope all): /healthz warns until it is narrowed.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "API client"

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

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="keys")
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyManager()  # type: ignore[misc]  # the library's manager, with the legacy prefix rule

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"
