"""GET /healthz: database reachability, downstream configuration, last engine run."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    body: dict[str, Any] = {"status": "ok", "database": "ok", "warnings": []}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        body.update(status="error", database="unreachable")
        body["warnings"].append(
            "The database is unreachable: the API cannot accept requests and runners cannot work."
        )
        return JsonResponse(body, status=503)

    from account_creation.connectors import missing_configuration
    from account_creation.models import EngineRun

    body["systems"] = {
        system: ({"configured": False, "missing": missing} if missing else {"configured": True})
        for system, missing in missing_configuration().items()
    }
    for system, info in body["systems"].items():
        if not info["configured"]:
            body["warnings"].append(
                f"{system} is not configured (set {', '.join(info['missing'])}); its tasks wait."
            )
    body["account_creation_enabled"] = settings.ACCOUNT_CREATION_ENABLED
    if not settings.ACCOUNT_CREATION_ENABLED:
        body["warnings"].append("ACCOUNT_CREATION_ENABLED is false: no task is processed.")
    last = EngineRun.objects.filter(finished_at__isnull=False).order_by("-finished_at").first()
    if last is None:
        body["last_run"] = None
    else:
        age = (timezone.now() - last.finished_at).total_seconds()  # type: ignore[operator]
        body["last_run"] = {
            "finished_at": last.finished_at,
            "seconds_ago": round(age, 1),
            "runner_id": last.runner_id,
            "completed": last.completed,
            "failed": last.failed,
        }
        if age > 2 * settings.ACCOUNT_CREATION_RUN_INTERVAL_SECONDS:
            body["warnings"].append(
                f"The last engine run finished {round(age)} s ago, more than twice the interval "
                f"({round(settings.ACCOUNT_CREATION_RUN_INTERVAL_SECONDS)} s): is cron running?"
            )
    if body["warnings"]:
        body["status"] = "degraded"
    return JsonResponse(body)
