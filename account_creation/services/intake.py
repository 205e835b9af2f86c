"""Intake: turn one validated OA request into tasks, atomically and idempotently.

Queries do not grow with the number of users: a fixed handful of reads (replay check,
employee type, existing tasks, department codes) and two writes (the request row and one
bulk insert of every task).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from account_creation.account_types import registry
from account_creation.issues import REUSED_TASK_KEY, IntakeIssue, public_issue
from account_creation.messages import message
from account_creation.models import (
    OCCUPYING_STATUSES,
    PRIORITY_BY_NAME,
    AccountCreationRequest,
    AccountCreationTask,
    RequestReuse,
)
from accountsync.errors import ConflictError, IntakeRejected
from accountsync.logging import kv
from accountsync.messages import Message
from callbacks.services import callback_events_emit
from departments.models import DepartmentMapping, EmployeeTypeMapping
from departments.selectors import account_category_of, employee_types_described

logger = logging.getLogger(__name__)

@dataclass
class IntakeResult:
    tasks: list[tuple[AccountCreationTask, bool]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    replayed: bool = False
    request: AccountCreationRequest | None = None

    @property
    def created_count(self) -> int:
        return sum(1 for _, created in self.tasks if created)

    @property
    def status_code(self) -> int:
        if self.replayed:
            return 200
        if not self.tasks:
            return 400
        return 207 if self.errors else 201


def payload_fingerprint(envelope: dict[str, Any], users: list[Any]) -> str:
    body = {**envelope, "userList": users}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    # surrogatepass: an unpaired surrogate in an ignored key must not turn into a 500.
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def request_create_accounts(
    *,
    envelope: dict[str, Any],
    users: list[tuple[int, dict[str, Any]]],
    rejected: list[IntakeIssue],
    fingerprint: str,
    client: Any = None,
) -> IntakeResult:
    """Accept a request: create each accepted user's tasks, or answer a replay.

    ``users`` are (index, validated fields) of the users that passed field validation;
    ``rejected`` are those that did not. Raises ``IntakeRejected`` when nobody is left,
    ``ConflictError`` when the businessKey was used with a different body.
    """
    # A concurrent request may win the race for the same businessKey or the same
    # employee slot; the second pass then sees its rows and answers accordingly.
    for attempt in range(3):
        try:
            return _accept(
                envelope=envelope,
                users=users,
                rejected=rejected,
                fingerprint=fingerprint,
                client=client,
            )
        except IntegrityError:
            if attempt == 2:
                raise
            logger.info(
                "intake race, retrying %s",
                kv(origin_system=envelope["originSystem"], business_key=envelope["businessKey"]),
            )
    raise AssertionError("unreachable")


def _replay(
    existing: AccountCreationRequest, fingerprint: str, users: list[tuple[int, dict[str, Any]]]
) -> IntakeResult:
    if existing.payload_sha256 != fingerprint:
        raise ConflictError(
            message(
                "intake.business_key_reused",
                business_key=existing.business_key,
                origin_system=existing.origin_system,
                accepted_at=existing.created_at,
            ),
            code="business_key_reused",
        )
    # The request's own tasks, plus the tasks of other requests it reused (recorded in
    # its warnings), in the order of the first answer: by user, then by run order.
    reused_ids = [w[REUSED_TASK_KEY] for w in existing.warnings if w.get(REUSED_TASK_KEY)]
    tasks = list(
        AccountCreationTask.objects.filter(Q(request=existing) | Q(pk__in=reused_ids)).order_by("id")
    )
    position = {user["employeeNumber"]: index for index, user in users}
    tasks.sort(key=lambda task: (position.get(task.employee_number, len(position)), task.sequence, task.pk))
    return IntakeResult(
        tasks=[(task, False) for task in tasks],
        errors=[public_issue(error) for error in existing.errors],
        warnings=[public_issue(warning) for warning in existing.warnings],
        replayed=True,
        request=existing,
    )


def _accept(
    *,
    envelope: dict[str, Any],
    users: list[tuple[int, dict[str, Any]]],
    rejected: list[IntakeIssue],
    fingerprint: str,
    client: Any,
) -> IntakeResult:
    origin_system = envelope["originSystem"]
    business_key = envelope["businessKey"]
    systems: list[str] = sorted(envelope["systemList"], key=registry.order)

    existing_request = AccountCreationRequest.objects.filter(
        origin_system=origin_system, business_key=business_key
    ).first()
    if existing_request is not None:
        return _replay(existing_request, fingerprint, users)

    errors = list(rejected)
    # The system we replace says "供应商" where we say supplier: an operator-editable mapping
    # names the category and, for such a category, the person type that applies.
    category = account_category_of(account_type=envelope["accountType"])
    envelope = {
        **envelope,
        "accountType": category.category,
        "employeeType": category.employee_type or envelope["employeeType"],
    }
    occupied = occupied_tasks([user["employeeNumber"] for _, user in users])
    unique_users, person_errors = people_issues(users, systems, occupied)
    errors.extend(person_errors)
    # The serializer checked it; a type deleted in between is still reported with the rest.
    if not EmployeeTypeMapping.objects.filter(employee_type=envelope["employeeType"]).exists():
        unknown = IntakeIssue(
            None,
            None,
            "employeeType",
            message("intake.employee_type_unknown", value=envelope["employeeType"], known=employee_types_described()),
        )
        raise IntakeRejected([issue.as_dict() for issue in sorted([unknown, *errors], key=issue_order)])

    department_codes = {user["departmentCode"] for _, user in unique_users}
    mapped_codes = set(
        DepartmentMapping.objects.filter(
            idata_departmentcode__in=department_codes, is_active=True
        ).values_list("idata_departmentcode", flat=True)
    )

    warnings: list[IntakeIssue] = []
    planned: list[tuple[AccountCreationTask, bool]] = []
    accepted_users = 0
    for index, user in unique_users:
        number = user["employeeNumber"]
        accepted_users += 1
        for system in systems:
            existing = occupied.get((number, system))
            if existing is not None:
                warnings.append(
                    IntakeIssue(
                        index,
                        number,
                        "systemList",
                        message(
                            "intake.task_reused",
                            employee=number,
                            system=registry.get(system).label_param(),
                            task=existing.pk,
                            status=message(f"status.{existing.status}"),
                        ),
                        reused_task_id=existing.pk,
                    )
                )
                planned.append((existing, False))
                continue
            planned.append((_new_task(envelope, system, user), True))
        if user["departmentCode"] not in mapped_codes:
            warnings.append(
                IntakeIssue(
                    index,
                    number,
                    "departmentCode",
                    message("intake.department_unmapped", department=user["departmentCode"]),
                )
            )

    ordered_errors = sorted(errors, key=issue_order)
    error_dicts = [issue.as_dict() for issue in ordered_errors]
    if accepted_users == 0:
        raise IntakeRejected(error_dicts)
    warning_dicts = [issue.as_dict() for issue in warnings]

    with transaction.atomic(durable=True):
        request = AccountCreationRequest.objects.create(
            origin_system=origin_system,
            business_key=business_key,
            account_category=envelope["accountType"],
            employee_type=envelope["employeeType"],
            system_list=systems,
            priority=PRIORITY_BY_NAME[envelope.get("priority") or "normal"],
            payload_sha256=fingerprint,
            # People, not error entries: one rejected person may have several field errors.
            user_count=len(users) + len({issue.index for issue in rejected}),
            accepted_count=accepted_users,
            reused_tasks=sum(1 for _, created in planned if not created),
            errors=[issue.as_stored_dict() for issue in ordered_errors],
            warnings=[issue.as_stored_dict() for issue in warnings],
            client=client if getattr(client, "pk", None) else None,
        )
        new_tasks = [task for task, created in planned if created]
        for task in new_tasks:
            task.request = request
        _insert_tasks(new_tasks)
        reused = [task for task, created in planned if not created]
        if reused:
            _link_reused(request, reused)

    logger.info(
        "request accepted %s",
        kv(
            origin_system=origin_system,
            business_key=business_key,
            request_id=request.request_id,
            users=accepted_users,
            rejected=len(error_dicts),
            created_tasks=len(new_tasks),
        ),
    )
    return IntakeResult(
        tasks=planned, errors=error_dicts, warnings=warning_dicts, request=request
    )


def _link_reused(request: AccountCreationRequest, reused: list[AccountCreationTask]) -> None:
    """Record the earlier requests' tasks this one reuses: its status, progress and callbacks
    count them. A reused task may already be final (completed, or blocked), so the person's or
    the request's events can be due now, in this transaction."""
    # Lock the reused tasks until this commits (a no-op on SQLite, whose writer lock serialises):
    # a runner finishing one meanwhile then sees this request's link and writes its events, or
    # finishes first and this emit sees the task final — never neither.
    # In primary-key order, as every runner locks rows, so two lockers cannot wait on each other.
    locked = AccountCreationTask.objects.select_for_update().filter(pk__in=[task.pk for task in reused])
    if any(status not in OCCUPYING_STATUSES for status in locked.order_by("pk").values_list("status", flat=True)):
        # A reused task failed or was cancelled since it was read: plan the request again
        # (request_create_accounts retries on IntegrityError, as for any intake race).
        raise IntegrityError("a reused task left its slot before the request was stored")
    RequestReuse.objects.bulk_create(
        [RequestReuse(request=request, task=task) for task in reused], ignore_conflicts=True
    )
    callback_events_emit(people={request.pk: {task.employee_number for task in reused}})


def occupied_tasks(numbers: Collection[str]) -> dict[tuple[str, str], AccountCreationTask]:
    """The tasks that hold a (person, system) slot: pending, processing or completed ones."""
    return {
        (task.employee_number, task.account_type): task
        for task in AccountCreationTask.objects.filter(
            employee_number__in=list(numbers), status__in=OCCUPYING_STATUSES
        )
    }


def people_issues(
    users: list[tuple[int, dict[str, Any]]],
    systems: list[str] | None,
    occupied: Collection[tuple[str, str]],
) -> tuple[list[tuple[int, dict[str, Any]]], list[IntakeIssue]]:
    """The checks that look at the people of a request together, without touching anything:
    a person sent twice (the first occurrence wins) and a system whose dependency is neither
    requested nor already there (``occupied``: (employee number, system) slots taken).

    ``users`` are (index, validated fields) of the people that passed field validation;
    ``systems`` the requested systems, or None when systemList itself is wrong (then only
    duplicates are checked). Returns the people left and the issues found. Intake uses it,
    and so does a request whose envelope is wrong, so one 400 lists everything.
    """
    first_index: dict[str, int] = {}
    left: list[tuple[int, dict[str, Any]]] = []
    issues: list[IntakeIssue] = []
    for index, user in users:
        number = user["employeeNumber"]
        if number in first_index:
            issues.append(
                IntakeIssue(
                    index,
                    number,
                    "employeeNumber",
                    message("intake.duplicate_person", employee=number, first=first_index[number]),
                )
            )
            continue
        first_index[number] = index
        missing_dependency = _missing_dependency(number, systems, occupied) if systems is not None else None
        if missing_dependency:
            issues.append(IntakeIssue(index, number, "systemList", missing_dependency))
            continue
        left.append((index, user))
    return left, issues


def issue_order(issue: IntakeIssue) -> tuple[int, str]:
    return (-1 if issue.index is None else issue.index, issue.field)


def _missing_dependency(number: str, systems: list[str], occupied: Collection[tuple[str, str]]) -> Message | None:
    for system in systems:
        for dependency in registry.dependencies(system):
            if dependency not in systems and (number, dependency) not in occupied:
                return message("intake.missing_dependency", system=system, dependency=dependency, employee=number)
    return None


def _new_task(envelope: dict[str, Any], system: str, user: dict[str, Any]) -> AccountCreationTask:
    return AccountCreationTask(
        origin_system=envelope["originSystem"],
        business_key=envelope["businessKey"],
        account_category=envelope["accountType"],
        employee_type=envelope["employeeType"],
        priority=PRIORITY_BY_NAME[envelope.get("priority") or "normal"],
        account_type=system,
        sequence=registry.order(system),
        employee_number=user["employeeNumber"],
        employee_name=user["employeeName"],
        department_code=user["departmentCode"],
        phone_number=user["phoneNumber"],
        partner_company=user.get("partnerCompany") or "",
        country=user.get("country") or "cn",
    )


_PLAIN = (str, int, bool, type(None))


def _insert_tasks(tasks: list[AccountCreationTask]) -> None:
    """Insert the tasks in one statement and set their primary keys.

    ``bulk_create`` compiles one placeholder per value (3,000 tasks x 24 columns); that
    compilation took more time than the rest of a 1,000-user request. Here the values that
    vary per task travel as one JSON array of rows that the database unpacks (json_each on
    SQLite, json_array_elements on PostgreSQL), and the values shared by every task are bound
    once. Columns come from the model, so a field added later is inserted too; a value that
    is not a plain string, number, boolean or null (or another database) takes the
    bulk_create path instead.
    """
    if not tasks:
        return
    vendor = connection.vendor
    if vendor not in ("sqlite", "postgresql") or not connection.features.can_return_rows_from_bulk_insert:
        AccountCreationTask.objects.bulk_create(tasks)
        return
    meta = AccountCreationTask._meta
    fields = [model_field for model_field in meta.concrete_fields if not model_field.primary_key]
    now = timezone.now()
    for model_field in fields:
        if getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):
            for task in tasks:
                setattr(task, model_field.attname, now)
    stamp = connection.ops.adapt_datetimefield_value(now) if vendor == "sqlite" else now.isoformat()

    # Columns with one value for every task (request, envelope, defaults, timestamps) are
    # bound once; only the columns that vary per task travel in the JSON rows.
    constants: list[tuple[models.Field, Any]] = []
    varying: list[models.Field] = []
    for model_field in fields:
        first = getattr(tasks[0], model_field.attname)
        if first is now:
            constants.append((model_field, stamp))
            continue
        if not isinstance(first, _PLAIN) or (first is not None and isinstance(model_field, models.JSONField)):
            # A datetime or a JSON value needs the database's own adaptation.
            AccountCreationTask.objects.bulk_create(tasks)
            return
        if all(getattr(task, model_field.attname) == first and type(getattr(task, model_field.attname)) is type(first)
               for task in tasks):
            constants.append((model_field, first))
        else:
            varying.append(model_field)
    rows = [[getattr(task, model_field.attname) for model_field in varying] for task in tasks]
    if any(not isinstance(value, _PLAIN) for row in rows for value in row):
        AccountCreationTask.objects.bulk_create(tasks)
        return

    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = ", ".join(quote(str(model_field.column)) for model_field, _ in constants) + "".join(
        f", {quote(str(model_field.column))}" for model_field in varying
    )
    key_columns = f"{quote('id')}, {quote('employee_number')}, {quote('account_type')}"
    params: list[Any] = [value for _, value in constants]
    if vendor == "sqlite":
        selected = ["%s"] * len(constants) + [f"json_extract(value, '$[{i}]')" for i in range(len(varying))]
        source = "json_each(%s) ORDER BY key"
    else:
        selected = [f"%s::{_pg_type(model_field)}" for model_field, _ in constants] + [
            f"(row ->> {i})::{_pg_type(model_field)}" for i, model_field in enumerate(varying)
        ]
        source = "json_array_elements(%s::json) WITH ORDINALITY AS rows(row, position) ORDER BY position"
    # Only quoted model names and fixed fragments are interpolated; all values are parameters.
    sql = f"INSERT INTO {table} ({columns}) SELECT {', '.join(selected)} FROM {source} RETURNING {key_columns}"  # noqa: S608
    params.append(json.dumps(rows, ensure_ascii=False))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchall()
    # (employee, account type) is unique among a request's new tasks.
    ids = {(number, account_type): pk for pk, number, account_type in returned}
    for task in tasks:
        task.pk = ids[(task.employee_number, task.account_type)]
        task._state.adding = False
        task._state.db = connection.alias


def _pg_type(model_field: models.Field) -> str:
    # An explicit cast to varchar(n) truncates silently; casting to text leaves the length
    # check to the column, which raises as the ORM's insert would.
    db_type = model_field.db_type(connection) or "text"
    return "text" if db_type.startswith("varchar") else db_type
