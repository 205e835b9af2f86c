"""WeLink open platform: the contact (address book) user, keyed by ``corpUserId``.

Exactly-once: a retry looks the user up by ``corpUserId`` (the employee number) before
creating (the first attempt creates at once), and every attempt looks again after a create
that timed out or did not answer ``"0"``: a user
found either way is adopted as success — only when its ``corpUserId`` and ``employeeId``
(when the answer has them) are the person's employee number; a user that belongs to another
employee fails the task permanently (connectors/ownership.py). Codes are compared as
strings (WeLink mixes ``"0"`` and ``0``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_noop

from account_creation.connectors.base import AccountResult, ProvisioningRequest
from account_creation.connectors.http import (
    Answer,
    TokenCache,
    build_session,
    log_context,
    malformed,
    phone_parts,
    post_json,
    post_with_token,
    safe,
    token_lifetime,
)
from account_creation.connectors.ownership import OwnershipConflict, collision, owner_conflict
from account_creation.messages import action as action_said
from account_creation.messages import message
from accountsync.errors import ConfigurationMissing, ConnectorError, Fault, PermanentError, RetryableError
from accountsync.logging import kv
from accountsync.messages import translatable

logger = logging.getLogger(__name__)

SYSTEM = "WeLink"
TOKEN_PATH = "/api/auth/v2/tickets"  # noqa: S105 - a URL path, not a secret
DETAIL_PATH = "/api/contact/v2/user/detail"
CREATE_PATH = "/api/contact/v1/user/create"
DEFAULT_TOKEN_SECONDS = 7200.0

OK = "0"
NO_SUCH_USER = "47012"
TOKEN_EXPIRED = "47103"  # noqa: S105 - an error code
RATE_LIMITED = "48503"
# Retrying cannot help until a person changes the data, the department or the app's grants.
PERMANENT_CODES: dict[str, str] = {
    "47004": gettext_noop("a field has an invalid value"),
    "47008": gettext_noop("the data failed WeLink's validation"),
    "47106": gettext_noop("the department (or its parent) does not exist in WeLink"),
}
# No task can succeed until the app is granted the API: the system is quarantined.
SYSTEM_CODES: dict[str, str] = {
    "501": gettext_noop("the API is not granted to the app: grant it in the WeLink developer console"),
}
# Token errors: retrying only locks the client (41403), so they are permanent and remembered.
CREDENTIAL_CODES: dict[str, str] = {
    "41403": gettext_noop("the client is locked after too many failed attempts"),
    "10007": gettext_noop("wrong client id or secret"),
    "41579": gettext_noop("the client id is empty"),
    "41580": gettext_noop("the client secret is empty"),
}


class WelinkConnector:
    account_type = "welink"

    def __init__(self) -> None:
        self.base_url = settings.WELINK_BASE_URL.rstrip("/")
        self.session = build_session(self.base_url, self.account_type)
        self.tokens = TokenCache(self._fetch_token, system=SYSTEM, account_type=self.account_type)

    # --- token ------------------------------------------------------------------------

    def _fetch_token(self) -> tuple[str, float]:
        payload = {"client_id": settings.WELINK_CLIENT_ID, "client_secret": settings.WELINK_CLIENT_SECRET}
        answer = post_json(self.session, self.base_url + TOKEN_PATH, payload,
                           headers={"Content-Type": "application/json"}, system=SYSTEM, action="token")
        if not answer.is_json_object:
            raise malformed(answer, system=SYSTEM, action="token")
        token = answer.body.get("access_token")
        if answer.code == OK and isinstance(token, str) and token:
            return token, token_lifetime(answer.body.get("expires_in"), default=DEFAULT_TOKEN_SECONDS)
        if answer.code in CREDENTIAL_CODES:
            raise PermanentError(
                message("welink.client_locked" if answer.code == "41403" else "welink.credentials_refused",
                        code=answer.code, meaning=translatable(CREDENTIAL_CODES[answer.code])),
                details=answer.details(), fault=Fault.CREDENTIALS,
            )
        raise RetryableError(
            message("welink.token_missing", status=answer.status, code=answer.code or "-",
                    detail=f": {answer.message}" if answer.message else ""),
            details=answer.details(),
        )

    # --- calls ------------------------------------------------------------------------

    def _call(self, action: str, path: str, payload: dict[str, Any], *, request_details: Any,
              context: dict[str, object]) -> Answer:
        """POST with the token; a body that is not a JSON object is malformed; a rejected token
        (HTTP 401 or code 47103) is dropped and refetched once."""

        def rejected(refreshed: bool) -> None:
            logger.info(kv(event="token_rejected", system=SYSTEM, action=action, refreshed=refreshed, **context))

        return post_with_token(
            self.session, self.base_url + path, payload, tokens=self.tokens,
            header="x-wlk-Authorization", headers={"Content-Type": "application/json", "Accept-Charset": "UTF-8"},
            system=SYSTEM, action=action, request_details=request_details, on_rejected=rejected,
            rejected_again=message("welink.token_rejected_again", action=action_said(action)),
            is_rejected=_token_rejected, require_json=True,
        )

    def _classify(self, answer: Answer, *, action: str, request_details: Any) -> ConnectorError:
        code = answer.code
        details = answer.details(request=request_details)
        said = {
            "action": action_said(action), "code": code or "-",
            "detail": f": {answer.message}" if answer.message else "",
        }
        if code == RATE_LIMITED:
            return RetryableError(message("welink.rate_limited", **said), details=details, fault=Fault.RATE_LIMITED)
        if code in SYSTEM_CODES:
            return PermanentError(
                message("welink.refused_system", meaning=translatable(SYSTEM_CODES[code]), **said),
                details=details, fault=Fault.CREDENTIALS,
            )
        if code in PERMANENT_CODES:
            return PermanentError(
                message("welink.refused", meaning=translatable(PERMANENT_CODES[code]), **said), details=details
            )
        if code in CREDENTIAL_CODES:
            return PermanentError(
                message("welink.call_credentials_refused", **said), details=details, fault=Fault.CREDENTIALS
            )
        return RetryableError(message("welink.unexpected", status=answer.status, **said), details=details)

    def lookup(self, employee_number: str, *, context: dict[str, object] | None = None) -> str | None:
        """The WeLink userId of the person with this corpUserId, or None when there is none.

        Raises OwnershipConflict when the user found names another employee (corpUserId or
        employeeId): it is not this person's account.
        """
        payload = {"corpUserId": employee_number}
        answer = self._call("look-up", DETAIL_PATH, payload, request_details=payload, context=context or {})
        if answer.code == NO_SUCH_USER:
            return None
        if answer.code != OK:
            raise self._classify(answer, action="look-up", request_details=payload)
        user = _user_data(answer.body)
        if not user:
            return None
        user_id = str(user.get("userId") or user.get("corpUserId") or employee_number)
        owners = [str(user[key]).strip() for key in ("corpUserId", "employeeId") if _text(user.get(key))]
        owner = owner_conflict(owners, employee_number)
        if owner is not None:
            raise collision(
                system=SYSTEM, what="WeLink user", account=user_id, owner=owner, employee_number=employee_number,
                hint=message("ownership.hint_welink", employee=employee_number),
            )
        return user_id

    # --- create -----------------------------------------------------------------------

    def payload(self, request: ProvisioningRequest) -> dict[str, Any]:
        person = request.person
        calling_code, digits = phone_parts(person)
        return {
            "corpUserId": person.employee_number,
            "employeeId": person.employee_number,
            "userNameCn": person.employee_name,
            "userNameEn": request.english_name,
            "mobileNumber": f"{calling_code}-{digits}",
            "corpDeptCodes": [request.corp_dept_code],
            "personType": request.welink_person_type,
            "userEmail": request.email,
        }

    def create(self, request: ProvisioningRequest) -> AccountResult:
        context = log_context(request)
        number = request.person.employee_number
        # The first attempt creates at once: a non-"0" answer is followed by a look-up anyway
        # (the spec's per-system recipe), so only an attempt after an earlier one — which may
        # have timed out after WeLink applied it — pays for a look-up first.
        if request.attempt > 1:
            user_id = self.lookup(number, context=context)
            if user_id is not None:
                logger.info(kv(event="adopted", system=SYSTEM, found="before_create", **context))
                return self._result(request, user_id, adopted=True)
        if not request.corp_dept_code:
            raise ConfigurationMissing(
                message("prepare.welink_department_missing", department=request.person.department_code),
                waiting_for={"code": "department_welink_code", "department_code": request.person.department_code},
            )
        payload = self.payload(request)
        request_details = safe(payload)
        try:
            answer = self._call("create", CREATE_PATH, payload, request_details=request_details, context=context)
        except RetryableError as exc:
            # A timeout or 5xx may hide a created user: look before deciding.
            return self._after_failed_create(request, exc, context)
        if answer.code == OK:
            user_id = _text(answer.body.get("userId")) or self.lookup(number, context=context) or number
            logger.info(kv(event="created", system=SYSTEM, **context))
            return self._result(request, user_id)
        error = self._classify(answer, action="create", request_details=request_details)
        return self._after_failed_create(request, error, context)

    def _after_failed_create(self, request: ProvisioningRequest, error: ConnectorError,
                             context: dict[str, object]) -> AccountResult:
        if error.fault in (Fault.RATE_LIMITED, Fault.CREDENTIALS, Fault.UNREACHABLE):
            raise error  # the create was not applied, and a look-up would meet the same answer
        try:
            user_id = self.lookup(request.person.employee_number, context=context)
        except OwnershipConflict:
            raise
        except ConnectorError as lookup_error:
            raise RetryableError(
                message("welink.lookup_failed_too", reason=error.msg, lookup=lookup_error.msg),
                details={**error.details, "lookup_error": lookup_error.message},
                fault=lookup_error.fault or error.fault, retry_after=lookup_error.retry_after,
            ) from None
        if user_id is not None:
            logger.info(kv(event="adopted", system=SYSTEM, found="after_create", **context))
            return self._result(request, user_id, adopted=True)
        raise error

    @staticmethod
    def _result(request: ProvisioningRequest, user_id: str, *, adopted: bool = False) -> AccountResult:
        return AccountResult(account_id=user_id, username=request.username, email=request.email,
                             adopted=adopted)


def _token_rejected(answer: Answer) -> bool:
    return answer.code == TOKEN_EXPIRED or answer.status == 401


def _text(value: Any) -> str:
    return str(value) if isinstance(value, str | int) and str(value) else ""


def _user_data(body: dict[str, Any]) -> dict[str, Any] | None:
    """The user in a detail answer: under ``data`` (object or one-item list) or at the top level."""
    data = body.get("data")
    if isinstance(data, list):
        data = data[0] if data else None
    if isinstance(data, dict) and data:
        return data
    if any(body.get(key) for key in ("userId", "corpUserId")):
        return body
    return None
