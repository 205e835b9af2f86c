"""GET /account-creation/systems/ and POST /account-creation/systems/{name}/release/."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from account_creation.account_types import registry
from account_creation.api.schema import ErrorDocumentingAutoSchema
from account_creation.api.serializers import DownstreamSystemSerializer
from account_creation.models import DownstreamSystem, SystemState
from account_creation.selectors import system_reason, systems_list, waiting_counts
from account_creation.services.audit import VIA_API, system_released_record
from account_creation.services.health import system_release, systems_ensure
from account_creation.services.ratelimit import configured_limit
from api_clients.access import Access, access_of


def system_action(system: DownstreamSystem) -> str:
    """What an operator does about a quarantined system, in the active language."""
    if system.state != SystemState.QUARANTINED:
        return ""
    return _(
        "Fix the cause named in the reason (credentials, grants, base URL, the system's own outage). "
        "One task tries the system again at the next probe; to try at once, release it with "
        "POST /account-creation/systems/%(name)s/release/. Its tasks wait meanwhile and spend no attempts."
    ) % {"name": system.name}


def system_views(*, caller: Access) -> list[dict[str, Any]]:
    counts = waiting_counts(caller=caller)
    return [
        {
            "name": system.name,
            "state": system.state,
            "reason": system_reason(system),
            "since": system.since,
            "next_probe_at": system.next_probe_at,
            "waiting_tasks": counts.get(system.name, 0),
            "rate_limit": configured_limit(system.name) or None,
            "rate_limited": system.rate_limited,
            "action": system_action(system),
        }
        for system in systems_list()
    ]


class DownstreamSystemViewSet(viewsets.ViewSet):
    """Downstream systems: quarantine state, rate limits; release a quarantine."""

    schema = ErrorDocumentingAutoSchema()
    lookup_field = "name"
    required_scopes = {"list": "read", "release": "retry"}

    @extend_schema(responses=DownstreamSystemSerializer(many=True))
    def list(self, request: Request) -> Response:
        return Response(DownstreamSystemSerializer(system_views(caller=access_of(request)), many=True).data)

    @extend_schema(
        request=None,
        responses=DownstreamSystemSerializer,
        parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH, enum=registry.values())],
        description="End the system's quarantine at once (scope retry); its tasks run at the next run.",
    )
    @action(detail=True, methods=["post"])
    def release(self, request: Request, name: str | None = None) -> Response:
        if name not in registry:
            raise NotFound(_("No downstream system is called %(name)s.") % {"name": name})
        systems_ensure()
        if system_release(name=str(name), by=f"api {access_of(request).name}"):
            system_released_record(
                user_id=request.user.pk if request.user.is_authenticated else None,
                system=DownstreamSystem.objects.get(name=name),
                via=VIA_API,
            )
        view = next(item for item in system_views(caller=access_of(request)) if item["name"] == name)
        return Response(DownstreamSystemSerializer(view).data)
