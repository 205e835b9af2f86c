"""Domain errors raised by services; ``accountsync.exceptions`` maps them to HTTP.

Kept free of DRF imports so services (and the engine's command, which cron starts every
few minutes) do not load the REST framework just to be able to raise one.
"""

from __future__ import annotations

from http import HTTPStatus


class DomainError(Exception):
    """A rule of the domain refused the operation; ``status_code`` says how to answer."""

    status_code: int = HTTPStatus.BAD_REQUEST
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code


class ConflictError(DomainError):
    status_code: int = HTTPStatus.CONFLICT
    code = "conflict"
