"""Requests as the OA sees them: list, detail (people and their accounts) and cancel."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from account_creation.account_types import registry
from account_creation.api import request_serializers as rs
from account_creation.api.pagination import TaskPagination
from account_creation.api.schema import ErrorDocumentingAutoSchema
from account_creation.api.serializers import AccountTypeField, ListFilterFields, StrictCharField
from account_creation.api.views import RANGE_AND_TEXT
from account_creation.models import AccountCreationRequest
from account_creation.request_selectors import (
    RequestStatus,
    request_detail,
    request_get,
    request_list,
    request_summary,
)
from account_creation.services.cancel import api_client_actor, request_cancel
from api_clients.access import access_of

REQUEST_ID_PATTERN = r"[A-Za-z0-9_-]+"


class RequestFilterSerializer(ListFilterFields):
    """Query parameters of the request list; a bad value is a 400."""

    origin_system = StrictCharField(max_length=64, required=False)
    business_key = StrictCharField(max_length=128, required=False)
    status = serializers.ChoiceField(choices=RequestStatus.values, required=False)
    account_type = AccountTypeField(
        required=False, error_messages={"invalid_choice": _('"{input}" is not a valid choice.')}
    )
    department_code = StrictCharField(max_length=64, required=False)


REQUEST_FILTERS = (
    "origin_system", "business_key", "status", "account_type", "department_code", "created_after", "created_before",
    "q",
)


class AccountCreationRequestViewSet(viewsets.GenericViewSet):
    """One accepted create_accounts request: its status, progress and people."""

    schema = ErrorDocumentingAutoSchema()
    pagination_class = TaskPagination
    lookup_field = "request_id"
    lookup_value_regex = REQUEST_ID_PATTERN
    required_scopes = {"list": "read", "retrieve": "read", "cancel": "retry"}
    serializer_class = rs.RequestSummarySerializer

    def get_queryset(self) -> Any:
        return request_list(caller=access_of(self.request), filters=getattr(self, "list_filters", None))

    def get_object(self) -> AccountCreationRequest:
        found = request_get(caller=access_of(self.request), request_id=self.kwargs["request_id"])
        if found is None:
            # Another client's request is as absent as one that never existed.
            raise Http404
        return found

    @extend_schema(
        parameters=[
            OpenApiParameter("origin_system", str),
            OpenApiParameter("business_key", str),
            OpenApiParameter("status", enum=list(RequestStatus.values)),
            OpenApiParameter(
                "account_type", enum=registry.values(), description="Requests with a task of this system."
            ),
            OpenApiParameter(
                "department_code", str, description="Requests with a person of this departmentCode (exact)."
            ),
            *RANGE_AND_TEXT,
        ],
        responses={
            200: rs.RequestSummarySerializer(many=True),
            400: OpenApiResponse(description="A filter value is invalid; the body names the parameter."),
        },
        description="The caller's requests, newest first; status and progress are derived from the tasks.",
    )
    def list(self, request: Request) -> Response:
        given = {
            name: request.query_params[name]
            for name in REQUEST_FILTERS
            if request.query_params.get(name)
        }
        filters = RequestFilterSerializer(data=given)
        filters.is_valid(raise_exception=True)
        self.list_filters = dict(filters.validated_data)
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([request_summary(row) for row in page or []])

    @extend_schema(
        responses={200: rs.RequestDetailSerializer, 404: OpenApiResponse(description="No such request of yours.")},
        description="One request: status, progress, and each person's readiness and accounts.",
    )
    def retrieve(self, request: Request, request_id: str | None = None) -> Response:
        return Response(request_detail(self.get_object()))

    @extend_schema(
        request=None,
        responses={
            200: rs.RequestDetailSerializer,
            404: OpenApiResponse(description="No such request of yours."),
            409: OpenApiResponse(description="The request has already finished; nothing to cancel."),
        },
        description=(
            "Withdraw the request: every task not yet started becomes cancelled (final). A task "
            "running now finishes and keeps its result. Answers the request as it is afterwards."
        ),
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, request_id: str | None = None) -> Response:
        target = self.get_object()
        caller = access_of(request)
        user_id = request.user.pk if request.user.is_authenticated else None
        outcome = request_cancel(request=target, actor=api_client_actor(caller.name), user_id=user_id)
        body = request_detail(self.get_object()) | {"cancelledTasks": outcome.cancelled}
        return Response(body)
