"""The one small interface every downstream connector implements.

A connector turns a :class:`ProvisioningRequest` (everything resolved from the database
beforehand: names, address, mappings) into an account, or raises :class:`RetryableError`
or :class:`PermanentError` with a message an operator can act on. Connectors never touch
the ORM; the engine decides what an error means for the task. Any other exception counts
as retryable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

# The error family lives in accountsync.errors; connectors raise these.
from accountsync.errors import ConnectorError, PermanentError, RetryableError

__all__ = [
    "AccountResult",
    "Connector",
    "ConnectorError",
    "PermanentError",
    "Person",
    "ProvisioningRequest",
    "RetryableError",
]


@dataclass(frozen=True)
class Person:
    employee_number: str
    employee_name: str
    phone_number: str
    country: str
    partner_company: str
    employee_type: str
    department_code: str


@dataclass(frozen=True)
class ProvisioningRequest:
    """What a connector needs to create one account, resolved by the engine."""

    task_id: int
    account_type: str
    person: Person
    username: str  # IDaaS userName, later the AD sAMAccountName (<= 20 characters)
    english_name: str  # full pinyin
    email: str  # the allocated address, shared by every system
    email_local_part: str  # also the Exchange Alias
    ou: str = ""  # AD OU from the department mapping (IDaaS)
    corp_dept_code: str = ""  # department code WeLink knows (WeLink)
    idaas_user_type: str = ""
    welink_person_type: str = ""
    attempt: int = 1


@dataclass
class AccountResult:
    """What operators need of a created account (never the raw response)."""

    account_id: str
    username: str
    email: str
    adopted: bool = False  # True when the account existed already and was taken over
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not data["extra"]:
            data.pop("extra")
        return data


class Connector(Protocol):
    account_type: str

    def create(self, request: ProvisioningRequest) -> AccountResult:
        """Create the account, or adopt it when it exists already."""
        ...
