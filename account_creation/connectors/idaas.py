"""IDaaS (HIS3 IAM gateway): create the directory user that later becomes the AD account.

Contract (docs/spec "downstream-apis", table at the top): no public look-up exists, so
exactly-once rests on the duplicate answer: HTTP 409 or a body code in
``IDAAS_DUPLICATE_CODES`` means the user exists and is adopted as success — unless the
answer names another employee as the user's owner (connectors/ownership.py): then the
task fails permanently and names the collision.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from account_creation import countries
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
from account_creation.connectors.ownership import collision, owner_conflict, owners_in
from account_creation.messages import message
from accountsync.errors import ConfigurationMissing, Fault, PermanentError, RetryableError
from accountsync.logging import kv

logger = logging.getLogger(__name__)

SYSTEM = "IDaaS"
TOKEN_PATH = "/api/iam/auth/enterprise-token"  # noqa: S105 - a URL path, not a secret
CREATE_PATH = "/api/idaas/idm-openapi/enterprise/{enterprise_id}/user/onboarding"
SUCCESS_CODE = "201"
# The predecessor's default when the answer has no expires_in.
DEFAULT_TOKEN_SECONDS = 86399.0
# Where an id of the created user may be in the (undocumented) success answer.
_ID_KEYS = ("userId", "id", "uid", "userUuid")


class IdaasConnector:
    account_type = "idaas"

    def __init__(self) -> None:
        self.base_url = settings.IDAAS_BASE_URL.rstrip("/")
        self.enterprise_id = settings.IDAAS_ENTERPRISE_ID
        self.session = build_session(self.base_url, self.account_type)
        self.tokens = TokenCache(self._fetch_token, system=SYSTEM, account_type=self.account_type)

    # --- token ------------------------------------------------------------------------

    def _fetch_token(self) -> tuple[str, float]:
        payload = {"data": {"type": "token", "attributes": {
            "account": settings.IDAAS_ACCOUNT, "secret": settings.IDAAS_SECRET}}}
        answer = post_json(self.session, self.base_url + TOKEN_PATH, payload,
                           headers={"Content-Type": "application/json"}, system=SYSTEM, action="token")
        if not answer.is_json_object:
            raise malformed(answer, system=SYSTEM, action="token")
        token = answer.body.get("access_token")
        if answer.code == SUCCESS_CODE and isinstance(token, str) and token:
            return token, token_lifetime(answer.body.get("expires_in"), default=DEFAULT_TOKEN_SECONDS)
        if 400 <= answer.status < 500 or answer.code.startswith("4"):
            raise PermanentError(
                message("idaas.token_refused", status=answer.status, code=answer.code or "-",
                        detail=f": {answer.message}" if answer.message else ""),
                details=answer.details(), fault=Fault.CREDENTIALS,
            )
        raise RetryableError(
            message("idaas.token_missing", status=answer.status, code=answer.code or "-"),
            details=answer.details(),
        )

    # --- create -----------------------------------------------------------------------

    def payload(self, request: ProvisioningRequest) -> dict[str, Any]:
        person = request.person
        calling_code, mobile = phone_parts(person)
        return {"userInfo": {
            "employeeNumber": person.employee_number,
            "name": person.employee_name,
            "englishName": request.english_name,
            "userName": request.username,
            "userType": request.idaas_user_type,
            "email": request.email,
            "mobileCountryCode": calling_code,
            "mobile": mobile,
            "userExtends": {"workArea": countries.work_area(person.country), "ou": request.ou},
        }}

    def create(self, request: ProvisioningRequest) -> AccountResult:
        if not request.ou:
            raise ConfigurationMissing(
                message("prepare.ou_missing", department=request.person.department_code),
                waiting_for={"code": "department_ou", "department_code": request.person.department_code},
            )
        payload = self.payload(request)
        request_details = safe(payload)
        url = self.base_url + CREATE_PATH.format(enterprise_id=self.enterprise_id)
        context = log_context(request)

        def rejected(refreshed: bool) -> None:
            logger.info(kv(event="token_rejected", system=SYSTEM, refreshed=refreshed, **context))

        answer = post_with_token(
            self.session, url, payload, tokens=self.tokens,
            header="Authorization", headers={"Content-Type": "application/json"},
            system=SYSTEM, action="create", request_details=request_details, on_rejected=rejected,
            rejected_again=message("idaas.token_rejected_again"),
        )
        return self._result(request, answer, request_details, context)

    def _result(self, request: ProvisioningRequest, answer: Answer, request_details: Any,
                context: dict[str, object]) -> AccountResult:
        duplicate_codes = {str(code).strip() for code in settings.IDAAS_DUPLICATE_CODES}
        duplicate = answer.status == 409 or bool(answer.code and answer.code in duplicate_codes)
        if duplicate or (answer.status >= 400 and answer.is_json_object):
            self._refuse_foreign_user(request, answer)
        if duplicate:
            logger.info(kv(event="adopted", system=SYSTEM, status=answer.status, code=answer.code or "-", **context))
            return AccountResult(account_id=request.username, username=request.username,
                                 email=request.email, adopted=True)
        if not answer.is_json_object:
            if 400 <= answer.status < 500:
                raise PermanentError(
                    message("idaas.refused_not_json", status=answer.status, excerpt=answer.excerpt[:120]),
                    details=answer.details(request=request_details),
                )
            raise malformed(answer, system=SYSTEM, action="create", request_details=request_details)
        if answer.code == SUCCESS_CODE and answer.status < 400:
            logger.info(kv(event="created", system=SYSTEM, **context))
            return AccountResult(account_id=_account_id(answer.body) or request.username,
                                 username=request.username, email=request.email)
        details = answer.details(request=request_details)
        detail = f": {answer.message}" if answer.message else ""
        if answer.status == 403:
            raise PermanentError(
                message("idaas.onboarding_forbidden", status=answer.status, code=answer.code or "-", detail=detail),
                details=details, fault=Fault.CREDENTIALS,
            )
        if 400 <= answer.status < 500 or (len(answer.code) == 3 and answer.code.startswith("4")):
            raise PermanentError(
                message("idaas.refused", status=answer.status, code=answer.code or "-", detail=detail,
                        ou=request.ou, user_type=request.idaas_user_type),
                details=details,
            )
        raise RetryableError(
            message("idaas.unexpected", status=answer.status, code=answer.code or "-", detail=detail), details=details
        )

    @staticmethod
    def _refuse_foreign_user(request: ProvisioningRequest, answer: Answer) -> None:
        """Raise OwnershipConflict when the answer names another employee as the user's owner."""
        body = answer.body if isinstance(answer.body, dict) else {}
        texts = tuple(value for value in body.values() if isinstance(value, str))
        owner = owner_conflict(owners_in(body, texts=texts), request.person.employee_number)
        if owner is not None:
            raise collision(
                system=SYSTEM, what="userName", account=request.username, owner=owner,
                employee_number=request.person.employee_number,
                hint=message("ownership.hint_idaas", username=request.username),
            )


def _account_id(body: dict[str, Any]) -> str:
    """An id of the new user, if the answer has one (top level or under ``data``)."""
    for container in (body, body.get("data"), body.get("userInfo")):
        if isinstance(container, dict):
            for key in _ID_KEYS:
                value = container.get(key)
                if isinstance(value, str | int) and str(value):
                    return str(value)
    return ""
