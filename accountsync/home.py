"""``/``: where a newcomer lands — the status dashboard for staff, the API docs for anyone else."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponsePermanentRedirect, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def home(request: HttpRequest) -> HttpResponseRedirect:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active and user.is_staff:
        return HttpResponseRedirect(reverse("ops:dashboard"))
    return HttpResponseRedirect(reverse("swagger-ui"))


FAVICON = "account_creation/favicon.ico"


@require_GET
def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """``/favicon.ico``, which a browser asks for on a page naming no icon (the API docs, a JSON
    answer): the static file, served by WhiteNoise like every other one."""
    return HttpResponsePermanentRedirect(static(FAVICON))
