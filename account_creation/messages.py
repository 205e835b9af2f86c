"""Every message account creation writes, by code: one place to review them and to translate.

Templates are English msgids with ``%(name)s`` parameters; ``locale/zh_Hans`` holds their
Chinese. Each failure says what happened and what to do next. Codes are stored with a task's
``last_error``, an attempt's ``error_message`` and a request's errors and warnings, so the same
row renders in the reader's language (``accountsync/messages.py``). ``docs/operations.md``'s
troubleshooting table lists the failure reasons with both texts.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accountsync.messages import CATALOG, Message, register

INTAKE = {
    "intake.employee_type_unknown": _(
        "Unknown employeeType '%(value)s'. Known types: %(known)s. An operator adds a type in the admin "
        "under Departments > Employee type mappings (/admin/departments/employeetypemapping/add/)."
    ),
    "intake.duplicate_person": _(
        "Employee %(employee)s appears more than once in this request (first at index %(first)s); "
        "send each person once."
    ),
    "intake.missing_dependency": _(
        "The %(system)s account needs the person's %(dependency)s account, but employee %(employee)s has "
        "no %(dependency)s task: add %(dependency)s to systemList."
    ),
    "intake.task_reused": _(
        "Employee %(employee)s already has a %(system)s task #%(task)s (%(status)s); it was reused, not "
        "duplicated."
    ),
    "intake.department_unmapped": _(
        "Department '%(department)s' has no mapping yet: the tasks wait, spending no attempts, until an "
        "operator adds it (python manage.py load_department_mappings, or the admin under Departments > "
        "Department mappings); then they run by themselves."
    ),
    "intake.user_not_object": _("Each entry of userList must be a JSON object."),
    "intake.country_unknown": _(
        "Unknown country '%(value)s'. Write the ISO 3166 code (cn or CHN, any case) or the country's name "
        "in English or Chinese (China, 中国), e.g. cn for China, hk for Hong Kong, sg for Singapore."
    ),
    "intake.country_unsupported": _(
        "'%(value)s' is %(name)s (%(code)s), which AccountSync does not provision yet. Supported: "
        "%(supported)s."
    ),
    "intake.body_content_type": _("Send JSON with Content-Type: application/json, not '%(content_type)s'."),
    "intake.body_too_deep": _("The JSON body is nested too deeply."),
    "intake.body_too_large": _(
        "The body is larger than %(limit)s bytes; split the batch into several requests."
    ),
    "intake.body_not_object": _("The body must be a JSON object."),
    "intake.business_key_reused": _(
        "businessKey '%(business_key)s' from '%(origin_system)s' was already accepted at %(accepted_at)s with a "
        "different body. A replay must repeat the same body; a new request needs a new businessKey."
    ),
}

# Task statuses as words inside other messages.
STATUSES = {
    "status.pending": _("pending"),
    "status.processing": _("processing"),
    "status.completed": _("completed"),
    "status.failed": _("failed"),
    "status.blocked": _("blocked"),
    "status.cancelled": _("cancelled"),
}

# What the engine says about a task's outcome; the reason is a connector's or preparation's
# message. Only these say whether the task is retried, so no reason contradicts its outcome.
ENGINE = {
    "task.retry_scheduled": _(
        "%(reason)s Retried automatically at %(next_attempt_at)s (attempt %(attempt)s of %(max_attempts)s)."
    ),
    "task.gave_up": _(
        "%(reason)s Gave up after %(attempts)s attempts: fix the cause, then retry the task (Retry on the "
        "dashboard, or the API's retry action)."
    ),
    "task.permanent": _(
        "%(reason)s Not retried automatically: fix the cause, then retry the task (Retry on the dashboard, "
        "or the API's retry action)."
    ),
    "task.blocked": _(
        "Blocked: this account needs the person's %(system)s account, and %(system)s task #%(task)s "
        "failed: %(reason)s Retrying that task retries this one with it."
    ),
    "task.lease_expired": _(
        "The previous runner stopped before finishing (killed, crashed or too slow); the task is back in "
        "the queue and runs at the next run."
    ),
    "task.lease_expired_last_attempt": _(
        "The runner stopped during the last allowed attempt (killed, crashed or too slow)."
    ),
    "attempt.lost": _(
        "The runner stopped before finishing (killed, crashed or too slow); its lease expired and the task "
        "went back to the queue."
    ),
    "attempt.dropped_success": _(
        "The account was created, but this runner's lease had expired; the result was dropped and the next "
        "attempt adopts the existing account."
    ),
    "attempt.dropped_failure": _("The lease was lost before the outcome was written; dropped: %(reason)s"),
    "task.unexpected_error": _("Unexpected error in AccountSync (%(error)s); the logs have the details."),
}

# Preparing a person's data before any downstream call (names, mailbox, mappings, retention).
PREPARE = {
    "prepare.mailbox_name_impossible": _(
        "Cannot build a mailbox name from employeeName '%(name)s': it has no Chinese characters or Latin "
        "letters to convert. Correct employeeName in the OA system and send a new request."
    ),
    "prepare.employee_number_not_logon": _(
        "The employee number '%(employee)s' cannot be part of an AD logon name (empty, or it contains a "
        "space or one of \" / \\ [ ] : ; | = , + * ? < > @). Correct it in the OA system."
    ),
    "prepare.username_impossible": _(
        "Cannot build the IDaaS userName from employeeName '%(name)s': it has no Chinese characters or "
        "Latin letters to take the first letter from. Correct employeeName in the OA system."
    ),
    "prepare.username_too_long": _(
        "The IDaaS userName '%(username)s' is longer than AD's %(limit)s characters; the employee number "
        "must be at most %(max_number)s characters. Correct it in the OA system."
    ),
    "prepare.mailbox_contended": _(
        "Could not allocate a mailbox address for %(employee)s after %(tries)s tries (other runners kept "
        "taking the candidates for %(local_part)s@%(domain)s)."
    ),
    "prepare.personal_data_purged": _(
        "The personal data of task #%(task)s was removed by purge_personal_data (retention); it cannot be "
        "provisioned again. Send a new request from the OA system for this person."
    ),
    "prepare.mailbox_missing": _("No mailbox address is allocated for %(employee)s yet."),
    "prepare.department_unmapped": _(
        "No department mapping for departmentCode '%(department)s'. Add it: python manage.py "
        "load_department_mappings, or the admin under Departments > Department mappings."
    ),
    "prepare.employee_type_unmapped": _(
        "No employee type mapping for employeeType '%(employee_type)s'. Add it in the admin under "
        "Departments > Employee type mappings."
    ),
    "prepare.reserved_username": _(
        "The IDaaS userName '%(name)s' (first letter of the name + employee number) is a reserved account "
        "name (%(setting)s); it is never given to a person. Use the person's real employee number; if an "
        "account with this name is really needed, ask IT to create it by hand."
    ),
    "prepare.reserved_mailbox": _(
        "The mailbox name '%(name)s' made from employeeName is a reserved address (%(setting)s); it is never "
        "given to a person. Give the person's real name; if such a mailbox is really needed, ask IT to "
        "create it by hand."
    ),
    "prepare.ou_missing": _(
        "No AD OU for departmentCode '%(department)s': add the OU to its department mapping (admin, "
        "Departments > Department mappings)."
    ),
    "prepare.welink_department_missing": _(
        "No WeLink department code for departmentCode '%(department)s': add it to the department mapping "
        "(its IDaaS department code is the corpDeptCode WeLink knows)."
    ),
}

# Downstream systems' answers. %(system)s is IDaaS, WeLink or Exchange; %(detail)s quotes the
# system's own words, which are not ours to translate.
CONNECTORS = {
    "http.timeout_sent": _(
        "%(system)s %(action)s: no answer within %(seconds)s s (the request may have been applied; the "
        "next attempt looks the account up first)."
    ),
    "http.timeout_not_sent": _("%(system)s %(action)s: could not connect within %(seconds)s s (nothing was sent)."),
    "http.unreachable": _(
        "%(system)s %(action)s: cannot reach %(system)s (%(detail)s). Check the network and the %(system)s "
        "base URL if it persists."
    ),
    "http.unreachable_config": _(
        "%(system)s %(action)s: cannot reach %(system)s (%(detail)s). Check the %(system)s base URL, DNS and "
        "TLS certificate: the system is quarantined until a probe gets through."
    ),
    "http.rate_limited": _("%(system)s %(action)s: rate limited (HTTP 429)."),
    "http.server_error": _("%(system)s %(action)s: server error HTTP %(status)s%(detail)s."),
    "http.malformed": _(
        "%(system)s %(action)s: HTTP %(status)s with a body that is not a JSON object (starts '%(excerpt)s'). "
        "If it persists, check that the %(system)s base URL points at the API and not at a proxy or login "
        "page."
    ),
    "token.remembered": _(
        "%(reason)s (remembered for %(seconds)s s so the client is not locked; not tried against the server "
        "again meanwhile)."
    ),
    "idaas.token_refused": _(
        "IDaaS refused the enterprise token (HTTP %(status)s, code %(code)s%(detail)s). Check IDAAS_ACCOUNT "
        "and IDAAS_SECRET."
    ),
    "idaas.token_missing": _("IDaaS answered without a token (HTTP %(status)s, code %(code)s)."),
    "idaas.token_rejected_again": _(
        "IDaaS create: HTTP 401 even with a freshly fetched token. If it persists, check that IDAAS_ACCOUNT "
        "may call the onboarding API."
    ),
    "idaas.refused_not_json": _(
        "IDaaS refused the user with HTTP %(status)s (body not JSON: '%(excerpt)s'). Correct the person's "
        "data in the OA system."
    ),
    "idaas.refused": _(
        "IDaaS refused the user (HTTP %(status)s, code %(code)s%(detail)s). Check the OU '%(ou)s', the user "
        "type '%(user_type)s', the phone number and the email."
    ),
    "idaas.onboarding_forbidden": _(
        "IDaaS refused the onboarding call (HTTP %(status)s, code %(code)s%(detail)s): check that IDAAS_ACCOUNT "
        "may call it. The system is quarantined until a probe succeeds or an operator releases it."
    ),
    "idaas.unexpected": _("IDaaS create: unexpected answer (HTTP %(status)s, code %(code)s%(detail)s)."),
    "welink.credentials_refused": _(
        "WeLink refused the client credentials (code %(code)s: %(meaning)s). Check WELINK_CLIENT_ID and "
        "WELINK_CLIENT_SECRET."
    ),
    "welink.client_locked": _(
        "WeLink refused the client credentials (code %(code)s: %(meaning)s). Check WELINK_CLIENT_ID and "
        "WELINK_CLIENT_SECRET and ask the WeLink admin to unlock the client."
    ),
    "welink.token_missing": _("WeLink answered without a token (HTTP %(status)s, code %(code)s%(detail)s)."),
    "welink.token_rejected_again": _(
        "WeLink %(action)s: the token was rejected as expired even right after refetching it."
    ),
    "welink.rate_limited": _("WeLink %(action)s: rate limited (code %(code)s%(detail)s)."),
    "welink.refused": _("WeLink %(action)s refused (code %(code)s%(detail)s): %(meaning)s. Correct it."),
    "welink.refused_system": _(
        "WeLink %(action)s refused (code %(code)s%(detail)s): %(meaning)s. The system is quarantined until a "
        "probe succeeds or an operator releases it."
    ),
    "welink.call_credentials_refused": _(
        "WeLink %(action)s refused the credentials (code %(code)s%(detail)s). Check WELINK_CLIENT_ID and "
        "WELINK_CLIENT_SECRET."
    ),
    "welink.unexpected": _("WeLink %(action)s: unexpected answer (HTTP %(status)s, code %(code)s%(detail)s)."),
    "welink.lookup_failed_too": _(
        "%(reason)s The look-up that checks whether the user exists anyway failed too (%(lookup)s); the next "
        "attempt looks up first."
    ),
    # The two above as said when no attempt follows (gave up, failed): they promise none.
    "http.timeout_sent_final": _(
        "%(system)s %(action)s: no answer within %(seconds)s s (the request may have been applied; a retry of "
        "the task looks the account up first, so it is not created twice)."
    ),
    "welink.lookup_failed_too_final": _(
        "%(reason)s The look-up that checks whether the user exists anyway failed too (%(lookup)s); a retry "
        "of the task looks up first."
    ),
    "exchange.token_refused": _("Exchange refused EMAIL_AUTH_TOKEN (HTTP %(status)s). Check EMAIL_AUTH_TOKEN."),
    "exchange.refused": _("Exchange refused the request (HTTP %(status)s%(detail)s). Correct it."),
    "exchange.unknown_state": _(
        "Exchange answered with neither success nor fail for '%(username)s': the state is unknown."
    ),
    "exchange.ad_user_not_visible": _(
        "Exchange cannot see the AD user '%(username)s' yet (AD replication after IDaaS created it): "
        "%(detail)s"
    ),
    "exchange.enable_failed": _(
        "Exchange could not enable the mailbox of '%(username)s' with alias '%(alias)s': %(detail)s. Correct "
        "it with the Exchange administrator."
    ),
    "ownership.belongs_to": _(
        "%(what)s %(account)s already belongs to employee %(owner)s in %(system)s, not %(employee)s's; it is "
        "not adopted. %(hint)s"
    ),
    "ownership.another_account": _(
        "%(what)s %(account)s is another person's account in %(system)s, not %(employee)s's; it is not "
        "adopted. %(hint)s"
    ),
    "ownership.hint_idaas": _(
        "Check in IDaaS whose user %(username)s is: if the employee number is wrong or reused, correct it "
        "in the OA system and send a new request; if the user is stale, have the IDaaS administrator "
        "remove it."
    ),
    "ownership.hint_welink": _(
        "The look-up by corpUserId %(employee)s found a user with another corpUserId or employeeId: check "
        "the user in the WeLink admin console and correct its corpUserId/employeeId, or correct the "
        "employee number in the OA system."
    ),
    "ownership.hint_exchange_other": _(
        "Exchange reported the mailbox of '%(found)s' although '%(username)s' was asked for: check the AD "
        "account and its mailbox with the Exchange administrator."
    ),
    "ownership.hint_exchange": _(
        "Check the AD account and its mailbox with the Exchange administrator (a reused sAMAccountName?), "
        "or correct the employee number in the OA system."
    ),
}

# Requests as the OA sees them: cancellation and one person on demand (issue #13).
REQUESTS = {
    "request.cancelled_task": _("Cancelled by %(actor)s before it started; nothing was created for it."),
    "request.actor_api_client": _("API client %(client)s"),
    "request.cancelled_while_running": _(
        "Cancelled: its request was cancelled while this task was running; it was not started again."
    ),
    "request.finished": _(
        "Request %(request)s has already finished (%(status)s); nothing is left to cancel. Accounts already "
        "created stay: remove them in the downstream systems if the hire was withdrawn."
    ),
    "ondemand.no_tasks": _(
        "Employee %(employee)s has no account creation task. Check the employee number (it is case-sensitive) "
        "or send the person in a create_accounts request first."
    ),
    "ondemand.summary": _("Employee %(employee)s: %(attempts)s attempt(s) in %(seconds)s s."),
    "ondemand.attempt": _("attempt: %(system)s task #%(task)s %(outcome)s"),
    "ondemand.now": _("now: %(system)s task #%(task)s %(status)s: %(state)s"),
    "ondemand.created": _("created (%(made)s)"),
    "ondemand.created_plain": _("created"),
    "ondemand.held": _("another runner holds it (%(runner)s) until %(until)s"),
    "ondemand.unconfigured": _("waits: the system is not configured (set %(missing)s)"),
    "ondemand.quarantined": _(
        "waits: the system is quarantined since %(since)s (%(reason)s); no attempt is spent. Next probe at "
        "%(probe)s; fix the cause, or release it with POST /account-creation/systems/%(system)s/release/"
    ),
    "ondemand.backoff": _("waits for its next attempt at %(when)s: %(why)s"),
    "ondemand.dependency": _("waits for the %(systems)s account to be created first"),
    "ondemand.due": _("due; runs at the next run"),
    "ondemand.ran": _("Ran %(attempts)s attempt(s) for %(employee)s in %(seconds)s s."),
    "ondemand.nothing_ran": _("Nothing of %(employee)s could run now; each task below says why it waits."),
    "ondemand.no_employee": _("Give an employee number to run."),
}

# What a connector was doing when a downstream system answered (%(action)s in the messages
# above). The context keeps these short words apart from the same English words elsewhere.
ACTIONS = {
    "action.create": pgettext_lazy("connector action", "create"),
    "action.token": pgettext_lazy("connector action", "token"),
    "action.look_up": pgettext_lazy("connector action", "look-up"),
    "action.enable_mailbox": pgettext_lazy("connector action", "enable mailbox"),
}

# Why a downstream system is quarantined, when it is more than the connector's message
# (``DownstreamSystem.reason_data``; a credentials or TLS/DNS fault stores the connector's own).
HEALTH = {
    "health.transport_run": _("%(failures)s failures in a row without a usable answer (last: %(reason)s)"),
}

# Why an engine run stopped claiming. ``EngineRun.stop_reason`` stores the short code (the part
# after "stop."), its parameters as a query string: ``drained``, ``max_tasks?limit=50``.
STOP_REASONS = {
    "stop.drained": _("queue drained (nothing due)"),
    "stop.no_account_type": _("no configured account type"),
    "stop.database_unavailable": _("database unavailable"),
    "stop.stop_requested": _("stop requested (SIGTERM or SIGINT)"),
    "stop.max_tasks": _("max tasks reached (--max-tasks %(limit)s)"),
    "stop.time_budget": _("time budget reached (--max-seconds %(seconds)s)"),
}

register(INTAKE)
register(REQUESTS)
register(STOP_REASONS)
register(STATUSES)
register(ENGINE)
register(PREPARE)
register(CONNECTORS)
register(ACTIONS)
register(HEALTH)


def message(code: str, /, **params: Any) -> Message:
    """A message of this catalog (raises KeyError for an unknown code)."""
    return Message.of(code, **params)


def action(name: str) -> Message | str:
    """A connector's action (``create``, ``token``, ``look-up``, ``enable mailbox``) as a message
    parameter, so it reads in the reader's language; an unknown name stays as it is."""
    code = "action." + name.replace("-", "_").replace(" ", "_")
    return Message.of(code) if code in CATALOG else name


# Reasons that speak of the next attempt, and how they read when none follows.
_FINAL_VARIANTS = {
    "http.timeout_sent": "http.timeout_sent_final",
    "welink.lookup_failed_too": "welink.lookup_failed_too_final",
}


def final_reason(reason: Message) -> Message:
    """``reason`` as said for a task that gave up or failed: no part of it (nested reasons too)
    promises a next attempt, since none follows until an operator retries the task."""

    def final(value: Any) -> Any:
        if isinstance(value, dict) and "code" in value:
            return final_reason(Message.from_stored(value)).as_stored()
        return value

    code = _FINAL_VARIANTS.get(reason.code, reason.code)
    return Message(code, {name: final(value) for name, value in reason.params.items()})


def stop_reason(code: str, /, **params: Any) -> str:
    """The stored form of a run's stop reason: ``drained``, ``max_tasks?limit=50`` (at most 200
    characters, EngineRun.stop_reason's length). Raises KeyError for an unknown code."""
    Message.of(f"stop.{code}", **params)
    return code + (f"?{urlencode(params)}" if params else "")


def stop_reason_code(stored: str) -> str:
    """The code of a stored stop reason, for machines (health, logs); an older version's English
    text is returned as it is."""
    code = stored.partition("?")[0]
    return code if f"stop.{code}" in CATALOG else stored


def stop_reason_text(stored: str, language: str | None = None) -> str:
    """A stored stop reason in ``language`` (default: the active one). Rows written before the
    codes existed hold English text: it is shown as it is."""
    code, _separator, query = stored.partition("?")
    if f"stop.{code}" not in CATALOG:
        return stored
    return Message(f"stop.{code}", dict(parse_qsl(query))).render(language)


def failure_table() -> str:
    """docs/operations.md's table of every failure reason, in English and Chinese (a test keeps
    the document equal to this)."""
    from django.utils.translation import override

    rows = ["| code | English | 中文 |", "| --- | --- | --- |"]
    for code, template in {**ENGINE, **PREPARE, **CONNECTORS}.items():
        with override("en"):
            english = str(template)
        with override("zh-hans"):
            chinese = str(template)
        rows.append(f"| `{code}` | {english.replace('|', '/')} | {chinese.replace('|', '/')} |")
    return "\n".join(rows)
