"""What the three HTTP connectors share: the session, timeouts, answers, tokens, redaction.

Creates are not idempotent, so nothing here retries a request on its own (no urllib3
``Retry``): a failed call becomes a :class:`RetryableError` or :class:`PermanentError` and
the engine decides. The only repeat is the connectors' "token expired: refetch once"
(:func:`post_with_token`).

This module owns the process-wide connector state the engine sizes and reads: the HTTP pool
size (:func:`set_pool_size`) and the count of fetched tokens (:func:`token_fetch_counts`).
It imports nothing from ``account_creation.connectors``' package or from the services.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError

from account_creation import countries
from account_creation.connectors.base import Person, ProvisioningRequest
from account_creation.messages import action as action_said
from account_creation.messages import message
from accountsync.errors import Fault, PermanentError, RetryableError
from accountsync.logging import kv
from accountsync.messages import Message
from accountsync.redaction import register_secret, safe_data, safe_string

logger = logging.getLogger(__name__)

# A connect timeout means the request never left: keep it short so a dead host fails fast.
CONNECT_TIMEOUT_MAX = 10.0
EXCERPT_CHARS = 300
DEFAULT_POOL_SIZE = 10


# --- sessions and timeouts -------------------------------------------------------------

_pool_lock = threading.Lock()
_pool_size = DEFAULT_POOL_SIZE


def pool_size() -> int:
    """Connections each connector's requests.Session keeps per host (>= engine threads)."""
    return _pool_size


def set_pool_size(size: int) -> bool:
    """Grow the pool size to ``size`` (it never shrinks); True when it grew.

    Sessions built before keep their pools: when this returns True, the caller rebuilds
    the connectors (``account_creation.connectors.configure_pool``).
    """
    global _pool_size
    with _pool_lock:
        if size > _pool_size:
            _pool_size = size
            return True
        return False


def http_timeout() -> tuple[float, float]:
    """(connect, read) seconds from ACCOUNT_CREATION_HTTP_TIMEOUT."""
    read = float(settings.ACCOUNT_CREATION_HTTP_TIMEOUT)
    return (min(CONNECT_TIMEOUT_MAX, read), read)


class CallGate(Protocol):
    """Waits before a downstream call until the system's rate limit allows it (the engine's RateGate)."""

    def before_call(self, system: str) -> None: ...


_call_gate: CallGate | None = None


def set_call_gate(gate: CallGate | None) -> None:
    """Install the gate every connector's calls pass (keyed by the session's account type)."""
    global _call_gate
    _call_gate = gate


class SystemSession(requests.Session):
    """A session that knows its account type, so the call gate knows whose limit applies."""

    account_type: str = ""


def build_session(base_url: str = "", account_type: str = "") -> requests.Session:
    """One session per connector: a connection pool as large as the engine's thread count.

    The environment's proxy settings for ``base_url`` are read once here; without this,
    requests looks up proxies and ~/.netrc again on every call (measured: 3.5 % of the
    engine's CPU at 32 threads).
    """
    size = pool_size()
    session = SystemSession()
    session.account_type = account_type
    if base_url:
        session.proxies.update(requests.utils.get_environ_proxies(base_url))
        session.trust_env = False
    adapter = HTTPAdapter(pool_connections=size, pool_maxsize=size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


# --- redaction ----------------------------------------------------------------------------


def safe(data: Any) -> Any:
    """What may go into details and logs: secrets redacted, phone numbers masked."""
    return safe_data(data)


def safe_text(text: object, limit: int = EXCERPT_CHARS) -> str:
    text = safe_string(str(text))
    return text if len(text) <= limit else text[:limit] + "…"


# --- answers ------------------------------------------------------------------------------


def response_code(body: Any) -> str:
    """The body's code as a string ("0" and 0 alike); gateway errors use ``errorCode``.

    Redacted and cut short: a code is compared with known values, stored and logged, so
    whatever a server puts there must not carry a secret into a log line.
    """
    if not isinstance(body, dict):
        return ""
    for key in ("code", "errorCode", "error_code"):
        value = body.get(key)
        if value is not None and value != "":
            return safe_text(str(value).strip(), CODE_CHARS)
    return ""


def response_message(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    for key in ("message", "Message", "msg", "errorMessage", "error_msg", "errmsg"):
        value = body.get(key)
        if value:
            return safe_text(value)
    return ""


CODE_CHARS = 40
_REQUEST_ID_HEADERS = ("X-Request-Id", "Request-Id", "X-Trace-Id", "X-Correlation-Id", "X-B3-TraceId")
_REQUEST_ID_KEYS = ("requestId", "request_id", "traceId", "trace_id")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")


def response_request_id(headers: Mapping[str, str] | None, body: Any) -> str:
    """The server's id of this request (a header or a body field), if it looks like an id."""
    candidates: list[Any] = [headers.get(name) for name in _REQUEST_ID_HEADERS] if headers else []
    if isinstance(body, dict):
        candidates.extend(body.get(key) for key in _REQUEST_ID_KEYS)
    for value in candidates:
        if isinstance(value, str | int) and not isinstance(value, bool):
            text = safe_text(str(value).strip(), 128)
            if _REQUEST_ID.match(text):
                return text
    return ""


@dataclass(frozen=True)
class Answer:
    """A downstream HTTP answer: status, the JSON body (None when not JSON), a redacted
    excerpt of the raw text and the server's request id."""

    status: int
    body: Any
    excerpt: str
    request_id: str = ""

    @property
    def code(self) -> str:
        return response_code(self.body)

    @property
    def message(self) -> str:
        return response_message(self.body)

    @property
    def is_json_object(self) -> bool:
        return isinstance(self.body, dict)

    def details(self, **extra: Any) -> dict[str, Any]:
        """What an error keeps of the answer: status, code, message, request id (redacted).

        Never the body or its other fields (a server may echo a secret anywhere in them);
        a body that is not JSON is quoted, redacted and short, in the error's message only.
        """
        details: dict[str, Any] = {"http_status": self.status}
        if self.code:
            details["code"] = self.code
        if self.message:
            details["message"] = self.message
        if self.request_id:
            details["request_id"] = self.request_id
        details.update(extra)
        return details


def post_json(
    session: requests.Session,
    url: str,
    payload: dict[str, Any],
    *,
    headers: dict[str, str],
    system: str,
    action: str,
    request_details: Any = None,
) -> Answer:
    """POST JSON and return the answer; transport failures, 429 and 5xx raise RetryableError.

    ``request_details`` is the redacted request body to attach to errors (never headers).
    """
    extra = {"request": request_details} if request_details is not None else {}
    gate, account_type = _call_gate, getattr(session, "account_type", "")
    if gate is not None and account_type:
        gate.before_call(account_type)
    started = time.monotonic()
    try:
        response = session.post(url, json=payload, headers=headers, timeout=http_timeout())
    except requests.Timeout as exc:
        sent = not isinstance(exc, requests.ConnectTimeout)
        logger.warning(kv(event="http_timeout", system=system, action=action, sent=sent))
        raise RetryableError(
            message("http.timeout_sent" if sent else "http.timeout_not_sent", system=system, action=action_said(action),
                    seconds=f"{http_timeout()[1 if sent else 0]:g}"),
            details={"error": type(exc).__name__, "maybe_applied": sent, **extra}, fault=Fault.TRANSPORT,
        ) from None
    except requests.RequestException as exc:
        logger.warning(kv(event="http_error", system=system, action=action, error=type(exc).__name__))
        unreachable = _unreachable(exc)
        raise RetryableError(
            message("http.unreachable_config" if unreachable else "http.unreachable", system=system,
                    action=action_said(action), detail=f"{type(exc).__name__}: {safe_text(exc, 200)}"),
            details={"error": type(exc).__name__, "maybe_applied": not unreachable, **extra},
            fault=Fault.UNREACHABLE if unreachable else Fault.TRANSPORT,
        ) from None
    elapsed_ms = int((time.monotonic() - started) * 1000)
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    answer = Answer(status=response.status_code, body=body, excerpt=safe_text(response.text),
                    request_id=response_request_id(response.headers, body))
    logger.info(kv(event="http_answer", system=system, action=action, status=answer.status,
                   code=answer.code or "-", ms=elapsed_ms))
    if answer.status == 429:
        raise RetryableError(
            message("http.rate_limited", system=system, action=action_said(action)),
            details=answer.details(**extra), fault=Fault.RATE_LIMITED,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    if answer.status >= 500:
        raise RetryableError(
            message("http.server_error", system=system, action=action_said(action), status=answer.status,
                    detail=f" ({answer.message})" if answer.message else ""),
            details=answer.details(maybe_applied=True, **extra), fault=Fault.TRANSPORT,
        )
    return answer


def _unreachable(exc: requests.RequestException) -> bool:
    """A TLS or DNS failure: no request to this host can succeed as configured."""
    if isinstance(exc, requests.exceptions.SSLError):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NameResolutionError)


RETRY_AFTER_MAX = 600.0


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds (delta-seconds or an HTTP date), capped; None when absent."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(RETRY_AFTER_MAX, max(0.0, seconds))


def malformed(answer: Answer, *, system: str, action: str, request_details: Any = None) -> RetryableError:
    """The error for a body that is not the JSON object the contract promises."""
    extra = {"request": request_details} if request_details is not None else {}
    return RetryableError(
        message("http.malformed", system=system, action=action_said(action), status=answer.status,
                excerpt=answer.excerpt[:80]),
        details=answer.details(maybe_applied=True, **extra),
    )


# --- tokens -------------------------------------------------------------------------------

# How long a permanent token failure (bad credentials, locked client) is remembered: calls in
# that window fail fast instead of hammering the token endpoint (WeLink locks the client).
TOKEN_FAILURE_MEMORY_SECONDS = 60.0
EARLY_REFRESH_SECONDS = 300.0


def token_lifetime(expires_in: Any, *, default: float) -> float:
    """Seconds to keep a token: ``expires_in - 300``, or half of a short lifetime."""
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError):
        seconds = default
    if seconds <= 0:
        seconds = default
    if seconds > EARLY_REFRESH_SECONDS:
        return seconds - EARLY_REFRESH_SECONDS
    return seconds / 2


_fetch_lock = threading.Lock()
_fetch_counts: dict[str, int] = {}


def token_fetch_counts() -> dict[str, int]:
    """Tokens this process fetched so far, per account type: a run stores the difference of two."""
    with _fetch_lock:
        return dict(_fetch_counts)


def _count_token_fetch(account_type: str) -> None:
    with _fetch_lock:
        _fetch_counts[account_type] = _fetch_counts.get(account_type, 0) + 1


class TokenCache:
    """One access token per process, shared by every thread.

    ``fetch`` returns ``(token, seconds_to_keep_it)``. One lock serialises fetching, so when
    many threads need a token at once exactly one fetches and the others reuse its result.
    A :class:`PermanentError` from ``fetch`` is remembered for ``failure_memory`` seconds.
    Each fetched token counts in :func:`token_fetch_counts` under ``account_type`` (if set).
    """

    def __init__(
        self,
        fetch: Callable[[], tuple[str, float]],
        *,
        system: str,
        account_type: str = "",
        failure_memory: float = TOKEN_FAILURE_MEMORY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._fetch = fetch
        self._system = system
        self._account_type = account_type
        self._failure_memory = failure_memory
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._valid_until = 0.0
        self._failure: PermanentError | None = None
        self._failure_until = 0.0

    def get(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token is not None and now < self._valid_until:
                return self._token
            if self._failure is not None and now < self._failure_until:
                raise PermanentError(
                    message("token.remembered", reason=self._failure.msg, seconds=f"{self._failure_memory:g}"),
                    details={**self._failure.details, "remembered": True}, fault=self._failure.fault,
                )
            self._token = None
            try:
                token, keep_for = self._fetch()
            except PermanentError as exc:
                self._failure, self._failure_until = exc, self._clock() + self._failure_memory
                raise
            register_secret(token)
            if self._account_type:
                _count_token_fetch(self._account_type)
            self._token, self._valid_until = token, self._clock() + keep_for
            self._failure = None
            logger.info(kv(event="token_fetched", system=self._system, valid_seconds=int(keep_for)))
            return token

    def invalidate(self, token: str) -> None:
        """Drop ``token`` when the server rejected it (unless another thread replaced it already)."""
        with self._lock:
            if self._token == token:
                self._token, self._valid_until = None, 0.0
                logger.info(kv(event="token_dropped", system=self._system))


def _http_401(answer: Answer) -> bool:
    return answer.status == 401


def post_with_token(
    session: requests.Session,
    url: str,
    payload: dict[str, Any],
    *,
    tokens: TokenCache,
    header: str,
    headers: Mapping[str, str],
    system: str,
    action: str,
    request_details: Any,
    on_rejected: Callable[[bool], None],
    rejected_again: str | Message,
    is_rejected: Callable[[Answer], bool] = _http_401,
    require_json: bool = False,
) -> Answer:
    """:func:`post_json` with the cached token in ``header``; a rejected token is refetched once.

    ``is_rejected(answer)`` says the server refused the token (default: HTTP 401). Each
    rejection drops the token and calls ``on_rejected(refreshed)`` (the connector logs it;
    ``refreshed`` is True on the second try); a second rejection raises
    ``RetryableError(rejected_again)``. With ``require_json``, a body that is not a JSON
    object raises :func:`malformed` before the rejection is looked at.
    """
    for refreshed in (False, True):
        token = tokens.get()
        answer = post_json(session, url, payload, headers={header: token, **headers}, system=system,
                           action=action, request_details=request_details)
        if require_json and not answer.is_json_object:
            raise malformed(answer, system=system, action=action, request_details=request_details)
        if not is_rejected(answer):
            return answer
        tokens.invalidate(token)
        on_rejected(refreshed)
    raise RetryableError(rejected_again, details=answer.details(request=request_details), fault=Fault.CREDENTIALS)


# --- people -------------------------------------------------------------------------------

_NON_DIGITS = re.compile(r"\D+")


def phone_parts(person: Person) -> tuple[str, str]:
    """(calling code, national digits): ("+86", "13800138000")."""
    return split_phone(person.phone_number, person.country)


def split_phone(phone_number: str, country: str) -> tuple[str, str]:
    """(calling code, national digits) of a number as given for a person of ``country``.

    A number given in international form (+86 138…, 0086 138…) loses its calling code.
    """
    code = countries.calling_code(country)
    raw = (phone_number or "").strip()
    digits = _NON_DIGITS.sub("", raw)
    code_digits = code.lstrip("+")
    if raw.startswith("+") and digits.startswith(code_digits):
        digits = digits[len(code_digits):]
    elif raw.startswith("00" + code_digits):
        digits = digits[2 + len(code_digits):]
    return code, digits


def log_context(request: ProvisioningRequest) -> dict[str, object]:
    """Who a log line is about (never the phone number)."""
    return {"task": request.task_id, "employee": request.person.employee_number, "attempt": request.attempt}


def dumps(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
