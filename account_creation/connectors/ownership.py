"""Adopt "already exists" only when the existing account is this person's.

A connector treats "the account exists already" as success, so a retry never makes a second
account. That is safe only when the existing account belongs to the same person: where a
downstream answer says whose account it is (an employee number in a duplicate answer, the
``corpUserId`` / ``employeeId`` of a WeLink user, an Exchange fail item naming its account),
:func:`owner_conflict` compares it with the person's employee number and the connector raises
:class:`OwnershipConflict` instead of adopting. Where the answer does not say, adoption stays
as it was; the reserved-name deny-list and the employee-number-based userName are the guard
(docs/operations.md, "Adopting existing accounts").
"""

from __future__ import annotations

import re
from typing import Any

from account_creation.messages import message
from accountsync.errors import PermanentError
from accountsync.messages import Message
from accountsync.redaction import safe_string

# Keys (compared lower-case) whose value is an employee number.
EMPLOYEE_KEYS = frozenset({"employeenumber", "employee_number", "employeeid", "employee_id", "corpuserid"})
# "... used by employee P000999", "belongs to employee: P000999", "employeeNumber=P000999".
_OWNER_IN_TEXT = re.compile(
    r"\bemployee(?:[ _]?(?:number|id))?\s*[:=]?\s*['\"]?((?=[A-Za-z_-]*\d)[A-Za-z0-9_-]{2,64})",
    re.IGNORECASE,
)
_CONTAINERS = ("data", "userInfo", "user", "error", "result")


class OwnershipConflict(PermanentError):
    """The account that exists downstream belongs to someone else: never adopted."""


def same_employee(left: str, right: str) -> bool:
    """Employee numbers compare without surrounding spaces and letter case (directories fold case)."""
    return left.strip().casefold() == right.strip().casefold()


def _numbers_in(data: Any, depth: int = 0) -> list[str]:
    found: list[str] = []
    if not isinstance(data, dict) or depth > 2:
        return found
    for key, value in data.items():
        if isinstance(key, str) and key.lower() in EMPLOYEE_KEYS and isinstance(value, str | int):
            if str(value).strip() and not isinstance(value, bool):
                found.append(str(value).strip())
    for key in _CONTAINERS:
        found.extend(_numbers_in(data.get(key), depth + 1))
    return found


def owners_in(body: Any, *, texts: tuple[str, ...] = ()) -> list[str]:
    """Employee numbers an answer names as an account's owner: fields first, then message texts."""
    owners = _numbers_in(body)
    for text in texts:
        owners.extend(match.group(1) for match in _OWNER_IN_TEXT.finditer(text or ""))
    return owners


def owner_conflict(owners: list[str], employee_number: str) -> str | None:
    """The first owner that is not ``employee_number``, or None (no owner named, or the same)."""
    for owner in owners:
        if not same_employee(owner, employee_number):
            return owner
    return None


def collision(*, system: str, what: str, account: str, owner: str, employee_number: str,
              hint: Message) -> OwnershipConflict:
    """The error for an existing account that belongs to another employee (``owner``, when known)."""
    account, owner = safe_string(account)[:100], safe_string(owner)[:64]
    said = {"what": what, "account": account, "system": system, "employee": employee_number, "hint": hint}
    return OwnershipConflict(
        message("ownership.belongs_to", owner=owner, **said) if owner else message("ownership.another_account", **said),
        details={"collision": {"system": system, "account": account, "owner": owner}},
    )
