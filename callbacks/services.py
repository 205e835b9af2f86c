"""Callbacks: configure a client's endpoint, and write events in the transaction that causes them.

:func:`callback_events_emit` is the outbox: the queue calls it inside the transaction that
completes, fails or cancels a task, for the people and requests that change touched. It
writes ``person.completed`` (all of a person's tasks in the request completed),
``person.failed`` (a task of that person failed or was blocked) and ``request.completed``
(no task of the request is pending or processing any more; once per outcome, so a request
that a retry finishes differently is told again), each at most once per cause — the
``dedupe_key`` is unique in the database, and the insert skips a cause that already has its
event, so two runners finishing the last two tasks of a request at once write one event.
No event is lost if the process dies after the commit (it was committed with the change),
and none exists for a change that rolled back.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db.models import Exists, OuterRef
from django.utils import timezone

from account_creation.account_types import registry
from account_creation.models import AccountCreationRequest, AccountCreationTask, RequestReuse, TaskStatus
from account_creation.request_selectors import iso, progress_of, with_progress
from accountsync.errors import DomainError
from accountsync.locks import CALLBACK_EVENTS_PER_REQUEST, advisory_xact_locks
from accountsync.logging import kv
from accountsync.messages import render_stored
from api_clients.models import ApiClient
from callbacks.messages import message
from callbacks.models import CallbackEndpoint, CallbackEvent, EventType, new_secret

logger = logging.getLogger(__name__)

PREVIOUS_SECRET_GRACE = timedelta(hours=24)


# --- configuration ----------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def callback_url_validate(url: str) -> str:
    """The URL, or a DomainError saying what is wrong with it and how to fix it."""
    url = url.strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise DomainError(message("callback.url_invalid", url=url[:200]), code="callback_url_invalid") from None
    parts = urlsplit(url)
    if parts.scheme != "https" and not _is_loopback(parts.hostname or "") and not settings.CALLBACK_ALLOW_HTTP:
        raise DomainError(message("callback.url_not_https", url=url[:200]), code="callback_url_not_https")
    return url


@dataclass(frozen=True)
class Configured:
    endpoint: CallbackEndpoint
    created: bool
    rotated: bool


def callback_configure(
    *, client_name: str, url: str | None = None, enabled: bool | None = None, rotate_secret: bool = False
) -> Configured:
    """Set a client's callback URL / enabled flag; rotating keeps the old secret valid for 24 h."""
    client = ApiClient.objects.filter(name=client_name).first()
    if client is None:
        raise DomainError(message("callback.client_not_found", client=client_name), code="client_not_found")
    endpoint = CallbackEndpoint.objects.filter(client=client).first()
    created = endpoint is None
    if endpoint is None:
        if url is None:
            raise DomainError(message("callback.url_missing", client=client_name), code="callback_url_missing")
        endpoint = CallbackEndpoint(client=client)
    if url is not None:
        endpoint.url = callback_url_validate(url)
    if enabled is not None:
        endpoint.enabled = enabled
    if rotate_secret and not created:
        now = timezone.now()
        endpoint.previous_secret, endpoint.previous_secret_until = endpoint.secret, now + PREVIOUS_SECRET_GRACE
        endpoint.secret, endpoint.secret_rotated_at = new_secret(), now
    endpoint.save()
    logger.info(
        "callback configured %s",
        kv(client=client_name, enabled=endpoint.enabled, created=created, rotated=rotate_secret and not created),
    )
    return Configured(endpoint=endpoint, created=created, rotated=rotate_secret and not created)


def signing_secrets(endpoint: CallbackEndpoint, now: datetime | None = None) -> list[str]:
    """The secrets an event is signed with now: the current one, and the previous one for 24 h."""
    now = now or timezone.now()
    found = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        found.append(endpoint.previous_secret)
    return found


# --- the outbox -------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestRef:
    """What an event needs of its request, read once per claim batch."""

    request_id: str
    origin_system: str
    business_key: str
    endpoint_id: int
    # Whether it reused tasks of earlier requests: fixed at intake, with the request.
    has_reuse: bool = False


def requests_with_callbacks(request_ids: Iterable[int]) -> dict[int, RequestRef]:
    """Which of these requests belong to a client with an enabled callback (one query)."""
    ids = {pk for pk in request_ids if pk is not None}
    if not ids:
        return {}
    rows = (
        AccountCreationRequest.objects.filter(pk__in=ids, client__api_client__callback__enabled=True)
        .annotate(has_reuse=Exists(RequestReuse.objects.filter(request=OuterRef("pk"))))
        .values_list("pk", "request_id", "origin_system", "business_key", "client__api_client__callback__id",
                     "has_reuse")
    )
    return {pk: RequestRef(request_id, origin, key, endpoint, reuse)
            for pk, request_id, origin, key, endpoint, reuse in rows}


def callbacks_configured() -> bool:
    """Whether any client has an enabled callback (then a finished task looks for its events)."""
    return CallbackEndpoint.objects.filter(enabled=True).exists()


def _person_event(ref: RequestRef, number: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    accounts: dict[str, dict[str, Any]] = {}
    for row in rows:
        result = row["result"] or {}
        account: dict[str, Any] = {"status": row["status"]}
        if row["status"] == TaskStatus.COMPLETED:
            account |= {
                "username": result.get("username", ""),
                "email": result.get("email", ""),
                "accountId": result.get("account_id", ""),
            }
        else:
            account["lastError"] = render_stored(row["last_error_data"], row["last_error"])
        accounts[row["account_type"]] = account
    return {
        "requestId": ref.request_id,
        "originSystem": ref.origin_system,
        "businessKey": ref.business_key,
        "employeeNumber": number,
        "employeeName": rows[0]["employee_name"],
        "accounts": accounts,
    }


def people_of_tasks(tasks: Iterable[tuple[int, int, str]]) -> dict[int, set[str]]:
    """``(task pk, request pk, employee number)`` of changed tasks → the people whose events may be
    due, per request: each task's own request and every later request that reused it (one query)."""
    people: dict[int, set[str]] = defaultdict(set)
    numbers: dict[int, str] = {}
    for task_pk, request_pk, number in tasks:
        people[request_pk].add(number)
        numbers[task_pk] = number
    if numbers:
        for task_pk, request_pk in RequestReuse.objects.filter(task_id__in=list(numbers)).values_list(
            "task_id", "request_id"
        ):
            people[request_pk].add(numbers[task_pk])
    return dict(people)


_ROW_FIELDS = ("employee_number", "employee_name", "account_type", "status", "result", "last_error", "last_error_data")
_OPEN = (TaskStatus.PENDING, TaskStatus.PROCESSING)


def callback_events_emit(
    *, people: dict[int, set[str]], now: datetime | None = None, known: dict[int, RequestRef | None] | None = None
) -> int:
    """Write the events these task changes cause (call inside the change's transaction).

    ``people`` maps request primary keys to the employee numbers whose tasks changed;
    ``known`` (from the claim) spares the look-up of which of them want callbacks (None: known
    not to). A request's
    person and progress count its own tasks and those it reused from earlier requests (as the
    request resource does). Returns how many events were written or already existed. A
    finished task costs two indexed reads (the person's tasks in the request; whether the
    request has anything open left), two more for a request that reused tasks, and, when an
    event is due, one insert.
    """
    now = now or timezone.now()
    known = known or {}
    unknown = [pk for pk in people if pk not in known]
    refs = {pk: ref for pk, ref in known.items() if ref is not None}
    refs |= requests_with_callbacks(unknown) if unknown else {}
    wanted = {pk: ref for pk, ref in refs.items() if pk in people}
    if not wanted:
        return 0
    _serialise_per_request(wanted)
    numbers = {number for pk in wanted for number in people[pk]}
    rows: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for row in (
        AccountCreationTask.objects.filter(request_id__in=list(wanted), employee_number__in=numbers)
        .order_by("sequence", "id")
        .values("request_id", *_ROW_FIELDS)
    ):
        rows[(row["request_id"], row["employee_number"])].append(dict(row))
    still_open = set(
        AccountCreationTask.objects.filter(request_id__in=list(wanted), status__in=_OPEN)
        .values_list("request_id", flat=True).distinct()
    )
    reusing = [pk for pk, ref in wanted.items() if ref.has_reuse]
    if reusing:
        reused = RequestReuse.objects.filter(request_id__in=reusing, request__cancelled_at__isnull=True)
        for link in (
            reused.filter(task__employee_number__in=numbers)
            .order_by("task__sequence", "task_id")
            .values("request_id", *(f"task__{name}" for name in _ROW_FIELDS))
        ):
            row = {name: link[f"task__{name}"] for name in _ROW_FIELDS}
            rows[(link["request_id"], row["employee_number"])].append(row)
        still_open |= set(reused.filter(task__status__in=_OPEN).values_list("request_id", flat=True).distinct())
    events: list[CallbackEvent] = []
    for pk, ref in wanted.items():
        for number in sorted(people[pk]):
            tasks = sorted(rows.get((pk, number), []), key=lambda row: registry.order(row["account_type"]))
            statuses = {row["status"] for row in tasks}
            if tasks and statuses == {TaskStatus.COMPLETED}:
                kind = EventType.PERSON_COMPLETED
            elif statuses & {TaskStatus.FAILED, TaskStatus.BLOCKED}:
                kind = EventType.PERSON_FAILED
            else:
                continue
            key = f"{kind}:{ref.request_id}:{number}"
            events.append(_event(ref, kind, key, _person_event(ref, number, tasks), now))
    finished = set(wanted) - still_open
    if finished:
        # The full progress is counted only here: once per request, when nothing is left.
        done: Any
        for done in with_progress(AccountCreationRequest.objects.filter(pk__in=finished)):
            request = done
            ref = wanted[request.pk]
            data = {
                "requestId": ref.request_id,
                "originSystem": ref.origin_system,
                "businessKey": ref.business_key,
                "status": request.derived_status,
                "progress": progress_of(request),
            }
            kind = EventType.REQUEST_COMPLETED
            # Once per outcome: racing runners compute the same key, and a request that
            # finishes again after a retry (another status or progress) gets a new event.
            outcome = "/".join(str(data["progress"][key]) for key in ("completed", "failed", "blocked", "cancelled"))
            key = f"{kind}:{ref.request_id}:{request.derived_status}:{outcome}"
            events.append(_event(ref, kind, key, data, now))
    if events:
        # ignore_conflicts: the unique dedupe_key, not a read, makes each cause's event exist
        # once — a racing runner that wrote it first wins, a repeat of the cause adds nothing.
        CallbackEvent.objects.bulk_create(events, ignore_conflicts=True)
    return len(events)


def _serialise_per_request(wanted: dict[int, RequestRef]) -> None:
    """On PostgreSQL, one transaction at a time decides a request's events (an advisory lock
    held until commit, taken in pk order). Without it two runners finishing a person's last two
    tasks at once (WeLink and Email, each committed after the other's read) could each see the
    other's task still processing, and neither would write person.completed. SQLite's single
    writer already serialises these transactions."""
    advisory_xact_locks(CALLBACK_EVENTS_PER_REQUEST, wanted)


def _event(ref: RequestRef, kind: str, key: str, data: dict[str, Any], now: datetime) -> CallbackEvent:
    return CallbackEvent(
        endpoint_id=ref.endpoint_id,
        type=kind,
        dedupe_key=key[:300],
        payload={"type": kind, "timestamp": iso(now), "data": data},
        next_attempt_at=now,
    )
