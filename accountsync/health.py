"""GET /healthz: database reachability, downstream configuration, last engine run."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accountsync.messages import format_datetime


def _may_see_details(request: HttpRequest) -> bool:
    """A token of an API client with the read scope (or all) sees the details."""
    from rest_framework.exceptions import AuthenticationFailed

    from api_clients.access import Access
    from api_clients.authentication import client_for_key, key_from_header

    try:
        key = key_from_header(request.META.get("HTTP_AUTHORIZATION", "").encode("latin-1"))
        return key is not None and Access.of_client(client_for_key(key)).allows("read")
    except (AuthenticationFailed, UnicodeError, DatabaseError):
        return False


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Anonymous callers get ``status`` and ``database`` only; the details need ``read``."""
    body, status_code = _health()
    if not _may_see_details(request):
        # The status still counts every warning; only the details are withheld.
        body = {"status": body["status"], "database": body["database"]}
    return JsonResponse(body, status=status_code)


def _health() -> tuple[dict[str, Any], int]:
    """The whole health report and its HTTP status."""
    body: dict[str, Any] = {"status": "ok", "database": "ok", "warnings": []}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        body.update(status="error", database="unreachable")
        body["warnings"].append(
            _("The database is unreachable: the API cannot accept requests and runners cannot work.")
        )
        return body, 503

    from account_creation.connectors import missing_configuration

    body["systems"] = {
        system: ({"configured": False, "missing": missing} if missing else {"configured": True})
        for system, missing in missing_configuration().items()
    }
    for system, info in body["systems"].items():
        if not info["configured"]:
            body["warnings"].append(
                _("%(system)s is not configured (set %(missing)s); its tasks wait.")
                % {"system": system, "missing": ", ".join(info["missing"])}
            )
    from account_creation.selectors import system_reason, systems_list

    for row in systems_list():
        info = body["systems"].setdefault(row.name, {"configured": True})
        info["state"] = row.state
        if row.state == "quarantined":
            reason = system_reason(row)
            info.update(reason=reason, since=row.since, next_probe_at=row.next_probe_at)
            body["warnings"].append(
                _(
                    "%(system)s is quarantined since %(since)s (%(reason)s); its tasks wait without spending "
                    "attempts. Fix the cause, then wait for the next probe or POST "
                    "/account-creation/systems/%(system)s/release/."
                )
                % {
                    "system": row.name,
                    "since": format_datetime(row.since) if row.since else "-",
                    "reason": reason or row.reason_code,
                }
            )
    body["account_creation_enabled"] = settings.ACCOUNT_CREATION_ENABLED
    if not settings.ACCOUNT_CREATION_ENABLED:
        body["warnings"].append(_("ACCOUNT_CREATION_ENABLED is false: no task is processed."))
    from api_clients.models import ApiClient

    unreviewed = list(ApiClient.objects.filter(upgraded_from_token=True).values_list("name", flat=True))
    if unreviewed:
        body["warnings"].append(
            _(
                "API client(s) %(clients)s kept their token from before scopes existed and may do everything "
                "for every origin system; narrow each with python manage.py create_api_token NAME "
                "--origin-system … --scope … (the token printed then replaces the old one)."
            )
            % {"clients": ", ".join(unreviewed)}
        )
    run = last_run_status()
    body["last_run"] = run["last_run"]
    if run["warning"]:
        body["warnings"].append(run["warning"])
    if body["warnings"]:
        body["status"] = "degraded"
    return body, 200


def last_run_status() -> dict[str, Any]:
    """The last finished engine run and, when it is older than twice the run interval, a warning.

    No run at all (a fresh installation) is not a warning: there may be nothing to do yet.
    """
    from account_creation.messages import stop_reason_code, stop_reason_text
    from account_creation.models import EngineRun

    interval = settings.ACCOUNT_CREATION_RUN_INTERVAL_SECONDS
    last = EngineRun.objects.filter(finished_at__isnull=False).order_by("-finished_at").first()
    if last is None or last.finished_at is None:
        return {"last_run": None, "warning": "", "interval_seconds": interval}
    age = (timezone.now() - last.finished_at).total_seconds()
    warning = ""
    if age > 2 * interval:
        warning = _(
            "The last engine run finished %(age)s s ago (at %(finished_at)s), more than twice the interval "
            "(%(interval)s s): check that cron (or the --loop service) runs process_account_creation_tasks."
        ) % {"age": round(age), "finished_at": format_datetime(last.finished_at), "interval": round(interval)}
    return {
        "last_run": {
            "finished_at": timezone.localtime(last.finished_at),
            "seconds_ago": round(age, 1),
            "runner_id": last.runner_id,
            "host": last.host,
            "completed": last.completed,
            "failed": last.failed,
            # The code for machines (drained, max_tasks, …; an older run's English text as it is),
            # and the reason in the caller's language.
            "stop_reason": stop_reason_code(last.stop_reason),
            "stop_reason_text": stop_reason_text(last.stop_reason),
        },
        "warning": warning,
        "interval_seconds": interval,
    }
