"""Exchange mailbox-enable wrapper: enable the mailbox of the AD user IDaaS created.

The wrapper has no look-up; exactly-once rests on Enable-Mailbox's own error for a user
that has a mailbox already ("… is of type UserMailbox"), which is adopted as success.
"The object couldn't be found" means AD has not replicated the new user yet: retryable.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from account_creation.connectors.base import AccountResult, ProvisioningRequest
from account_creation.connectors.http import (
    build_session,
    dumps,
    log_context,
    malformed,
    post_json,
    safe,
    safe_text,
)
from accountsync.errors import PermanentError, RetryableError
from accountsync.logging import kv

logger = logging.getLogger(__name__)

SYSTEM = "Exchange"
ENABLE_PATH = "/api/Exchange/EnableMailbox"
ALREADY_MAILBOX = "is of type usermailbox"
NOT_FOUND_MARKERS = ("couldn't be found", "could not be found", "couldn’t be found")


class ExchangeConnector:
    account_type = "email"

    def __init__(self) -> None:
        self.base_url = settings.EMAIL_BASE_URL.rstrip("/")
        self.session = build_session(self.base_url)

    def payload(self, request: ProvisioningRequest) -> dict[str, Any]:
        return {"EnableMailboxList": [{"SAMAccountName": request.username, "Alias": request.email_local_part}]}

    def create(self, request: ProvisioningRequest) -> AccountResult:
        context = log_context(request)
        payload = self.payload(request)
        request_details = safe(payload)
        answer = post_json(
            self.session, self.base_url + ENABLE_PATH, payload, system=SYSTEM, action="enable mailbox",
            headers={"Authorization": settings.EMAIL_AUTH_TOKEN, "Content-Type": "application/json"},
            request_details=request_details,
        )
        if answer.status in (401, 403):
            raise PermanentError(
                f"{SYSTEM} refused EMAIL_AUTH_TOKEN (HTTP {answer.status}). Check EMAIL_AUTH_TOKEN, "
                "then retry the task.",
                details=answer.details(request=request_details),
            )
        if 400 <= answer.status < 500:
            raise PermanentError(
                f"{SYSTEM} refused the request (HTTP {answer.status}"
                + (f": {answer.message}" if answer.message else "") + "). Correct it, then retry the task.",
                details=answer.details(request=request_details),
            )
        result = answer.body.get("jsonValue") if answer.is_json_object else None
        if not isinstance(result, dict):
            raise malformed(answer, system=SYSTEM, action="enable mailbox", request_details=request_details)
        success = _items(result.get("success"))
        fail = _items(result.get("fail"))
        details: dict[str, Any] = {"http_status": answer.status, "request": request_details,
                                   "success": safe(success), "fail": safe(fail)}
        if success and not fail:
            logger.info(kv(event="created", system=SYSTEM, alias=request.email_local_part, **context))
            result = self._result(request)
            primary = _primary_address(success)
            if primary and primary.lower() != request.email.lower():
                # The address policy produced another address than the one every system got.
                logger.warning(kv(event="address_differs", system=SYSTEM, allocated=request.email,
                                  primary=primary, **context))
                result.extra["primary_smtp_address"] = primary
            return result
        if not success and not fail:
            raise RetryableError(
                f"{SYSTEM} answered with neither success nor fail for {request.username!r}: unknown state; "
                "the task retries on its own.",
                details=details,
            )
        texts = [dumps(item).lower() for item in fail]
        if all(ALREADY_MAILBOX in text for text in texts):
            logger.info(kv(event="adopted", system=SYSTEM, alias=request.email_local_part, **context))
            return self._result(request, adopted=True)
        first = safe_text(dumps(fail[0]), 200)
        if any(marker in text for text in texts for marker in NOT_FOUND_MARKERS):
            raise RetryableError(
                f"{SYSTEM} cannot see the AD user {request.username!r} yet (AD replication after IDaaS "
                f"created it): {first}; the task retries on its own.",
                details=details,
            )
        raise PermanentError(
            f"{SYSTEM} could not enable the mailbox of {request.username!r} with alias "
            f"{request.email_local_part!r}: {first}. Correct it, then retry the task.",
            details=details,
        )

    @staticmethod
    def _result(request: ProvisioningRequest, *, adopted: bool = False) -> AccountResult:
        return AccountResult(account_id=request.email, username=request.username, email=request.email,
                             adopted=adopted)


def _primary_address(success: list[Any]) -> str:
    for item in success:
        if isinstance(item, dict) and isinstance(item.get("PrimarySmtpAddress"), str):
            return str(item["PrimarySmtpAddress"])
    return ""


def _items(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
