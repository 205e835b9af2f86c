"""The dashboard's "needs attention" panel: open problems grouped by cause, most people first.

Each cause comes from a *provider*: a function answering a list of :class:`Problem` with a
bounded number of grouped queries. Another app adds its own with :func:`register_cause`.
A quarantined downstream system (issue #17) is one: how many people wait for it, how to
release it. Each problem links to its fix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Exists, OuterRef
from django.urls import reverse
from django.utils.translation import gettext as _

from account_creation.account_types import registry
from account_creation.models import AccountCreationTask, TaskStatus
from account_creation.ops.causes import COLUMNS as CAUSE_COLUMNS
from account_creation.ops.causes import TASK, cause_expressions, cause_key, sample_texts, top_causes
from departments.models import DepartmentMapping

logger = logging.getLogger(__name__)

# Bounds: the panel shows at most this many problems, each naming at most this many people.
MAX_PROBLEMS = 12
MAX_NAMED_PEOPLE = 5
WAITING = (TaskStatus.PENDING, TaskStatus.FAILED, TaskStatus.BLOCKED)


@dataclass
class Problem:
    cause: str  # a kind: missing_mapping, failed_person, callbacks_failing, quarantine, …
    title: str
    people: int
    fix_url: str
    fix_label: str
    detail: str = ""
    named: list[tuple[str, str]] = field(default_factory=list)  # (label, person page URL)
    key: str = ""  # what tells one problem of its kind from another (a cause key, a system, a code)
    # A fix done in place by staff who may change tasks: a button POSTing these fields here
    # (CSRF-protected, permission-checked); everyone else gets the fix_url link.
    action_url: str = ""
    action_label: str = ""
    action_fields: dict[str, str] = field(default_factory=dict)


CauseProvider = Callable[[], list[Problem]]
_PROVIDERS: list[CauseProvider] = []


def register_cause(provider: CauseProvider) -> CauseProvider:
    """Add a cause to the panel (usable as a decorator); registering twice is harmless."""
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)
    return provider


def cause_providers() -> list[CauseProvider]:
    return list(_PROVIDERS)


def attention_problems(*, limit: int = MAX_PROBLEMS) -> list[Problem]:
    """Every provider's problems, ordered by the people they hold up (most first)."""
    problems: list[Problem] = []
    for provider in _PROVIDERS:
        problems.extend(provider())
    problems.sort(key=lambda p: (-p.people, p.cause, p.title))
    return problems[:limit]


def _person_url(employee_number: str) -> str:
    return f"{reverse('ops:person')}?{urlencode({'employee': employee_number})}"


def _unmapped() -> Any:
    return ~Exists(DepartmentMapping.objects.filter(idata_departmentcode=OuterRef("department_code"), is_active=True))


@register_cause
def missing_mappings() -> list[Problem]:
    """People whose unfinished tasks name a department that has no active mapping (one query)."""
    rows = (
        AccountCreationTask.objects.filter(status__in=WAITING)
        .filter(_unmapped())
        .order_by()
        .values_list("department_code")
        .annotate(people=Count("employee_number", distinct=True))
        .order_by("-people", "department_code")[:MAX_PROBLEMS]
    )
    add = reverse("admin:departments_departmentmapping_add")
    return [
        Problem(
            cause="missing_mapping",
            title=_("No department mapping for department code %(code)s") % {"code": code},
            people=people,
            fix_url=f"{add}?{urlencode({'idata_departmentcode': code})}",
            fix_label=_("Add the mapping"),
            detail=_(
                "Their tasks wait, spending no attempts, and run by themselves once it is mapped; "
                "only tasks that failed before waiting existed need a retry."
            ),
            key=code,
        )
        for code, people in rows
    ]


@register_cause
def failed_people() -> list[Problem]:
    """Failed tasks (other than for a missing mapping) by system and cause, with the people (three
    queries). A cause is the stored message's code (``account_creation.ops.causes``), never its
    English text: the title reads in the reader's language and the link filters on the code."""
    failed = AccountCreationTask.objects.filter(status=TaskStatus.FAILED).exclude(_unmapped())
    causes = top_causes(
        failed, TASK, by=("account_type",), count=Count("employee_number", distinct=True), limit=MAX_PROBLEMS
    )
    if not causes:
        return []
    texts = sample_texts(AccountCreationTask, TASK, [cause.sample_id for cause in causes])
    # The people of those causes, a few per cause (one query, bounded).
    named: dict[tuple[str, str], list[tuple[str, str]]] = {}
    people = (
        failed.annotate(**cause_expressions(TASK))
        .filter(account_type__in={cause.group[0] for cause in causes})
        .order_by("account_type", "employee_number")
        .values_list("account_type", *CAUSE_COLUMNS, "employee_number", "employee_name")
        .distinct()[: MAX_PROBLEMS * MAX_NAMED_PEOPLE * 4]
    )
    for system, code, text, number, name in people:
        names = named.setdefault((system, cause_key(code, text)), [])
        if len(names) < MAX_NAMED_PEOPLE:
            names.append((f"{name} ({number})", _person_url(number)))
    problems = []
    tasks = reverse("admin:account_creation_accountcreationtask_changelist")
    for cause in causes:
        system = cause.group[0]
        who = named.get((system, cause.key), [])
        one = cause.count == 1 and who
        filters = {"status": TaskStatus.FAILED, "account_type": system, "cause": cause.key}
        label = str(registry.get(system).label) if system in registry.values() else system
        problems.append(Problem(
            cause="failed_person",
            title=_("%(system)s failed: %(error)s") % {
                "system": label, "error": texts.get(cause.sample_id) or _("(no message)")
            },
            people=cause.count,
            fix_url=who[0][1] if one else f"{tasks}?{urlencode(filters)}",
            fix_label=_("Open the person page") if one else _("Open the failed tasks"),
            detail=_("Fix the cause, then Retry (on the person page or the request grid)."),
            named=who,
            key=cause.key,
        ))
    return problems


@register_cause
def callbacks_failing() -> list[Problem]:
    """Completion callbacks that gave up (one query)."""
    from callbacks.models import CallbackEvent, DeliveryStatus

    failed = CallbackEvent.objects.filter(status=DeliveryStatus.FAILED).count()
    if not failed:
        return []
    url = reverse("admin:callbacks_callbackevent_changelist")
    return [Problem(
        cause="callbacks_failing",
        title=_("%(count)s completion callback(s) could not be delivered") % {"count": failed},
        people=failed,
        fix_url=f"{url}?{urlencode({'status__exact': DeliveryStatus.FAILED})}",
        fix_label=_("Open the failed callback events"),
        detail=_("The OA system did not hear of these results: fix its receiver, then redeliver them."),
    )]


@register_cause
def quarantined_systems() -> list[Problem]:
    """Quarantined downstream systems (issue #17) and the people waiting for them."""
    from account_creation.api.systems import system_views
    from api_clients.access import Access

    problems = []
    for view in system_views(caller=Access.everything("dashboard")):
        if view.get("state") != "quarantined":
            continue
        name = str(view["name"])
        label = registry.get(name).label if name in registry else name
        people = (
            AccountCreationTask.objects.filter(status=TaskStatus.PENDING, account_type=name)
            .values("employee_number").distinct().count()
        )
        problems.append(Problem(
            cause="quarantine",
            title=_("%(system)s is quarantined: %(reason)s") % {"system": name, "reason": view.get("reason", "")},
            people=people,
            fix_url=reverse("swagger-ui"),
            fix_label=_("Release it: POST /account-creation/systems/%(system)s/release/") % {"system": name},
            detail=str(view.get("action", "")),
            key=name,
            action_url=reverse("ops:release"),
            action_label=_("Release %(system)s now") % {"system": label},
            action_fields={"system": name},
        ))
    return problems
