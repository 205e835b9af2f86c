"""The one error family: every domain error the product raises, in one module.

Two branches:

* :class:`DomainError` — a rule refused an operation a caller asked for (a conflict, an
  intake rejection). ``accountsync.exceptions.api_exception_handler`` maps each to its HTTP
  answer in one place; views never build error answers by hand.
* :class:`ConnectorError` — provisioning could not be done (yet): :class:`RetryableError`
  (try again later: timeouts, 5xx, rate limits, a missing mapping an operator can add) or
  :class:`PermanentError` (retrying cannot help until a person changes something). Raised by
  connectors, naming, mailbox allocation and the engine's preparation; the engine decides
  what each means for the task. Any other exception counts as retryable.

Kept free of Django REST framework imports so services (and the engine's command, which
cron starts every few minutes) do not load it just to be able to raise one. Naming, the
mailbox service, connectors and services import this module; it imports nothing of theirs.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar

from accountsync.messages import Message


class DomainError(Exception):
    """A rule of the domain refused the operation; ``status_code`` says how to answer."""

    status_code: int = HTTPStatus.BAD_REQUEST
    code = "invalid"

    def __init__(self, message: str | Message, *, code: str | None = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code


class ConflictError(DomainError):
    status_code: int = HTTPStatus.CONFLICT
    code = "conflict"


class ForbiddenError(DomainError):
    """The caller is authenticated but may not do this (a scope or an origin system it lacks)."""

    status_code: int = HTTPStatus.FORBIDDEN
    code = "forbidden"


class IntakeRejected(DomainError):
    """A create_accounts request that wrote nothing: the envelope or every user was refused.

    ``errors`` are the field-level entries (index, employeeNumber, field, message) the
    answer lists; the handler renders the create_accounts answer shape around them.
    """

    code = "rejected"

    def __init__(self, errors: list[dict[str, Any]], *, status_code: int = HTTPStatus.BAD_REQUEST):
        super().__init__("no user accepted", status_code=status_code)
        self.errors = errors


class Fault:
    """What a :class:`ConnectorError` says about the whole downstream system, not one person.

    ``""`` (the default) is about this task only. The others no task can fix by itself: the
    engine quarantines the system (``CREDENTIALS``, ``UNREACHABLE`` at once, ``TRANSPORT``
    after ``ACCOUNT_CREATION_QUARANTINE_AFTER`` in a row) or slows it down (``RATE_LIMITED``),
    and the task's attempt budget is not spent on it.
    """

    TASK = ""
    CREDENTIALS = "credentials"  # credentials, token endpoint or grants refused
    UNREACHABLE = "unreachable"  # TLS or DNS failure: the host cannot be reached as configured
    TRANSPORT = "transport"  # timeout, connection error, 5xx
    RATE_LIMITED = "rate_limited"  # 429, Retry-After, WeLink 48503

    SYSTEM_WIDE = frozenset({CREDENTIALS, UNREACHABLE})


class ConnectorError(Exception):
    """Base of provisioning errors. ``details`` is JSON-like and must already be redacted.

    ``fault`` (see :class:`Fault`) says whether the error is about the whole system;
    ``retry_after`` is the seconds a rate-limited answer asked us to wait, if it said.
    """

    retryable: ClassVar[bool] = True

    def __init__(
        self,
        message: str | Message,
        *,
        details: dict[str, Any] | None = None,
        fault: str = "",
        retry_after: float | None = None,
    ):
        # A Message of the catalog (rendered in each reader's language) or a plain text.
        self.msg = message if isinstance(message, Message) else Message.text(message)
        self.message = self.msg.render("en")  # for logs and tracebacks
        super().__init__(self.message)
        self.details = details or {}
        self.fault = fault
        self.retry_after = retry_after


class RetryableError(ConnectorError):
    """Try again later: timeouts, 5xx, rate limits, a missing mapping an operator can add."""

    retryable = True


class PermanentError(ConnectorError):
    """Retrying cannot help until a person changes something: bad data, bad credentials."""

    retryable = False


class ConfigurationMissing(RetryableError):
    """The task cannot run until an operator adds *our* configuration (a department or an
    employee-type mapping). ``waiting_for`` is its code and parameters, e.g.
    ``{"code": "department_mapping", "department_code": "120000"}``: the task waits,
    unclaimed and without spending attempts, until the mapping is saved."""

    def __init__(
        self, message: str | Message, *, waiting_for: dict[str, str], details: dict[str, Any] | None = None
    ):
        super().__init__(message, details=details)
        self.waiting_for = waiting_for
