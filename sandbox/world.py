"""The sandbox's fake world: the accounts IDaaS, WeLink and Exchange hold, their tokens,
counters and injected faults, behind one lock.

Plain Python (no Django settings, no HTTP): :mod:`sandbox.server` turns requests into calls
of :class:`World` methods (as the routes of :mod:`sandbox.systems` declare) and their
:class:`Reply` into responses. Counters and rate-limit windows exist per simulated system. The behaviour follows the
table at the top of ``/work/shared/spec/downstream-apis.md`` and nothing else, so connectors
and sandbox agree only through that table.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox.accounts import (
    FALLBACK_MAIL_DOMAIN,
    WELINK_MOBILE,
    WELINK_TENANT,
    AdAccount,
    IdaasUser,
    Mailbox,
    WelinkUser,
    alias_problem,
    exchange_address_taken,
    exchange_has_mailbox,
    exchange_not_found,
    idaas_user_problem,
)
from sandbox.counters import Counters
from sandbox.faults import Faults
from sandbox.systems import Credentials, Reply, simulated_systems

logger = logging.getLogger("sandbox")

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


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


class World:
    """All state of the fake systems. Every method is thread-safe.

    ``systems`` names the simulated systems to keep counters for (default: every system of
    :data:`sandbox.systems.simulated_systems` when the world is built).
    """

    def __init__(self, credentials: Credentials | None = None, systems: tuple[str, ...] | None = None):
        self.credentials = credentials or Credentials()
        self.systems: tuple[str, ...] = simulated_systems.names() if systems is None else tuple(systems)
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
        self._counters = Counters.zero(self.systems)
        self._windows: dict[str, deque[float]] = {s: deque() for s in self.systems}
        # Arrival times (monotonic) of the requests each system served (not the ones it refused
        # as rate-limited), the latest 100 000: tests check a rate limit over any window.
        self._served_at: dict[str, deque[float]] = {s: deque(maxlen=100_000) for s in self.systems}

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

    def served_times(self, system: str) -> list[float]:
        """Monotonic arrival times of the requests ``system`` served since the last reset."""
        with self._lock:
            return list(self._served_at[system])

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
                self._served_at[system].append(time.monotonic())
                return Plan()
            if faults.rate_limit_per_s:
                now = time.monotonic()
                window = self._windows[system]
                while window and window[0] <= now - 1.0:
                    window.popleft()
                if len(window) >= faults.rate_limit_per_s:
                    self._counters.count_fault(system, "rate_limit")
                    return Plan(rate_limited=True)
                window.append(now)
            self._served_at[system].append(time.monotonic())
            latency = faults.latency_ms / 1000
            if not data_call:
                return Plan(latency_s=latency)
            error_draw, timeout_draw = self._rng.random(), self._rng.random()
            if error_draw < faults.error_rate:
                self._counters.count_fault(system, "error")
                return Plan(latency_s=latency, error_status=self._rng.choice((500, 503)))
            if timeout_draw < faults.timeout_rate:
                self._counters.count_fault(system, "timeout")
                return Plan(latency_s=latency, hold_s=faults.timeout_hold_ms / 1000)
            return Plan(latency_s=latency)

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
            self._counters.count_create("idaas", employee_number)
            if missing:
                return Reply(400, {"code": "400", "message": f"required fields missing or empty: {', '.join(missing)}"})
            problem = idaas_user_problem(fields, info)
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
        return Reply(200, {"code": 0, "message": "ok", "data": found.detail()})

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
            self._counters.count_create("welink", corp_user_id)
            if missing:
                return Reply(200, {"code": "47004", "message": f"parameter missing or empty: {', '.join(missing)}"})
            if not WELINK_MOBILE.match(required["mobileNumber"]):
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
        self._counters.count_create("email", sam)
        if not sam:
            return "Cannot bind argument to parameter 'Identity' because it is an empty string."
        problem = alias_problem(alias)
        if problem:
            return f"{problem} The operation on '{sam}' was rejected; correct the Alias and try again."
        key = sam.lower()
        ad_account = self._ad.get(key)
        if ad_account is None or time.monotonic() - ad_account.created_monotonic < lag_s:
            return exchange_not_found(sam)
        if key in self._mailboxes:
            self._counters.duplicates_refused["email"] += 1
            return exchange_has_mailbox(sam)
        owner = next((m for m in self._mailboxes.values() if m.alias.lower() == alias.lower()), None)
        domain = self._mail_domain(ad_account.sam)
        address = f"{alias}@{domain}"
        if owner is not None:
            return exchange_address_taken(address, owner.sam)
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
            idaas = [u.state(calls["idaas"].get(u.employee_number, 0)) for u in self._idaas.values()]
            welink = [u.state(calls["welink"].get(u.corp_user_id, 0)) for u in self._welink.values()]
            email = [m.state(calls["email"].get(m.sam, 0)) for m in self._mailboxes.values()]
            ad = [a.state(now=now, lag_s=lag) for a in self._ad.values()]
            return {
                "accounts": {"idaas": idaas, "welink": welink, "email": email},
                "ad_accounts": ad,
                "create_calls_by_key": {s: dict(v) for s, v in calls.items()},
                "totals": counters.totals(),
                "faults": self._faults.as_dict(),
                "live_tokens": sum(1 for t in self._tokens.values() if t.expires_at > now),
            }
