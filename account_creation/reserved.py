"""Reserved and privileged account names never reach a directory.

``settings.RESERVED_ACCOUNT_NAMES`` lists names no hire may be given: built-in directory
accounts (administrator, krbtgt, guest …) and role mailboxes (postmaster, abuse …). A
directory answers "already exists" for them, which the connectors adopt as success, so
without this check a built-in account would be recorded as a new hire's.

Names are compared case-insensitively with the IDaaS userName (first pinyin letter +
employee number, later the AD sAMAccountName and Exchange SAMAccountName), the mailbox
local part before any collision suffix and the allocated one (which is also the Exchange
alias). Intake rejects such a person (api/serializers.py), the mailbox allocator never hands
out a reserved local part (services/mailbox.py), and the engine refuses the task again
before any downstream call (services/prepare.py), for tasks accepted before the list changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings

from account_creation.messages import message
from account_creation.naming import email_local_part, idaas_username
from accountsync.errors import PermanentError
from accountsync.messages import Message

SETTING = "RESERVED_ACCOUNT_NAMES"


@lru_cache(maxsize=8)
def _parse(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(value.strip().casefold() for value in values if value and value.strip())


def reserved_names() -> frozenset[str]:
    """The configured deny-list, lower-case."""
    return _parse(tuple(getattr(settings, SETTING, ()) or ()))


def is_reserved(name: str) -> bool:
    return bool(name) and name.strip().casefold() in reserved_names()


@dataclass(frozen=True)
class ReservedName:
    """A reserved name a person would get: which one, and the input field that causes it."""

    kind: str  # "username" or "mailbox"
    name: str
    field: str  # employeeNumber or employeeName

    @property
    def text(self) -> Message:
        code = "prepare.reserved_username" if self.kind == "username" else "prepare.reserved_mailbox"
        return message(code, name=self.name, setting=SETTING)

    @property
    def message(self) -> str:
        """The text in the active language (a field error of the request)."""
        return str(self.text)

    def error(self) -> PermanentError:
        return PermanentError(
            self.text,
            details={"reserved_name": self.name},
        )


def username_reserved(username: str) -> ReservedName | None:
    return ReservedName("username", username, "employeeNumber") if is_reserved(username) else None


def local_part_reserved(local_part: str) -> ReservedName | None:
    return ReservedName("mailbox", local_part, "employeeName") if is_reserved(local_part) else None


def person_reserved_names(employee_number: str, employee_name: str) -> list[ReservedName]:
    """The reserved names this person would get (at intake: before any task exists).

    The userName is built only when the employee number could complete a reserved name (a
    cheap test); names that cannot be converted are left to the engine, which explains them.
    """
    names = reserved_names()
    if not names:
        return []
    found: list[ReservedName] = []
    number = employee_number.strip().casefold()
    if any(name[1:] == number for name in names):
        try:
            issue = username_reserved(idaas_username(employee_name, employee_number))
        except PermanentError:
            issue = None
        if issue is not None:
            found.append(issue)
    try:
        issue = local_part_reserved(email_local_part(employee_name))
    except PermanentError:
        issue = None
    if issue is not None:
        found.append(issue)
    return found
