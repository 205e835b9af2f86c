"""Authorization in one place: what the calling API client may do and see.

Every API view goes through :class:`ScopePermission` (scopes per action) and every read
through a selector that takes the caller's :class:`Access` and narrows by its origin systems
(:meth:`Access.narrow`), so another client's task answers 404 and views never filter by hand.
A client with the ``all`` scope (staff tooling, monitoring) sees everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.permissions import BasePermission

from accountsync.errors import ForbiddenError

M = TypeVar("M", bound=Model)

ALL = "all"


@dataclass(frozen=True)
class Access:
    """The caller's rights: its scopes and origin systems (``None``: every origin system)."""

    name: str
    scopes: frozenset[str]
    origin_systems: frozenset[str] | None

    @classmethod
    def everything(cls, name: str = "internal") -> Access:
        """Commands, the admin and the dashboard (staff permissions decide there)."""
        return cls(name=name, scopes=frozenset({ALL}), origin_systems=None)

    @classmethod
    def of_client(cls, client: Any) -> Access:
        scopes = frozenset(client.scopes)
        origins = None if ALL in scopes else frozenset(client.origin_systems)
        return cls(name=client.name, scopes=scopes, origin_systems=origins)

    def allows(self, scope: str) -> bool:
        return ALL in self.scopes or scope in self.scopes

    def sees(self, origin_system: str) -> bool:
        return self.origin_systems is None or origin_system in self.origin_systems

    def narrow(self, queryset: QuerySet[M], field: str = "origin_system") -> QuerySet[M]:
        """Only the rows of the caller's origin systems."""
        if self.origin_systems is None:
            return queryset
        return queryset.filter(**{f"{field}__in": sorted(self.origin_systems)})

    def require_origin(self, origin_system: str) -> None:
        """Refuse (403) an ``originSystem`` the client is not bound to; nothing is written."""
        if not self.sees(origin_system):
            bound = ", ".join(sorted(self.origin_systems or ())) or "—"
            raise ForbiddenError(
                _(
                    "This API client may not send originSystem '%(origin)s'; it is bound to: %(bound)s. Ask an "
                    "operator to add the origin system to the client (python manage.py create_api_token NAME "
                    "--origin-system …)."
                ) % {"origin": origin_system, "bound": bound},
                code="origin_system_not_allowed",
            )


def access_of(request: Any) -> Access:
    """The Access of a DRF request's authenticated API client."""
    from api_clients.models import ApiClient

    client = getattr(request, "auth", None)
    if isinstance(client, ApiClient):
        return Access.of_client(client)
    # No API client (e.g. a test forcing a user): nothing beyond what scopes grant.
    return Access(name="anonymous", scopes=frozenset(), origin_systems=frozenset())


class ScopePermission(BasePermission):
    """The scope an action needs, from the view's ``required_scopes`` {action or method: scope}.

    A view that does not declare one needs ``all`` (fail closed).
    """

    message: Any = gettext_lazy("This API client lacks the scope this endpoint needs.")

    def has_permission(self, request: Any, view: Any) -> bool:
        scope = required_scope(view, request)
        if access_of(request).allows(scope):
            return True
        self.message = _(
            "This API client lacks the '%(scope)s' scope this endpoint needs. Ask an operator to add it "
            "(python manage.py create_api_token NAME --scope …,%(scope)s)."
        ) % {"scope": scope}
        return False


def required_scope(view: Any, request: Any) -> str:
    scopes: dict[str, str] = getattr(view, "required_scopes", {})
    action = getattr(view, "action", None)
    if action and action in scopes:
        return scopes[action]
    return scopes.get(request.method, ALL)
