"""The accounts the simulated systems hold, and the input rules they check.

Plain data and pure functions: :class:`sandbox.world.World` keeps these records behind its
lock and asks the ``*_problem`` functions why a request is refused. Each record renders
itself for ``GET /_sandbox/state`` with :meth:`state`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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
WELINK_MOBILE = re.compile(r"^\+\d{1,4}-\d{4,20}$")
_COUNTRY_CODE = re.compile(r"^\+\d{1,4}$")
_DIGITS = re.compile(r"^\d{4,20}$")


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

    def state(self, create_calls: int) -> dict[str, Any]:
        return {
            "employeeNumber": self.employee_number,
            "userName": self.user_name,
            "userId": self.user_id,
            "name": self.name,
            "englishName": self.english_name,
            "email": self.email,
            "userType": self.user_type,
            "ou": self.ou,
            "enterpriseId": self.enterprise_id,
            "created_at": self.created_at,
            "create_calls": create_calls,
        }


@dataclass
class AdAccount:
    sam: str
    created_monotonic: float
    created_at: str

    def state(self, *, now: float, lag_s: float) -> dict[str, Any]:
        return {
            "SAMAccountName": self.sam,
            "created_at": self.created_at,
            "visible_to_exchange": now - self.created_monotonic >= lag_s,
        }


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

    def state(self, create_calls: int) -> dict[str, Any]:
        return {
            "corpUserId": self.corp_user_id,
            "userId": self.user_id,
            "userNameCn": self.user_name_cn,
            "mobileNumber": self.mobile_number,
            "userEmail": self.user_email,
            "corpDeptCodes": list(self.corp_dept_codes),
            "created_at": self.created_at,
            "create_calls": create_calls,
        }

    def detail(self) -> dict[str, Any]:
        """The ``data`` of a WeLink user-detail answer."""
        return {
            "userId": self.user_id,
            "corpUserId": self.corp_user_id,
            "userNameCn": self.user_name_cn,
            "userNameEn": self.user_name_en,
            "mobileNumber": self.mobile_number,
            "userEmail": self.user_email,
            "corpDeptCodes": list(self.corp_dept_codes),
            "userStatus": "3",
        }


@dataclass
class Mailbox:
    sam: str
    alias: str
    primary_smtp_address: str
    created_at: str

    def state(self, create_calls: int) -> dict[str, Any]:
        return {
            "SAMAccountName": self.sam,
            "Alias": self.alias,
            "PrimarySmtpAddress": self.primary_smtp_address,
            "created_at": self.created_at,
            "create_calls": create_calls,
        }


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


def idaas_user_problem(fields: dict[str, str], info: dict[str, Any]) -> str | None:
    """Why IDaaS refuses an onboarding whose required ``fields`` are all present, or None."""
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


# --- Exchange's failure texts (the items of ``jsonValue.fail``) -------------------------------
def exchange_not_found(sam: str) -> str:
    return f"The operation couldn't be performed because object '{sam}' couldn't be found on '{DOMAIN_CONTROLLER}'."


def exchange_has_mailbox(sam: str) -> str:
    return (
        "This task does not support recipients of this type. The specified recipient "
        f"{sam} is of type UserMailbox. Please make sure that this recipient matches the "
        "required recipient type for this task."
    )


def exchange_address_taken(address: str, owner_sam: str) -> str:
    return (
        f'The proxy address "SMTP:{address}" is already being used by the proxy addresses or '
        f'LegacyExchangeDN of "{owner_sam}". Please choose another proxy address.'
    )
