"""GET /metrics and the status dashboard pages (staff only, inside the admin's look)."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from rest_framework.exceptions import AuthenticationFailed

from account_creation.account_types import registry
from account_creation.messages import message
from account_creation.models import TaskStatus
from account_creation.ops import selectors
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
                needed = "change" if permission == CHANGE_TASKS else "view"
                return HttpResponseForbidden(
                    f"You lack the permission this page needs ({needed} account creation tasks); "
                    "ask an administrator to grant it.\n",
                    content_type="text/plain; charset=utf-8",
                )
            return view(request, *args, **kwargs)

        return never_cache(wrapped)

    return decorate


def _context(request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    return {
        **admin.site.each_context(request),
        "title": title,
        "status_colours": {str(k): v for k, v in STATUS_COLOURS.items()},
        "statuses": TaskStatus.values,
        "systems": registry.values(),
        "system_labels": registry.labels(),
        "can_retry": request.user.has_perm(CHANGE_TASKS),
        **extra,
    }


@staff_required()
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    status = selectors.status_chart()
    charts = {
        "status": status,
        "day": selectors.activity_chart(days=1),
        "week": selectors.activity_chart(days=7),
        "colours": {str(k): v for k, v in STATUS_COLOURS.items()},
    }
    return render(
        request,
        "admin/account_creation/ops/dashboard.html",
        _context(
            request,
            "AccountSync status",
            charts=charts,
            totals=status["totals"],
            status_links=status["links"],
            completion_rate=status["completion_rate"],
            failure_reasons=selectors.failure_reasons(),
            attempt_reasons=selectors.attempt_error_reasons(),
            requests=selectors.recent_requests(),
            runs=selectors.recent_runs(),
            health=_run_health(),
        ),
    )


def _run_health() -> dict[str, Any]:
    from accountsync.health import last_run_status

    return last_run_status()


@staff_required()
@require_GET
def request_view(request: HttpRequest) -> HttpResponse:
    business_key = request.GET.get("business_key", "").strip()
    grid = selectors.request_grid(business_key=business_key) if business_key else None
    return render(
        request,
        "admin/account_creation/ops/request.html",
        _context(
            request, f"Request {business_key}" if business_key else "Request", business_key=business_key, grid=grid
        ),
    )


@staff_required()
@require_GET
def person_view(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    employee = request.GET.get("employee", "").strip()
    people = selectors.person_search(query=query) if query and not employee else []
    if not employee and len(people) == 1:
        employee = people[0]["employee_number"]
    person = selectors.person_detail(employee_number=employee) if employee else None
    title = f"{person.employee_name} ({person.employee_number})" if person else "Find a person"
    return render(
        request,
        "admin/account_creation/ops/person.html",
        _context(
            request, title, query=query or employee, people=people, person=person, searched=bool(query or employee)
        ),
    )


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
            messages.error(request, f"Not a task id: {value[:40]!r}.")
    if task_ids:
        outcome = task_retry_many(task_ids=task_ids, user_id=request.user.pk, via=VIA_DASHBOARD)
        logger.info(
            "dashboard retry %s",
            kv(user=request.user.pk, retried=len(outcome.retried), refused=len(outcome.refused)),
        )
        if outcome.retried:
            ids = ", ".join(f"#{pk}" for pk in outcome.retried)
            messages.success(request, f"{len(outcome.retried)} task(s) put back to pending: {ids}.")
        for task_id, reason in outcome.refused.items():
            messages.warning(request, f"Task #{task_id} not retried: {reason}")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("ops:dashboard")
    return HttpResponseRedirect(target)
