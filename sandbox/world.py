"""The sandbox's fake world: the accounts IDaaS, WeLink and Exchange hold, their tokens,
counters and injected faults, behind one lock.

Plain Python (no Django, no HTTP): :mod:`sandbox.server` turns requests into calls of
:class:`World` methods and their :class:`Reply` into responses. The behaviour follows the
table at the top of ``/work/shared/spec/downstream-apis.md`` and nothing else, so connectors
and sandbox agree only through that table.
"""

from __future__ import annotations

import logging
import math
import random
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.faults import SYSTEMS, Faults

logger = logging.getLogger("sandbox")

# Exchange reports the domain controller it asked in its "not found" message.
DOMAIN_CONTROLLER = "dc01.sandbox.local"
FALLBACK_MAIL_DOMAIN = "sandbox.local"
WELINK_TENANT = "sandbox-tenant"

IDAAS_USER_TYPES = frozenset({"employee", "supplier", "intern", "contractor"})
SAM_MAX_LENGTH = 20
_SAM_FORBIDDEN = set('"/\\[]:;|=,+*?<> ')
_ALIAS_ATOM = r"[A-Za-z0-9!#%*+\-/=?^_~]+"
_ALIAS_PATTERN = re.compile(rf"^{_ALIAS_ATOM}(\.{_ALIAS_ATOM})*$")
_ALIAS_MAX_LENGTH = 64
_WELINK_MOBILE = re.compile(r"^\+\d{1,4}-\d{4,20}$")
_COUNTRY_CODE = re.compile(r"^\+\d{1,4}$")
_DIGITS = re.compile(r"^\d{4,20}$")
_TOKEN_PRUNE_THRESHOLD = 10_000


def kv(**context: object) -> str:
    """key=value rendering for log lines (quoted when a value has spaces)."""
    parts = []
    for key, value in context.items():
        text = str(value)
        if not text or " " in text or "=" in text:
            text = '"' + text.replace('"', "'") + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


@dataclass(frozen=True)
class Credentials:
    """What the sandbox accepts. The defaults are demo values, safe to print."""

    idaas_account: str = "sandbox-idaas-account"
    idaas_secret: str = "sandbox-idaas-secret"  # noqa: S105 - public demo value
    welink_client_id: str = "sandbox-welink-client"
    welink_client_secret: str = "sandbox-welink-secret"  # noqa: S105 - public demo value
    email_token: str = "sandbox-email-token"  # noqa: S105 - public demo value


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Plan:
    """What the fault switches decided for one request, drawn under the lock."""

    rate_limited: bool = False
    latency_s: float = 0.0
    error_status: int | None = None
    hold_s: float = 0.0


@dataclass
class _Token:
    system: str
    expires_at: float


@dataclass
class IdaasUser:
    employee_number: str
    user_name: str
    user_id: str
    name: str
    english_name: str
    email: str
    user_type: str
    ou: str
    enterprise_id: str
    created_at: str


@dataclass
class AdAccount:
    sam: str
    created_monotonic: float
    created_at: str


@dataclass
class WelinkUser:
    corp_user_id: str
    user_id: str
    user_name_cn: str
    user_name_en: str
    mobile_number: str
    user_email: str
    corp_dept_codes: list[str]
    created_at: str


@dataclass
class Mailbox:
    sam: str
    alias: str
    primary_smtp_address: str
    created_at: str


@dataclass
class _Counters:
    create_calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SYSTEMS, 0))
    duplicates_refused: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SYSTEMS, 0))
    token_fetches: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SYSTEMS, 0))
    requests: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SYSTEMS, 0))
    faults: dict[str, int] = field(default_factory=lambda: {"error": 0, "timeout": 0, "rate_limit": 0})
    faults_by_system: dict[str, dict[str, int]] = field(
        default_factory=lambda: {s: {"error": 0, "timeout": 0, "rate_limit": 0} for s in SYSTEMS}
    )
    # system -> account key -> create calls that reached the system's logic
    calls_by_key: dict[str, dict[str, int]] = field(default_factory=lambda: {s: {} for s in SYSTEMS})


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def ou_problem(ou: str) -> str | None:
    """Why ``ou`` is not a DN of the form ``OU=…[,OU=…],DC=…[,DC=…]``, or None."""
    if "，" in ou:
        return "ou contains a full-width comma '，'; DN parts must be separated by ASCII ','"
    seen_dc = False
    ou_count = dc_count = 0
    for part in ou.split(","):
        key, sep, value = part.strip().partition("=")
        key = key.strip().upper()
        if not sep or not value.strip():
            return f"ou part {part.strip()!r} is not KEY=value"
        if key == "OU":
            if seen_dc:
                return "ou must list OU= parts before DC= parts"
            ou_count += 1
        elif key == "DC":
            seen_dc = True
            dc_count += 1
        else:
            return f"ou part {part.strip()!r}: only OU= and DC= are accepted"
    if not ou_count or not dc_count:
        return "ou must contain at least one OU= and one DC= part"
    return None


def alias_problem(alias: str) -> str | None:
    if not alias:
        return "The Alias is empty."
    if len(alias) > _ALIAS_MAX_LENGTH:
        return f"The Alias '{alias}' is longer than {_ALIAS_MAX_LENGTH} characters."
    if not _ALIAS_PATTERN.match(alias):
        return (
            f"The Alias '{alias}' is invalid: it may contain only letters, digits, "
            "!#%*+-/=?^_~ and dots between characters."
        )
    return None


class World:
    """All state of the three fake systems. Every method is thread-safe."""

    def __init__(self, credentials: Credentials | None = None):
        self.credentials = credentials or Credentials()
        self._lock = threading.Lock()
        # Set when the server stops, so requests held by a timeout fault return at once.
        self.stopping = threading.Event()
        self._faults = Faults()
        self._rng = random.Random()  # noqa: S311 - faults, not security
        self._clear()

    def _clear(self) -> None:
        self._tokens: dict[str, _Token] = {}
        # Tokens issued since the last reset, even expired ones (the latest 10 000, so a
        # long-running sandbox stays bounded): tests check that none leaks.
        self._issued_tokens: deque[str] = deque(maxlen=_TOKEN_PRUNE_THRESHOLD)
        self._idaas: dict[str, IdaasUser] = {}  # employeeNumber -> user
        self._ad: dict[str, AdAccount] = {}  # sAMAccountName (lower case) -> AD account
        self._welink: dict[str, WelinkUser] = {}  # corpUserId -> user
        self._mailboxes: dict[str, Mailbox] = {}  # sAMAccountName (lower case) -> mailbox
        self._counters = _Counters()
        self._windows: dict[str, deque[float]] = {s: deque() for s in SYSTEMS}

    # --- control ---------------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        with self._lock:
            return self._faults

    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults
            self._rng = random.Random(faults.seed)  # noqa: S311 - faults, not security
            for window in self._windows.values():
                window.clear()
        logger.info("sandbox faults set %s", kv(**faults.as_dict()))

    def reset(self) -> None:
        """Forget accounts, tokens, counters and faults."""
        with self._lock:
            self._clear()
            self._faults = Faults()
            self._rng = random.Random()  # noqa: S311 - faults, not security
        logger.info("sandbox reset")

    def expire_tokens(self) -> int:
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
        logger.info("sandbox tokens expired %s", kv(count=count))
        return count

    def issued_tokens(self) -> list[str]:
        """Every access token issued since the last reset (also expired ones), oldest first.

        Read-only, for tests that check no token reaches logs, log rows or API answers; not
        served over HTTP, so the control endpoints never hand out live tokens.
        """
        with self._lock:
            return list(self._issued_tokens)

    def wait(self, seconds: float) -> None:
        """Sleep, but return early when the server stops."""
        if seconds > 0:
            self.stopping.wait(seconds)

    def plan(self, system: str, *, data_call: bool) -> Plan:
        """Decide the faults of one request of ``system``.

        Every request of a faulted system gets the latency and counts against the rate
        limit; only data calls (look-ups and creates, not token fetches) can get an
        injected error or timeout. Random draws happen in request order from the seeded
        generator, two per data call, so a sequential client sees the same faults each run.
        """
        with self._lock:
            self._counters.requests[system] += 1
            faults = self._faults
            if not faults.applies_to(system):
                return Plan()
            if faults.rate_limit_per_s:
                now = time.monotonic()
                window = self._windows[system]
                while window and window[0] <= now - 1.0:
                    window.popleft()
                if len(window) >= faults.rate_limit_per_s:
                    self._count_fault(system, "rate_limit")
                    return Plan(rate_limited=True)
                window.append(now)
            latency = faults.latency_ms / 1000
            if not data_call:
                return Plan(latency_s=latency)
            error_draw, timeout_draw = self._rng.random(), self._rng.random()
            if error_draw < faults.error_rate:
                self._count_fault(system, "error")
                return Plan(latency_s=latency, error_status=self._rng.choice((500, 503)))
            if timeout_draw < faults.timeout_rate:
                self._count_fault(system, "timeout")
                return Plan(latency_s=latency, hold_s=faults.timeout_hold_ms / 1000)
            return Plan(latency_s=latency)

    def _count_fault(self, system: str, kind: str) -> None:
        self._counters.faults[kind] += 1
        self._counters.faults_by_system[system][kind] += 1

    # --- tokens ----------------------------------------------------------------------
    def _issue_token(self, system: str) -> tuple[str, int]:
        lifetime = self._faults.token_lifetime_s(system)
        now = time.monotonic()
        if len(self._tokens) > _TOKEN_PRUNE_THRESHOLD:
            self._tokens = {k: t for k, t in self._tokens.items() if t.expires_at > now}
        token = f"sbx-{system}-{secrets.token_urlsafe(24)}"
        self._tokens[token] = _Token(system=system, expires_at=now + lifetime)
        self._issued_tokens.append(token)
        self._counters.token_fetches[system] += 1
        return token, math.ceil(lifetime)

    def _token_valid(self, system: str, token: str) -> bool:
        entry = self._tokens.get(token)
        return entry is not None and entry.system == system and entry.expires_at > time.monotonic()

    # --- IDaaS -----------------------------------------------------------------------
    def idaas_token(self, body: Any) -> Reply:
        attributes = body.get("data", {}).get("attributes", {}) if isinstance(body, dict) else {}
        if not isinstance(attributes, dict):
            attributes = {}
        account, secret = attributes.get("account"), attributes.get("secret")
        if account != self.credentials.idaas_account or secret != self.credentials.idaas_secret:
            logger.info("sandbox token refused %s", kv(system="idaas"))
            return Reply(401, {"code": "401", "message": "invalid account or secret"})
        with self._lock:
            token, expires_in = self._issue_token("idaas")
        return Reply(201, {"code": "201", "access_token": token, "expires_in": expires_in})

    def idaas_onboard(self, enterprise_id: str, authorization: str, body: Any) -> Reply:
        with self._lock:
            authorized = self._token_valid("idaas", authorization)
        if not authorized:
            return Reply(401, {"code": "401", "message": "token missing, invalid or expired"})
        info = body.get("userInfo") if isinstance(body, dict) else None
        if not isinstance(info, dict):
            return Reply(400, {"code": "400", "message": "userInfo (an object) is required"})
        extends = info.get("userExtends")
        extends = extends if isinstance(extends, dict) else {}
        fields = {
            name: _text(info.get(name))
            for name in ("employeeNumber", "name", "englishName", "userName", "userType", "email", "mobile")
        }
        fields["userExtends.ou"] = _text(extends.get("ou"))
        missing = [name for name, value in fields.items() if not value]
        employee_number, user_name = fields["employeeNumber"], fields["userName"]
        with self._lock:
            self._counters.create_calls["idaas"] += 1
            if employee_number:
                calls = self._counters.calls_by_key["idaas"]
                calls[employee_number] = calls.get(employee_number, 0) + 1
            if missing:
                return Reply(400, {"code": "400", "message": f"required fields missing or empty: {', '.join(missing)}"})
            problem = self._idaas_problem(fields, info)
            if problem:
                return Reply(400, {"code": "400", "message": problem})
            if employee_number in self._idaas:
                self._counters.duplicates_refused["idaas"] += 1
                logger.info("sandbox create refused %s", kv(system="idaas", key=employee_number, reason="duplicate"))
                return Reply(409, {"code": "409", "message": "user already exists"})
            if user_name.lower() in self._ad:
                owner = next(
                    (u.employee_number for u in self._idaas.values() if u.user_name.lower() == user_name.lower()), "?"
                )
                return Reply(
                    400,
                    {"code": "400", "message": f"userName {user_name} is already used by employee {owner}"},
                )
            created_at = _now_iso()
            user = IdaasUser(
                employee_number=employee_number,
                user_name=user_name,
                user_id=f"idaas-{secrets.token_hex(8)}",
                name=fields["name"],
                english_name=fields["englishName"],
                email=fields["email"],
                user_type=fields["userType"],
                ou=fields["userExtends.ou"],
                enterprise_id=enterprise_id,
                created_at=created_at,
            )
            self._idaas[employee_number] = user
            # IDaaS provisions the AD account; Exchange sees it only after the replication lag.
            self._ad[user_name.lower()] = AdAccount(user_name, time.monotonic(), created_at)
        logger.info("sandbox account created %s", kv(system="idaas", key=employee_number, user_name=user_name))
        data = {"userId": user.user_id, "userName": user_name}
        return Reply(201, {"code": "201", "message": "created", "data": data})

    @staticmethod
    def _idaas_problem(fields: dict[str, str], info: dict[str, Any]) -> str | None:
        user_name = fields["userName"]
        if len(user_name) > SAM_MAX_LENGTH:
            return f"userName {user_name!r} is longer than {SAM_MAX_LENGTH} characters (AD sAMAccountName limit)"
        if set(user_name) & _SAM_FORBIDDEN or user_name.endswith("."):
            return f"userName {user_name!r} contains characters AD does not allow in a sAMAccountName"
        if fields["userType"] not in IDAAS_USER_TYPES:
            return f"userType {fields['userType']!r} is not one of {', '.join(sorted(IDAAS_USER_TYPES))}"
        local, at, domain = fields["email"].partition("@")
        if not at or not local or "." not in domain:
            return f"email {fields['email']!r} is not an address"
        country_code = info.get("mobileCountryCode")
        if country_code not in (None, "") and not (isinstance(country_code, str) and _COUNTRY_CODE.match(country_code)):
            return f"mobileCountryCode {country_code!r} must look like +86"
        if not _DIGITS.match(fields["mobile"]):
            return "mobile must be 4 to 20 digits (the country code goes in mobileCountryCode)"
        return ou_problem(fields["userExtends.ou"])

    # --- WeLink ----------------------------------------------------------------------
    def welink_ticket(self, body: Any) -> Reply:
        body = body if isinstance(body, dict) else {}
        client_id, client_secret = body.get("client_id"), body.get("client_secret")
        if not client_id:
            return Reply(200, {"code": "41579", "message": "client_id is empty"})
        if not client_secret:
            return Reply(200, {"code": "41580", "message": "client_secret is empty"})
        if client_id != self.credentials.welink_client_id or client_secret != self.credentials.welink_client_secret:
            logger.info("sandbox token refused %s", kv(system="welink"))
            return Reply(200, {"code": "10007", "message": "client_id or client_secret is wrong"})
        with self._lock:
            token, expires_in = self._issue_token("welink")
        return Reply(200, {"code": "0", "message": "ok", "access_token": token, "expires_in": expires_in})

    def _welink_auth(self, authorization: str) -> Reply | None:
        if not authorization:
            return Reply(200, {"code": "47101", "message": "token format error"})
        with self._lock:
            valid = self._token_valid("welink", authorization)
        if not valid:
            return Reply(200, {"code": "47103", "message": "token expired"})
        return None

    def welink_detail(self, authorization: str, body: Any) -> Reply:
        refused = self._welink_auth(authorization)
        if refused:
            return refused
        body = body if isinstance(body, dict) else {}
        user_id, corp_user_id, mobile = _text(body.get("userId")), _text(body.get("corpUserId")), _text(
            body.get("mobileNumber")
        )
        if not (user_id or corp_user_id or mobile):
            return Reply(200, {"code": "47003", "message": "userId, corpUserId or mobileNumber is required"})
        with self._lock:
            # Precedence as documented: userId > corpUserId > mobileNumber.
            if user_id:
                found = next((u for u in self._welink.values() if u.user_id == user_id), None)
            elif corp_user_id:
                found = self._welink.get(corp_user_id)
            else:
                found = next((u for u in self._welink.values() if u.mobile_number == mobile), None)
        if found is None:
            return Reply(200, {"code": "47012", "message": "no data"})
        # Real WeLink answers some endpoints with an int code: clients must compare str(code).
        return Reply(
            200,
            {
                "code": 0,
                "message": "ok",
                "data": {
                    "userId": found.user_id,
                    "corpUserId": found.corp_user_id,
                    "userNameCn": found.user_name_cn,
                    "userNameEn": found.user_name_en,
                    "mobileNumber": found.mobile_number,
                    "userEmail": found.user_email,
                    "corpDeptCodes": list(found.corp_dept_codes),
                    "userStatus": "3",
                },
            },
        )

    def welink_create(self, authorization: str, body: Any) -> Reply:
        refused = self._welink_auth(authorization)
        if refused:
            return refused
        if not isinstance(body, dict):
            return Reply(200, {"code": "47004", "message": "the body must be a JSON object"})
        corp_user_id = _text(body.get("corpUserId"))
        required = {
            "corpUserId": corp_user_id,
            "userNameCn": _text(body.get("userNameCn")),
            "mobileNumber": _text(body.get("mobileNumber")),
            "userEmail": _text(body.get("userEmail")),
        }
        missing = [name for name, value in required.items() if not value]
        dept_codes = body.get("corpDeptCodes")
        if not (isinstance(dept_codes, list) and dept_codes and all(_text(c) for c in dept_codes)):
            missing.append("corpDeptCodes")
        with self._lock:
            if corp_user_id:
                calls = self._counters.calls_by_key["welink"]
                calls[corp_user_id] = calls.get(corp_user_id, 0) + 1
            self._counters.create_calls["welink"] += 1
            if missing:
                return Reply(200, {"code": "47004", "message": f"parameter missing or empty: {', '.join(missing)}"})
            if not _WELINK_MOBILE.match(required["mobileNumber"]):
                return Reply(200, {"code": "47008", "message": "mobileNumber must look like +86-13800138000"})
            local, at, domain = required["userEmail"].partition("@")
            if not at or not local or "." not in domain:
                return Reply(200, {"code": "47008", "message": "userEmail is not an address"})
            if corp_user_id in self._welink:
                self._counters.duplicates_refused["welink"] += 1
                logger.info("sandbox create refused %s", kv(system="welink", key=corp_user_id, reason="duplicate"))
                return Reply(200, {"code": "47004", "message": "user already exists"})
            user = WelinkUser(
                corp_user_id=corp_user_id,
                user_id=f"{corp_user_id.lower()}@{WELINK_TENANT}",
                user_name_cn=required["userNameCn"],
                user_name_en=_text(body.get("userNameEn")),
                mobile_number=required["mobileNumber"],
                user_email=required["userEmail"],
                corp_dept_codes=[_text(c) for c in dept_codes],  # type: ignore[union-attr]
                created_at=_now_iso(),
            )
            self._welink[corp_user_id] = user
        logger.info("sandbox account created %s", kv(system="welink", key=corp_user_id))
        return Reply(200, {"code": "0", "message": "ok", "userId": user.user_id})

    # --- Exchange --------------------------------------------------------------------
    def exchange_enable(self, authorization: str, body: Any) -> Reply:
        if authorization != self.credentials.email_token:
            return Reply(401, {"Message": "Authorization has been denied for this request."})
        items = body.get("EnableMailboxList") if isinstance(body, dict) else None
        if not (isinstance(items, list) and items and all(isinstance(i, dict) for i in items)):
            return Reply(400, {"Message": "EnableMailboxList must be a non-empty list of objects"})
        success: list[dict[str, str]] = []
        fail: list[str] = []
        with self._lock:
            lag = self._faults.replication_lag_ms / 1000
            for item in items:
                outcome = self._enable_one(_text(item.get("SAMAccountName")), _text(item.get("Alias")), lag)
                if isinstance(outcome, str):
                    fail.append(outcome)
                else:
                    success.append(outcome)
        return Reply(200, {"jsonValue": {"success": success, "fail": fail}})

    def _enable_one(self, sam: str, alias: str, lag_s: float) -> dict[str, str] | str:
        """Enable one mailbox (lock held); a dict on success, the error text on failure."""
        self._counters.create_calls["email"] += 1
        if not sam:
            return "Cannot bind argument to parameter 'Identity' because it is an empty string."
        calls = self._counters.calls_by_key["email"]
        calls[sam] = calls.get(sam, 0) + 1
        problem = alias_problem(alias)
        if problem:
            return f"{problem} The operation on '{sam}' was rejected; correct the Alias and try again."
        key = sam.lower()
        ad_account = self._ad.get(key)
        if ad_account is None or time.monotonic() - ad_account.created_monotonic < lag_s:
            return (
                f"The operation couldn't be performed because object '{sam}' couldn't be found on "
                f"'{DOMAIN_CONTROLLER}'."
            )
        if key in self._mailboxes:
            self._counters.duplicates_refused["email"] += 1
            return (
                "This task does not support recipients of this type. The specified recipient "
                f"{sam} is of type UserMailbox. Please make sure that this recipient matches the "
                "required recipient type for this task."
            )
        owner = next((m for m in self._mailboxes.values() if m.alias.lower() == alias.lower()), None)
        domain = self._mail_domain(ad_account.sam)
        address = f"{alias}@{domain}"
        if owner is not None:
            return (
                f'The proxy address "SMTP:{address}" is already being used by the proxy addresses or '
                f'LegacyExchangeDN of "{owner.sam}". Please choose another proxy address.'
            )
        self._mailboxes[key] = Mailbox(
            sam=ad_account.sam, alias=alias, primary_smtp_address=address, created_at=_now_iso()
        )
        logger.info("sandbox account created %s", kv(system="email", key=sam, alias=alias))
        return {"SAMAccountName": ad_account.sam, "Alias": alias, "PrimarySmtpAddress": address}

    def _mail_domain(self, sam: str) -> str:
        user = next((u for u in self._idaas.values() if u.user_name.lower() == sam.lower()), None)
        if user is not None and "@" in user.email:
            return user.email.rpartition("@")[2]
        return FALLBACK_MAIL_DOMAIN

    # --- state -----------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Accounts per system (with the create calls each received) and the counters."""
        with self._lock:
            counters = self._counters
            calls = counters.calls_by_key
            lag = self._faults.replication_lag_ms / 1000
            now = time.monotonic()
            idaas = [
                {
                    "employeeNumber": u.employee_number,
                    "userName": u.user_name,
                    "userId": u.user_id,
                    "name": u.name,
                    "englishName": u.english_name,
                    "email": u.email,
                    "userType": u.user_type,
                    "ou": u.ou,
                    "enterpriseId": u.enterprise_id,
                    "created_at": u.created_at,
                    "create_calls": calls["idaas"].get(u.employee_number, 0),
                }
                for u in self._idaas.values()
            ]
            welink = [
                {
                    "corpUserId": u.corp_user_id,
                    "userId": u.user_id,
                    "userNameCn": u.user_name_cn,
                    "mobileNumber": u.mobile_number,
                    "userEmail": u.user_email,
                    "corpDeptCodes": list(u.corp_dept_codes),
                    "created_at": u.created_at,
                    "create_calls": calls["welink"].get(u.corp_user_id, 0),
                }
                for u in self._welink.values()
            ]
            email = [
                {
                    "SAMAccountName": m.sam,
                    "Alias": m.alias,
                    "PrimarySmtpAddress": m.primary_smtp_address,
                    "created_at": m.created_at,
                    "create_calls": calls["email"].get(m.sam, 0),
                }
                for m in self._mailboxes.values()
            ]
            ad = [
                {
                    "SAMAccountName": a.sam,
                    "created_at": a.created_at,
                    "visible_to_exchange": now - a.created_monotonic >= lag,
                }
                for a in self._ad.values()
            ]
            totals = {
                "create_calls": {**counters.create_calls, "all": sum(counters.create_calls.values())},
                "duplicates_refused": {
                    **counters.duplicates_refused,
                    "all": sum(counters.duplicates_refused.values()),
                },
                "faults": dict(counters.faults),
                "faults_by_system": {s: dict(v) for s, v in counters.faults_by_system.items()},
                "token_fetches": {**counters.token_fetches, "all": sum(counters.token_fetches.values())},
                "requests": {**counters.requests, "all": sum(counters.requests.values())},
            }
            return {
                "accounts": {"idaas": idaas, "welink": welink, "email": email},
                "ad_accounts": ad,
                "create_calls_by_key": {s: dict(v) for s, v in calls.items()},
                "totals": totals,
                "faults": self._faults.as_dict(),
                "live_tokens": sum(1 for t in self._tokens.values() if t.expires_at > now),
            }
