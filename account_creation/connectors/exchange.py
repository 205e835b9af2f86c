"""Exchange mailbox-enable wrapper: enable the mailbox of the AD user IDaaS created.

The wrapper has no look-up; exactly-once rests on Enable-Mailbox's own error for a user
that has a mailbox already ("… is of type UserMailbox"), which is adopted as success.
"The object couldn't be found" means AD has not replicated the new user yet: retryable.
A fail item that names its account (``SAMAccountName``) or owner (an employee number) is
adopted only when that is this person's; a plain text item cannot say, and is adopted.

Of the answer, errors keep only the items' message texts and account names (redacted,
:func:`stored_items`), never the raw items: a server may echo a secret in any field.
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
from account_creation.connectors.ownership import collision, owner_conflict, owners_in, same_employee
from account_creation.messages import message
from accountsync.errors import Fault, PermanentError, RetryableError
from accountsync.logging import kv

logger = logging.getLogger(__name__)

SYSTEM = "Exchange"
ENABLE_PATH = "/api/Exchange/EnableMailbox"
ALREADY_MAILBOX = "is of type usermailbox"
NOT_FOUND_MARKERS = ("couldn't be found", "could not be found", "couldn’t be found")
# What an error keeps of a success or fail item that is an object (values redacted).
ITEM_KEYS = ("SAMAccountName", "Alias", "PrimarySmtpAddress", "Error", "ErrorMessage", "Message", "message",
             "error", "EmployeeNumber", "EmployeeID")
ITEM_CHARS = 300
MAX_ITEMS = 5


class ExchangeConnector:
    account_type = "email"

    def __init__(self) -> None:
        self.base_url = settings.EMAIL_BASE_URL.rstrip("/")
        self.session = build_session(self.base_url, self.account_type)

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
                message("exchange.token_refused", status=answer.status),
                details=answer.details(request=request_details), fault=Fault.CREDENTIALS,
            )
        if 400 <= answer.status < 500:
            raise PermanentError(
                message("exchange.refused", status=answer.status,
                        detail=f": {answer.message}" if answer.message else ""),
                details=answer.details(request=request_details),
            )
        result = answer.body.get("jsonValue") if answer.is_json_object else None
        if not isinstance(result, dict):
            raise malformed(answer, system=SYSTEM, action="enable mailbox", request_details=request_details)
        success = _items(result.get("success"))
        fail = _items(result.get("fail"))
        details: dict[str, Any] = {"http_status": answer.status, "request": request_details,
                                   "success": stored_items(success), "fail": stored_items(fail)}
        if answer.request_id:
            details["request_id"] = answer.request_id
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
                message("exchange.unknown_state", username=request.username),
                details=details,
            )
        texts = [dumps(item).lower() for item in fail]
        if all(ALREADY_MAILBOX in text for text in texts):
            _refuse_foreign_mailbox(request, fail)
            logger.info(kv(event="adopted", system=SYSTEM, alias=request.email_local_part, **context))
            return self._result(request, adopted=True)
        first = safe_text(dumps(fail[0]), 200)
        if any(marker in text for text in texts for marker in NOT_FOUND_MARKERS):
            raise RetryableError(
                message("exchange.ad_user_not_visible", username=request.username, detail=first),
                details=details,
            )
        raise PermanentError(
            message("exchange.enable_failed", username=request.username, alias=request.email_local_part, detail=first),
            details=details,
        )

    @staticmethod
    def _result(request: ProvisioningRequest, *, adopted: bool = False) -> AccountResult:
        return AccountResult(account_id=request.email, username=request.username, email=request.email,
                             adopted=adopted)


def stored_items(items: list[Any]) -> list[Any]:
    """The items as an error keeps them: message texts and the allow-listed keys of objects,
    redacted and cut short; at most MAX_ITEMS."""
    kept: list[Any] = []
    for item in items[:MAX_ITEMS]:
        if isinstance(item, dict):
            kept.append({key: safe_text(item[key], ITEM_CHARS) for key in ITEM_KEYS
                         if isinstance(item.get(key), str | int) and not isinstance(item.get(key), bool)})
        elif isinstance(item, str | int) and not isinstance(item, bool):
            kept.append(safe_text(item, ITEM_CHARS))
    return kept


def _refuse_foreign_mailbox(request: ProvisioningRequest, fail: list[Any]) -> None:
    """Raise OwnershipConflict when an "is of type UserMailbox" item names another account or owner."""
    number = request.person.employee_number
    for item in fail:
        if not isinstance(item, dict):
            continue  # a text item does not say whose mailbox it is
        sam = item.get("SAMAccountName")
        if isinstance(sam, str) and sam.strip() and not same_employee(sam, request.username):
            raise collision(
                system=SYSTEM, what="mailbox", account=sam, owner=owner_conflict(owners_in(item), number) or "",
                employee_number=number,
                hint=message("ownership.hint_exchange_other", found=sam, username=request.username),
            )
        owner = owner_conflict(owners_in(item), number)
        if owner is not None:
            raise collision(
                system=SYSTEM, what="mailbox", account=request.username, owner=owner, employee_number=number,
                hint=message("ownership.hint_exchange"),
            )


def _primary_address(success: list[Any]) -> str:
    for item in success:
        if isinstance(item, dict) and isinstance(item.get("PrimarySmtpAddress"), str):
            return str(item["PrimarySmtpAddress"])
    return ""


def _items(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
