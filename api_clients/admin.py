"""API clients in the admin: scopes and origin systems editable, keys never shown.

A key is shown once, by ``create_api_token``; the admin lists only its prefix, expiry, last
use and whether it is revoked.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rest_framework.authtoken.models import TokenProxy
from rest_framework_api_key.models import APIKey

from api_clients.models import ApiClient, ApiKey, Scope

# Neither is used: the plain-text token table is emptied by migration, APIKey is the
# library's own model (ours is ApiKey).
for model in (TokenProxy, APIKey):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fields = ("prefix", "created", "expiry_date", "last_used_at", "revoked")
    readonly_fields = ("prefix", "created", "last_used_at")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # keys are issued by create_api_token, which shows them once


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ("name", "origin_systems", "scopes", "unrestricted_warning", "created_at")
    search_fields = ("name",)
    readonly_fields = ("user", "created_at", "updated_at")
    inlines = [ApiKeyInline]

    @admin.display(description=_("warning"))
    def unrestricted_warning(self, client: ApiClient) -> str:
        if client.upgraded_from_token:
            return str(_("token from before scopes: may do everything; narrow it with create_api_token"))
        if Scope.ALL in client.scopes:
            return str(_("scope all: sees every origin system (staff tooling only)"))
        return ""
