"""Reads of requests as the OA sees them: status and progress derived from their tasks.

A request's status is never stored: it is computed from its own tasks' statuses by one SQL
expression (:func:`with_progress`), so the list, its ``status`` filter and the detail all
answer from the same rule and cannot drift from the tasks:

* ``completed`` — every task completed;
* ``failed`` — nothing left to do (no task pending or processing) and some task failed or
  is blocked;
* ``cancelled`` — nothing left to do, nothing failed, and some task was cancelled;
* ``pending`` — nothing attempted yet (every task pending, no attempt row);
* ``in_progress`` — otherwise.

A request counts its own tasks and the tasks of earlier requests it reused (the same person and
system were already pending, running, blocked or completed: :class:`RequestReuse`), so
``completed`` means every person's accounts exist, whichever request created them. A reused
task counts in every request that asked for it. A cancelled request counts only its own
tasks (it withdrew; the reused ones belong to the request that made them): with no task of its
own left to do it is ``cancelled``. Cancelling hands a not-started task that a later, live
request reused over to that request (``services.cancel``).

:func:`request_detail` answers a request of 1,000 people in a fixed number of queries: the
request row with its progress (one grouped query), its tasks with their attempt counts (one
query), and the tasks it reused from earlier requests (one more, only if there are any).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from account_creation.account_types import registry
from account_creation.issues import public_issue
from account_creation.models import (
    PRIORITY_NAMES,
    AccountCreationLog,
    AccountCreationRequest,
    AccountCreationTask,
    RequestReuse,
    TaskStatus,
)
from account_creation.selectors import attempts_subquery
from account_creation.services.waiting import waiting_for_text
from accountsync.messages import render_stored
from api_clients.access import Access


class RequestStatus:
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    values = (PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED)
    finished = (COMPLETED, FAILED, CANCELLED)


REQUEST_STATUS_CHOICES = [(value, value) for value in RequestStatus.values]
PROGRESS_KEYS = ("total", "completed", "failed", "blocked", "pending", "processing", "cancelled")


def _count(status: str) -> Count:
    return Count("tasks", filter=Q(tasks__status=status))


class _PerRequest(ExpressionWrapper):
    """An expression over the request row alone (its columns and subqueries keyed by its pk):
    kept out of the GROUP BY, so it is computed once per request after the tasks are counted,
    not once per task row (PostgreSQL evaluates grouped subqueries per input row)."""

    def get_group_by_cols(self) -> list[Any]:
        return []


def _if_reused(expression: Any) -> _PerRequest:
    """``expression`` for a request that reused tasks (``reused_tasks``, fixed at intake), else 0:
    the subqueries never run for the great majority that reused nothing."""
    return _PerRequest(
        Case(When(reused_tasks__gt=0, then=expression), default=Value(0)), output_field=IntegerField()
    )


def _reused(status: str | None = None) -> _PerRequest:
    """How many of the tasks this request reused (in ``status``); none once it is cancelled."""
    links = RequestReuse.objects.filter(request=OuterRef("pk"), request__cancelled_at__isnull=True)
    if status is not None:
        links = links.filter(task__status=status)
    counted = links.order_by().values("request").annotate(n=Count("*")).values("n")[:1]
    return _if_reused(Coalesce(Subquery(counted, output_field=IntegerField()), 0))


def with_progress(queryset: QuerySet[AccountCreationRequest]) -> QuerySet[AccountCreationRequest]:
    """Annotate each request with its task counts (own and reused), derived ``derived_status``
    and last change."""
    attempted = AccountCreationLog.objects.filter(task__request_id=OuterRef("pk"))
    attempted_reused = AccountCreationLog.objects.filter(
        task__reused_by__request_id=OuterRef("pk"), task__reused_by__request__cancelled_at__isnull=True
    )
    reused_change = RequestReuse.objects.filter(
        request=OuterRef("pk"), request__cancelled_at__isnull=True
    ).order_by("-task__updated_at").values("task__updated_at")[:1]
    queryset = queryset.annotate(
        own_total=Count("tasks"),
        **{f"own_{status}": _count(status) for status in TaskStatus.values},
        reused_total=_reused(),
        **{f"reused_{status}": _reused(status) for status in TaskStatus.values},
        attempted=_PerRequest(
            Exists(attempted) | Case(When(reused_tasks__gt=0, then=Exists(attempted_reused)), default=Value(False)),
            output_field=BooleanField(),
        ),
        own_change=Max("tasks__updated_at"),
        reused_change=_PerRequest(
            Case(When(reused_tasks__gt=0, then=Subquery(reused_change)), default=None),
            output_field=DateTimeField(),
        ),
    )
    queryset = queryset.annotate(
        n_total=F("own_total") + F("reused_total"),
        **{f"n_{status}": F(f"own_{status}") + F(f"reused_{status}") for status in TaskStatus.values},
    )
    return queryset.annotate(
        derived_status=Case(
            When(Q(n_total=0, cancelled_at__isnull=False), then=Value(RequestStatus.CANCELLED)),
            When(Q(n_total=0), then=Value(RequestStatus.COMPLETED)),
            When(Q(n_pending=0, n_processing=0) & (Q(n_failed__gt=0) | Q(n_blocked__gt=0)),
                 then=Value(RequestStatus.FAILED)),
            When(Q(n_pending=0, n_processing=0, n_cancelled__gt=0), then=Value(RequestStatus.CANCELLED)),
            # Withdrawn while it still waited for tasks it reused (not counted once cancelled).
            When(Q(n_pending=0, n_processing=0, cancelled_at__isnull=False, reused_tasks__gt=0),
                 then=Value(RequestStatus.CANCELLED)),
            When(Q(n_pending=0, n_processing=0), then=Value(RequestStatus.COMPLETED)),
            When(Q(n_pending=F("n_total"), attempted=False), then=Value(RequestStatus.PENDING)),
            default=Value(RequestStatus.IN_PROGRESS),
            output_field=CharField(),
        ),
    )


def request_list(*, caller: Access, filters: dict[str, Any] | None = None) -> QuerySet[AccountCreationRequest]:
    """The caller's requests (its origin systems only), newest first, with their progress."""
    queryset = caller.narrow(AccountCreationRequest.objects.order_by("-id"))
    filters = {name: value for name, value in (filters or {}).items() if value not in (None, "")}
    status = filters.pop("status", None)
    if "created_after" in filters:
        queryset = queryset.filter(created_at__gte=filters.pop("created_after"))
    if "created_before" in filters:
        queryset = queryset.filter(created_at__lt=filters.pop("created_before"))
    if "q" in filters:
        from account_creation.selectors import task_text_match

        text = filters.pop("q")
        people = AccountCreationTask.objects.filter(task_text_match(text), request=OuterRef("pk"))
        queryset = queryset.filter(Q(business_key__istartswith=text) | Exists(people))
    # A request "of" a system or department has a task of it (its own: a reused task belongs to
    # the request that created it).
    if "account_type" in filters:
        of_system = AccountCreationTask.objects.filter(request=OuterRef("pk"), account_type=filters.pop("account_type"))
        queryset = queryset.filter(Exists(of_system))
    if "department_code" in filters:
        of_department = AccountCreationTask.objects.filter(
            request=OuterRef("pk"), department_code=filters.pop("department_code")
        )
        queryset = queryset.filter(Exists(of_department))
    queryset = with_progress(queryset.filter(**filters))
    if status:
        queryset = queryset.filter(**{"derived_status": status})
    return queryset


def request_get(*, caller: Access, request_id: str) -> AccountCreationRequest | None:
    """One of the caller's requests with its progress, or None (another client's is None too)."""
    return request_list(caller=caller).filter(request_id=request_id).first()


def iso(moment: Any) -> str | None:
    """A datetime as the API writes every one: in TIME_ZONE, with its offset."""
    return timezone.localtime(moment).isoformat() if moment is not None else None


def progress_of(request: Any) -> dict[str, int]:
    return {key: getattr(request, f"n_{key}") for key in PROGRESS_KEYS}


def completed_at_of(request: Any) -> Any:
    if request.derived_status not in RequestStatus.finished:
        return None
    changes = [moment for moment in (request.own_change, request.reused_change) if moment is not None]
    if not changes:
        return request.cancelled_at
    # Reused accounts may have been finished before this request arrived: then it finished
    # when it was accepted.
    return max(*changes, request.created_at)


def request_summary(request: Any) -> dict[str, Any]:
    """The list's view of a request (an annotated row of :func:`with_progress`)."""
    return {
        "requestId": request.request_id,
        "originSystem": request.origin_system,
        "businessKey": request.business_key,
        "status": request.derived_status,
        "priority": PRIORITY_NAMES.get(request.priority, "normal"),
        "systemList": list(request.system_list),
        "progress": progress_of(request),
        "createdAt": iso(request.created_at),
        "completedAt": iso(completed_at_of(request)),
        "cancelledAt": iso(request.cancelled_at),
    }


TASK_COLUMNS = ("id", "request_id", "employee_number", "employee_name", "account_type", "status", "result",
                "last_error", "last_error_data", "next_attempt_at", "waiting_for")


def _account(row: dict[str, Any], *, reused_from: str | None) -> dict[str, Any]:
    result = row["result"] or {}
    account = {
        "taskId": row["id"],
        "status": row["status"],
        "attempts": row["attempts"],
        "lastError": render_stored(row["last_error_data"], row["last_error"]),
        "nextAttemptAt": iso(row["next_attempt_at"]) if row["status"] == TaskStatus.PENDING else None,
        "waitingFor": (waiting_for_text(row["waiting_for"]) or None) if row["status"] == TaskStatus.PENDING else None,
        "username": result.get("username", ""),
        "email": result.get("email", ""),
        "accountId": result.get("account_id", ""),
    }
    if reused_from is not None:
        account["reusedFromRequestId"] = reused_from
    return account


@dataclass
class _Person:
    employee_number: str
    employee_name: str
    accounts: dict[str, dict[str, Any]]


def request_people(request: Any) -> list[dict[str, Any]]:
    """Each accepted person of the request with the state of each requested account."""
    rows = list(
        AccountCreationTask.objects.filter(request=request)
        .order_by("id")
        .annotate(attempts=attempts_subquery())
        .values(*TASK_COLUMNS, "attempts")
    )
    reused: list[dict[str, Any]] = []
    if request.reused_tasks:
        reused = list(
            AccountCreationTask.objects.filter(reused_by__request=request)
            .annotate(attempts=attempts_subquery(), owner=F("request__request_id"))
            .values(*TASK_COLUMNS, "attempts", "owner")
        )
    people: dict[str, _Person] = {}
    # Reused tasks were planned with the person's own ones; ordering by the lowest task id
    # keeps people in the order the request listed them as far as the tasks tell.
    for row in sorted(rows + reused, key=lambda r: (r["request_id"] != request.pk, r["id"])):
        person = people.setdefault(
            row["employee_number"], _Person(row["employee_number"], row["employee_name"], {})
        )
        person.accounts[row["account_type"]] = _account(row, reused_from=row.get("owner"))
    order = {value: index for index, value in enumerate(registry.values())}
    wanted = list(request.system_list)
    answer = []
    for person in people.values():
        accounts = dict(sorted(person.accounts.items(), key=lambda item: order.get(item[0], len(order))))
        ready = all(accounts.get(system, {}).get("status") == TaskStatus.COMPLETED for system in wanted)
        answer.append(
            {
                "employeeNumber": person.employee_number,
                "employeeName": person.employee_name,
                "ready": ready,
                "accounts": accounts,
            }
        )
    return answer


def request_detail(request: Any) -> dict[str, Any]:
    """The detail view: the summary plus people, rejected people and warnings (each message
    in the reader's language, without the keys intake keeps for itself)."""
    return request_summary(request) | {
        "people": request_people(request),
        "errors": [public_issue(error) for error in request.errors if isinstance(error, dict)],
        "warnings": [public_issue(warning) for warning in request.warnings if isinstance(warning, dict)],
    }
