"""Every message the callbacks write, by code (rendered in the caller's or LANGUAGE_CODE's language)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from accountsync.messages import Message, register

CALLBACKS = {
    "callback.url_invalid": _(
        "'%(url)s' is not an http(s) URL; give the full address, e.g. https://oa.example.com/hooks/accountsync."
    ),
    "callback.url_not_https": _(
        "Callback URLs must use https (events carry people's names and accounts): '%(url)s'. Use https, or set "
        "CALLBACK_ALLOW_HTTP=true on a closed test network."
    ),
    "callback.client_not_found": _(
        "No API client named '%(client)s'; create it first with: python manage.py create_api_token %(client)s "
        "--origin-system …"
    ),
    "callback.url_missing": _("%(client)s has no callback yet; give --url."),
    "callback.timeout": _("No answer within %(seconds)s s (CALLBACK_TIMEOUT_SECONDS): check that the receiver is up."),
    "callback.connect_failed": _("Could not connect to the receiver (%(error)s): check its URL and that it is up."),
    "callback.request_failed": _("The request to the receiver failed (%(error)s)."),
    "callback.http_status": _("The receiver answered HTTP %(status)s; it must answer 2xx to acknowledge."),
    "callback.gave_up": _(
        "%(reason)s Gave up after %(attempts)s attempts: fix the receiver, then redeliver the event from the "
        "admin (Completion callbacks > Callback events > Redeliver)."
    ),
    "callback.lost": _("No answer recorded: the runner stopped mid-delivery (lease expired); delivered again."),
    "callback.configured": _("Callback of %(client)s: %(url)s (%(state)s)."),
    "callback.enabled": _("enabled"),
    "callback.disabled": _("disabled"),
    "callback.rotated": _(
        "New signing secret below; the previous one also signs every event until %(until)s. Verify with either "
        "meanwhile."
    ),
    "callback.secret_follows": _("Signing secret (give it to the receiver; verify webhook-signature with it):"),
    "callback.run_summary": _("callbacks: %(delivered)s delivered, %(retried)s to retry, %(failed)s failed"),
    "callback.redelivered": _("%(count)s event(s) will be delivered at the next engine run."),
}

register(CALLBACKS)


def message(code: str, /, **params: Any) -> Message:
    return Message.of(code, **params)
