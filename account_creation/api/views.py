"""HTTP surface of account creation: thin actions that validate, call a service, answer."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.urls import reverse
from django.utils import translation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.request import Request
from rest_framework.response import Response

from account_creation.account_types import registry
from account_creation.api import serializers as s
from account_creation.api.pagination import TaskPagination
from account_creation.api.schema import ErrorDocumentingAutoSchema
from account_creation.issues import IntakeIssue
from account_creation.messages import message
from account_creation.models import AccountCreationTask, TaskStatus
from account_creation.selectors import task_list, task_logs, task_stats
from account_creation.services.intake import (
    issue_order,
    occupied_tasks,
    payload_fingerprint,
    people_issues,
    request_create_accounts,
)
from account_creation.services.retry import task_retry
from accountsync.errors import IntakeRejected
from accountsync.exceptions import parse_error_message
from api_clients.access import access_of

SPEC_EXAMPLE = {
    "originSystem": "oa",
    "businessKey": "65090",
    "accountType": "personal",
    "employeeType": "W",
    "systemList": ["idaas", "welink", "email"],
    "userList": [
        {
            "employeeNumber": "P000126",
            "employeeName": "张三",
            "departmentCode": "120000",
            "phoneNumber": "1234567890",
            "partnerCompany": "ABC",
            "country": "cn",
        }
    ],
}

FILTERS = (
    "status", "account_type", "employee_number", "business_key", "origin_system", "department_code",
    "created_after", "created_before", "q",
)
# The shared range and free-text filters, documented once for both lists.
RANGE_AND_TEXT = [
    OpenApiParameter("created_after", OpenApiTypes.DATETIME, description="Created at or after (a date: its midnight)."),
    OpenApiParameter("created_before", OpenApiTypes.DATETIME, description="Created before (a date: its midnight)."),
    OpenApiParameter("q", str, description="Name (contains), employee number or businessKey (starts with)."),
]


MAX_ECHO = 200


def _clean(text: str, limit: int = MAX_ECHO) -> str:
    """Make client-supplied text safe to echo and to store: printable, UTF-8, bounded.

    Error messages quote the input, which may hold NUL bytes (PostgreSQL refuses them in
    JSON), lone surrogates (not encodable as UTF-8, so the renderer fails) or 100 kB.
    """
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if any(ord(ch) < 32 for ch in text):
        text = "".join(ch if ord(ch) >= 32 else repr(ch)[1:-1] for ch in text)
    return text if len(text) <= limit else text[:limit] + "…"


def _flatten(detail: Any, prefix: str = "") -> list[tuple[str, str]]:
    """DRF error detail -> [(field path, message)], e.g. ("systemList[1]", "...")."""
    if isinstance(detail, dict):
        out: list[tuple[str, str]] = []
        for key, value in detail.items():
            name = str(key)
            if key == "non_field_errors":
                name = ""
            elif isinstance(key, int) or name.isdigit():
                name = f"[{name}]"
            path = f"{prefix}{name}" if name.startswith("[") or not prefix else f"{prefix}.{name}"
            out.extend(_flatten(value, path))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [(prefix or "body", _clean(str(item), 4 * MAX_ECHO)) for item in detail]
        out = []
        for position, item in enumerate(detail):
            out.extend(_flatten(item, f"{prefix}[{position}]"))
        return out
    return [(prefix or "body", _clean(str(detail), 4 * MAX_ECHO))]


def _envelope_errors(detail: Any) -> list[dict[str, Any]]:
    return [IntakeIssue(None, None, path, text).as_dict() for path, text in _flatten(detail)]


def _validate_users(raw_users: list[Any]) -> tuple[list[tuple[int, dict[str, Any]]], list[IntakeIssue]]:
    accepted: list[tuple[int, dict[str, Any]]] = []
    rejected: list[IntakeIssue] = []
    # One serializer for every user, as ListSerializer does with its child: building a
    # serializer deep-copies its fields, which cost more than validating a user.
    user_serializer = s.AccountUserSerializer()
    for index, raw in enumerate(raw_users):
        if not isinstance(raw, dict):
            rejected.append(IntakeIssue(index, None, "userList", message("intake.user_not_object")))
            continue
        number = raw.get("employeeNumber")
        number = _clean(number, 64) if isinstance(number, str) else None
        try:
            accepted.append((index, dict(user_serializer.run_validation(raw))))
        except serializers.ValidationError as exc:
            for path, text in _flatten(exc.detail):
                rejected.append(IntakeIssue(index, number, path, text))
    return accepted, rejected


def _field_errors(user_serializer: s.AccountUserSerializer, raw: dict[str, Any]) -> list[tuple[str, str]]:
    try:
        user_serializer.run_validation(raw)
    except serializers.ValidationError as exc:
        return _flatten(exc.detail)
    return []


def _in_every_language(raw_users: list[Any], rejected: list[IntakeIssue]) -> list[IntakeIssue]:
    """The rejected people's field errors with their text in every language the API speaks.

    The request stores them, and its detail, a replay and the staff grid read them later, each
    in its reader's language. A message of ours re-renders from its code; DRF's and the
    serializer's field errors exist only as text, so each person rejected for a field is
    validated once more per language (few people: only the rejected ones). An error whose
    counterpart does not line up (never expected: validation does not depend on the language)
    keeps its one text.
    """
    people = sorted({issue.index for issue in rejected if isinstance(issue.message, str) and issue.index is not None})
    if not people:
        return rejected
    by_language: dict[str, dict[int, list[tuple[str, str]]]] = {}
    for language, _name in settings.LANGUAGES:
        # A serializer per language: DRF formats a field's validator message once and keeps it.
        user_serializer = s.AccountUserSerializer()
        with translation.override(language):
            by_language[language] = {index: _field_errors(user_serializer, raw_users[index]) for index in people}
    out: list[IntakeIssue] = []
    position: dict[int, int] = {}
    for issue in rejected:
        if not isinstance(issue.message, str) or issue.index is None:
            out.append(issue)
            continue
        nth = position[issue.index] = position.get(issue.index, -1) + 1
        texts = {}
        for language, errors in by_language.items():
            found = errors[issue.index]
            if nth < len(found) and found[nth][0] == issue.field:
                texts[language] = found[nth][1]
        out.append(replace(issue, texts=texts) if len(texts) == len(by_language) else issue)
    return out


def _requested_systems(data: dict[str, Any], envelope_errors: Any) -> list[str] | None:
    """systemList of a request whose envelope is wrong elsewhere, validated on its own
    (None when systemList itself is wrong)."""
    if "systemList" in envelope_errors:
        return None
    envelope = s.CreateAccountsRequestSerializer()
    try:
        systems = envelope.fields["systemList"].run_validation(data.get("systemList"))
    except serializers.ValidationError:
        return None
    return list(envelope.validate_systemList(systems))


def _user_errors_of(data: dict[str, Any], envelope_errors: Any) -> list[dict[str, Any]]:
    """Each person's errors of a request whose envelope is wrong too (none when userList
    itself is wrong: not a list, empty or longer than allowed): field errors, and the checks
    intake runs on the people together (a person sent twice, a missing dependency)."""
    raw_users = data.get("userList")
    if "userList" in envelope_errors or not isinstance(raw_users, list):
        return []
    users, rejected = _validate_users(raw_users)
    occupied = occupied_tasks([user["employeeNumber"] for _, user in users])
    _, together = people_issues(users, _requested_systems(data, envelope_errors), occupied)
    return [issue.as_dict() for issue in sorted([*rejected, *together], key=issue_order)]


class AccountCreationTaskViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Account creation tasks: intake, progress, attempt logs and statistics."""

    serializer_class = s.AccountCreationTaskSerializer
    schema = ErrorDocumentingAutoSchema()
    pagination_class = TaskPagination
    lookup_value_regex = r"[0-9]+"
    # What each action needs (api_clients.access.ScopePermission); rows are narrowed to the
    # client's origin systems by the selectors, so another client's task answers 404.
    required_scopes = {
        "create_accounts": "intake",
        "list": "read",
        "retrieve": "read",
        "logs": "read",
        "task_stats": "read",
        "retry": "retry",
    }

    def get_queryset(self) -> Any:
        return task_list(caller=access_of(self.request), filters=getattr(self, "list_filters", None))

    @extend_schema(
        parameters=[
            OpenApiParameter("status", enum=TaskStatus.values),
            OpenApiParameter("account_type", enum=registry.values()),
            OpenApiParameter("employee_number", str),
            OpenApiParameter("business_key", str),
            OpenApiParameter("origin_system", str),
            OpenApiParameter("department_code", str, description="The person's departmentCode (exact)."),
            *RANGE_AND_TEXT,
        ],
        responses={
            200: s.AccountCreationTaskSerializer(many=True),
            400: OpenApiResponse(description="A filter value is invalid; the body names the parameter."),
        },
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # An empty parameter (?status=) means "no filter", as it always did.
        given = {name: request.query_params[name] for name in FILTERS if request.query_params.get(name)}
        filters = s.TaskFilterSerializer(data=given)
        filters.is_valid(raise_exception=True)
        self.list_filters = dict(filters.validated_data)
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=s.CreateAccountsRequestSerializer,
        responses={
            201: s.CreateAccountsResponseSerializer,
            207: s.CreateAccountsResponseSerializer,
            200: s.CreateAccountsResponseSerializer,
            400: s.CreateAccountsResponseSerializer,
            409: inline_serializer("Conflict", {"detail": serializers.CharField(), "code": serializers.CharField()}),
        },
        examples=[OpenApiExample("The spec's example", value=SPEC_EXAMPLE, request_only=True)],
        description=(
            "Accept a batch. 201: every user accepted; 207: some users rejected (see errors); "
            "200: this originSystem+businessKey was already accepted (replay, nothing created, the "
            "same requestId); every accepted answer has requestId and a Location header; "
            "400: invalid envelope or no user accepted, nothing written; 409: the businessKey "
            "was used before with a different body."
        ),
    )
    @action(detail=False, methods=["post"])
    def create_accounts(self, request: Request) -> Response:
        try:
            data = request.data
        except UnsupportedMediaType:
            # The contract answers every malformed envelope with 400 (the replaced system did).
            content_type = _clean(request.content_type or "", 100)
            raise IntakeRejected(
                _envelope_errors({"body": [str(message("intake.body_content_type", content_type=content_type))]})
            ) from None
        except ParseError as exc:
            # The parser's own words are English: said again in the caller's language.
            raise IntakeRejected(_envelope_errors({"body": [str(parse_error_message(exc.detail))]})) from None
        except RecursionError:
            raise IntakeRejected(_envelope_errors({"body": [str(message("intake.body_too_deep"))]})) from None
        except RequestDataTooBig:
            too_large = message("intake.body_too_large", limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
            raise IntakeRejected(_envelope_errors({"body": [str(too_large)]}), status_code=413) from None
        if not isinstance(data, dict):
            raise IntakeRejected(_envelope_errors({"body": [str(message("intake.body_not_object"))]}))
        envelope = s.CreateAccountsRequestSerializer(data=data)
        if not envelope.is_valid():
            # Everything wrong in one answer: the envelope's errors and every person's.
            raise IntakeRejected(_envelope_errors(envelope.errors) + _user_errors_of(data, envelope.errors))
        validated = dict(envelope.validated_data)
        access_of(request).require_origin(validated["originSystem"])  # 403 before anything is written
        raw_users = validated.pop("userList")
        users, rejected = _validate_users(raw_users)
        if not users:
            raise IntakeRejected([issue.as_dict() for issue in rejected])
        result = request_create_accounts(
            envelope=validated,
            users=users,
            rejected=_in_every_language(raw_users, rejected),
            fingerprint=payload_fingerprint(validated, raw_users),
            client=request.user,
        )
        assert result.request is not None  # noqa: S101 - an accepted or replayed request has its row
        request_id = result.request.request_id
        body = {
            "requestId": request_id,
            "success": not result.errors,
            "created_tasks": result.created_count,
            "replayed": result.replayed,
            "errors": result.errors,
            "warnings": result.warnings,
            "tasks": [
                {
                    "id": task.pk,
                    "account_type": task.account_type,
                    "employee_number": task.employee_number,
                    "status": task.status,
                    "created": created,
                }
                for task, created in result.tasks
            ],
        }
        location = request.build_absolute_uri(reverse("account-creation-request-detail", args=[request_id]))
        return Response(body, status=result.status_code, headers={"Location": location})

    @extend_schema(responses=s.AccountCreationLogSerializer(many=True))
    @action(detail=True, methods=["get"])
    def logs(self, request: Request, pk: str | None = None) -> Response:
        task = self.get_object()
        page = self.paginate_queryset(task_logs(task_id=task.pk))
        serializer = s.AccountCreationLogSerializer(page, many=True)
        return self.get_paginated_response(serializer.data)

    @extend_schema(
        request=None,
        responses={200: s.AccountCreationTaskSerializer, 409: inline_serializer(
            "RetryConflict", {"detail": serializers.CharField(), "code": serializers.CharField()}
        )},
        description="Put a failed or blocked task back to pending with a fresh attempt budget "
        "(a blocked task's failed IDaaS task is retried with it). 409 for any other status.",
    )
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        task = self.get_object()
        task_retry(task_id=task.pk, user_id=request.user.pk if request.user.is_authenticated else None)
        return Response(s.AccountCreationTaskSerializer(self.get_object()).data)

    @extend_schema(responses=s.TaskStatsSerializer)
    @action(detail=False, methods=["get"])
    def task_stats(self, request: Request) -> Response:
        return Response(task_stats(caller=access_of(request)))


__all__ = ["AccountCreationTaskViewSet", "AccountCreationTask"]
