"""GET /metrics and the status dashboard pages (staff only, inside the admin's look)."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import asdict
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from rest_framework.exceptions import AuthenticationFailed

from account_creation.account_types import registry
from account_creation.messages import message
from account_creation.models import AttemptOutcome, TaskStatus
from account_creation.ops import export, selectors
from account_creation.ops.attention import attention_problems
from account_creation.ops.forms import GridFilterForm
from account_creation.ops.metrics import metrics_registry
from accountsync.logging import kv
from api_clients.access import Access
from api_clients.authentication import client_for_key
from api_clients.models import Scope

logger = logging.getLogger(__name__)

# Django permissions of the operator surfaces: the dashboard, request grid and person page
# need to view tasks; retrying from them needs to change tasks.
VIEW_TASKS = "account_creation.view_accountcreationtask"
CHANGE_TASKS = "account_creation.change_accountcreationtask"

STATUS_COLOURS = {
    TaskStatus.PENDING: "#9e9e9e",
    TaskStatus.PROCESSING: "#1e88e5",
    TaskStatus.COMPLETED: "#43a047",
    TaskStatus.FAILED: "#e53935",
    TaskStatus.BLOCKED: "#fb8c00",
    TaskStatus.CANCELLED: "#6d4c41",
}


# --- /metrics -----------------------------------------------------------------------------


def _metrics_caller(request: HttpRequest) -> str | None:
    """Who may scrape, or None: an API token, the METRICS_TOKEN bearer, an allowed address,
    or a staff member's admin session."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if scheme.lower() == "bearer" and credential and settings.METRICS_TOKEN:
        if hmac.compare_digest(credential.encode(), settings.METRICS_TOKEN.encode()):
            return "metrics-token"
    if scheme.lower() == "token" and credential:
        # Only a client holding the metrics scope (or all): metrics count every origin system.
        try:
            client = client_for_key(credential)
        except AuthenticationFailed:
            return None
        return f"api-client:{client.name}" if Access.of_client(client).allows(Scope.METRICS) else None
    remote = request.META.get("REMOTE_ADDR", "")
    if remote and settings.METRICS_ALLOWED_NETWORKS:
        try:
            address = ipaddress.ip_address(remote)
        except ValueError:
            address = None
        if address is not None and any(address in network for network in settings.METRICS_ALLOWED_NETWORKS):
            return f"ip:{remote}"
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff and user.has_perm(VIEW_TASKS):
        return f"staff:{user.pk}"
    return None


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if _metrics_caller(request) is None:
        response = HttpResponse(
            "Authentication required: Authorization: Bearer <METRICS_TOKEN>, or Token <key> of an API "
            "client with the metrics scope (create_api_token prometheus --scope metrics), or scrape "
            "from an address in METRICS_ALLOWED_IPS.\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)


# --- the dashboard ------------------------------------------------------------------------

View = Callable[..., HttpResponse]


def staff_required(permission: str = VIEW_TASKS) -> Callable[[View], View]:
    """Anonymous -> the admin login page; not staff, or staff without ``permission`` -> 403."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path(), reverse("admin:login"))
            if not (user.is_active and user.is_staff):
                raise PermissionDenied("The status dashboard is for staff members.")
            if not user.has_perm(permission):
                if permission == CHANGE_TASKS:
                    text = _(
                        "You lack the permission this page needs (change account creation tasks); ask an "
                        "administrator to grant it."
                    )
                else:
                    text = _(
                        "You lack the permission this page needs (view account creation tasks); ask an "
                        "administrator to grant it."
                    )
                return HttpResponseForbidden(text + "\n", content_type="text/plain; charset=utf-8")
            return view(request, *args, **kwargs)

        return never_cache(wrapped)

    return decorate


def _page_url(request: HttpRequest) -> str:
    """The page's own address, also while live/ renders its parts again: where a button returns."""
    match = request.resolver_match
    if match is not None and match.url_name == "live":
        params = request.GET.copy()
        view = params.pop("view", [""])[0]
        if view in LIVE_PAGES:
            return f"{reverse(f'ops:{view}')}?{params.urlencode()}" if params else reverse(f"ops:{view}")
    return request.get_full_path()


def _context(request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    return {
        "page_url": _page_url(request),
        **admin.site.each_context(request),
        "title": title,
        "status_colours": {str(k): v for k, v in STATUS_COLOURS.items()},
        "statuses": TaskStatus.values,
        "systems": registry.values(),
        "system_labels": registry.labels(),
        "can_retry": request.user.has_perm(CHANGE_TASKS),
        "status_choices": TaskStatus.choices,
        **extra,
    }


# Each page is a context builder and the parts of its template that refresh themselves: the
# page renders them all; GET live/ renders the same parts again as JSON (live.js swaps them in).
DASHBOARD_PARTS = {
    "attention": "admin/account_creation/ops/_attention.html",
    "cards": "admin/account_creation/ops/_cards.html",
    "tables": "admin/account_creation/ops/_dashboard_tables.html",
}
REQUEST_PARTS = {"grid": "admin/account_creation/ops/_grid.html"}
PERSON_PARTS = {"person": "admin/account_creation/ops/_person.html"}


def _dashboard_context(request: HttpRequest) -> dict[str, Any]:
    status = selectors.status_chart()
    charts = {
        "status": status,
        "day": selectors.activity_chart(days=1),
        "week": selectors.activity_chart(days=7),
        "colours": {str(k): v for k, v in STATUS_COLOURS.items()},
        "labels": {str(k): str(v) for k, v in TaskStatus.choices} | {
            str(k): str(v) for k, v in AttemptOutcome.choices
        },
    }
    all_runs = request.GET.get("runs") == "all"
    return _context(
        request,
        _("AccountSync status"),
        charts=charts,
        totals=status["totals"],
        status_links=status["links"],
        completion_rate=status["completion_rate"],
        problems=attention_problems(),
        failure_reasons=selectors.failure_reasons(),
        attempt_reasons=selectors.attempt_error_reasons(),
        requests=selectors.recent_requests(),
        runs=selectors.recent_runs(include_idle=all_runs),
        all_runs=all_runs,
        health=_run_health(),
        quarantined=_quarantined_systems(),
        waiting=_waiting_for_configuration(),
        live_view="dashboard",
    )


@staff_required()
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "admin/account_creation/ops/dashboard.html", _dashboard_context(request))


def _quarantined_systems() -> list[dict[str, Any]]:
    from account_creation.api.systems import system_views

    return [view for view in system_views(caller=Access.everything()) if view["state"] == "quarantined"]


def _waiting_for_configuration() -> list[dict[str, Any]]:
    """Pending tasks waiting for a mapping, grouped by what they wait for (text and count)."""
    from collections import Counter

    from account_creation.models import AccountCreationTask
    from account_creation.services.waiting import waiting_for_text

    counts: Counter[str] = Counter()
    for value in AccountCreationTask.objects.filter(
        status=TaskStatus.PENDING, waiting_for__isnull=False
    ).values_list("waiting_for", flat=True):
        counts[waiting_for_text(value)] += 1
    return [{"text": text, "count": count} for text, count in counts.most_common(20)]


def _run_health() -> dict[str, Any]:
    from accountsync.health import last_run_status

    return last_run_status()


def _grid_filters(request: HttpRequest) -> tuple[GridFilterForm, selectors.GridFilters]:
    form = GridFilterForm({name: request.GET.get(name, "") for name in ("status", "system", "department", "q")})
    return form, form.filters()


def _request_context(request: HttpRequest) -> dict[str, Any]:
    business_key = request.GET.get("business_key", "").strip()
    form, filters = _grid_filters(request)
    grid = selectors.request_grid(business_key=business_key, filters=filters) if business_key else None
    title = _("Request %(business_key)s") % {"business_key": business_key} if business_key else _("Request")
    # What the CSV export and the admin's task list narrow to: the grid's own filters.
    chosen = {k: v for k, v in asdict(filters).items() if v}
    admin_names = {"system": "account_type", "department": "department_code"}
    return _context(
        request, title, business_key=business_key, grid=grid, live_view="request", filter_form=form,
        page_query=urlencode({"business_key": business_key, **chosen}),
        admin_query=urlencode({"business_key": business_key, **{admin_names.get(k, k): v for k, v in chosen.items()}}),
    )


@staff_required()
@require_GET
def request_view(request: HttpRequest) -> HttpResponse:
    return render(request, "admin/account_creation/ops/request.html", _request_context(request))


def _person_context(request: HttpRequest) -> dict[str, Any]:
    query = request.GET.get("q", "").strip()
    employee = request.GET.get("employee", "").strip()
    people = selectors.person_search(query=query) if query and not employee else []
    if not employee and len(people) == 1:
        employee = people[0]["employee_number"]
    person = selectors.person_detail(employee_number=employee) if employee else None
    title = f"{person.employee_name} ({person.employee_number})" if person else _("Find a person")
    return _context(
        request, title, query=query or employee, people=people, person=person, searched=bool(query or employee),
        live_view="person",
    )


@staff_required()
@require_GET
def person_view(request: HttpRequest) -> HttpResponse:
    return render(request, "admin/account_creation/ops/person.html", _person_context(request))


LIVE_PAGES: dict[str, tuple[Callable[[HttpRequest], dict[str, Any]], dict[str, str]]] = {
    "dashboard": (_dashboard_context, DASHBOARD_PARTS),
    "request": (_request_context, REQUEST_PARTS),
    "person": (_person_context, PERSON_PARTS),
}


@staff_required()
@require_GET
def live_view(request: HttpRequest) -> JsonResponse:
    """The self-refreshing parts of one page, rendered again: ``?view=dashboard|request|person``
    and that page's own parameters. Polled by live.js (same origin, no inline script)."""
    page = LIVE_PAGES.get(request.GET.get("view", ""))
    if page is None:
        return JsonResponse(
            {"detail": _("view must be one of: %(views)s") % {"views": ", ".join(LIVE_PAGES)}}, status=400
        )
    build, parts = page
    context = build(request)
    body: dict[str, Any] = {
        "parts": {name: render_to_string(template, context, request=request) for name, template in parts.items()},
        "renderedAt": timezone.localtime().isoformat(),
    }
    if "charts" in context:
        body["charts"] = context["charts"]
    return JsonResponse(body)


@staff_required()
@require_GET
def request_export_view(request: HttpRequest) -> HttpResponse:
    """The request grid as CSV (UTF-8 with BOM): one row per person and system, as shown (with
    the grid's filters)."""
    business_key = request.GET.get("business_key", "").strip()
    _form, filters = _grid_filters(request)
    grid = selectors.request_grid(business_key=business_key, filters=filters)
    return export.grid_csv(grid)


@staff_required(CHANGE_TASKS)
@require_POST
def run_now_view(request: HttpRequest) -> HttpResponse:
    """Run one person's due tasks now (provision on demand), then show the person page."""
    from account_creation.services.on_demand import person_run_now

    employee = request.POST.get("employee", "").strip()[:64]
    target = f"{reverse('ops:person')}?{urlencode({'employee': employee})}"
    if not employee:
        messages.error(request, str(message("ondemand.no_employee")))
        return HttpResponseRedirect(reverse("ops:person"))
    report = person_run_now(employee_number=employee)
    logger.info(
        "dashboard run now %s", kv(user=request.user.pk, employee_number=employee, attempts=len(report.attempts))
    )
    if not report.tasks:
        messages.error(request, str(message("ondemand.no_tasks", employee=employee)))
    elif not report.attempts:
        messages.warning(request, str(message("ondemand.nothing_ran", employee=employee)))
    else:
        messages.success(request, str(message(
            "ondemand.ran", attempts=len(report.attempts), employee=employee, seconds=f"{report.seconds:.1f}"
        )))
    for line in report.lines():
        messages.info(request, line)
    return HttpResponseRedirect(target)


@staff_required(CHANGE_TASKS)
@require_POST
def retry_view(request: HttpRequest) -> HttpResponse:
    """Retry the posted task ids (task_retry_many), then go back where the button was."""
    from account_creation.services.audit import VIA_DASHBOARD
    from account_creation.services.retry import task_retry_many

    task_ids = []
    for value in request.POST.getlist("task_id"):
        try:
            task_ids.append(int(value))
        except ValueError:
            messages.error(request, _("Not a task id: %(value)s.") % {"value": repr(value[:40])})
    if task_ids:
        outcome = task_retry_many(task_ids=task_ids, user_id=request.user.pk, via=VIA_DASHBOARD)
        logger.info(
            "dashboard retry %s",
            kv(user=request.user.pk, retried=len(outcome.retried), refused=len(outcome.refused)),
        )
        if outcome.retried:
            ids = ", ".join(f"#{pk}" for pk in outcome.retried)
            messages.success(
                request,
                _("%(count)s task(s) put back to pending: %(ids)s.") % {"count": len(outcome.retried), "ids": ids},
            )
        for task_id, reason in outcome.refused.items():
            messages.warning(request, _("Task #%(task)s not retried: %(reason)s") % {"task": task_id, "reason": reason})
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("ops:dashboard")
    return HttpResponseRedirect(target)


@staff_required(CHANGE_TASKS)
@require_POST
def release_view(request: HttpRequest) -> HttpResponse:
    """End a downstream system's quarantine now (the service behind POST
    /account-creation/systems/{name}/release/), recorded in the system's admin History; then
    back to the dashboard with a message."""
    from account_creation.models import DownstreamSystem
    from account_creation.services.audit import VIA_DASHBOARD, system_released_record
    from account_creation.services.health import system_release, systems_ensure

    name = request.POST.get("system", "").strip()[:16]
    if name not in registry:
        messages.error(request, _("No downstream system is called %(name)s.") % {"name": repr(name)})
        return HttpResponseRedirect(reverse("ops:dashboard"))
    systems_ensure()
    released = system_release(name=name, by=f"dashboard user {request.user.pk}")
    label = registry.get(name).label
    logger.info("dashboard release %s", kv(user=request.user.pk, system=name, released=released))
    if released:
        system_released_record(
            user_id=request.user.pk, system=DownstreamSystem.objects.get(name=name), via=VIA_DASHBOARD
        )
        messages.success(
            request, _("%(system)s is released from quarantine: its tasks run at the next run.") % {"system": label}
        )
    else:
        messages.info(request, _("%(system)s was not quarantined; nothing to release.") % {"system": label})
    return HttpResponseRedirect(reverse("ops:dashboard"))
