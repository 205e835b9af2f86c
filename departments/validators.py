"""Validation of AD distinguished names used as OUs.

An OU is where IDaaS creates the new hire's AD account, so it is a trust boundary: a mapping
pointing at ``OU=Domain Controllers`` would put an ordinary person's account among the domain
controllers. :func:`validate_ou` (used by the model field, hence the admin form, the API
serializer and the CSV loader) checks

1. the syntax: ``OU=…[,OU=…],DC=…[,DC=…]`` with ASCII commas (``CN=`` for containers);
2. the domain: the DC= parts equal ``DC=<IDAAS_DC1>,DC=<IDAAS_DC2>`` (skipped when both
   settings are empty);
3. the place: not one of AD's built-in containers (:data:`SENSITIVE_CONTAINERS`), nor under
   one, unless the OU ends with a DN listed in ``ALLOWED_OU_SUFFIXES``.

Settings are read at validation time, so a changed setting (or a test's override) applies
at once. Names compare case-insensitively, after undoing DN escapes (``\\20``, ``\\,``) and
ignoring whitespace around ``=`` and ``,``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# One RDN: OU=… or DC=… (CN= is allowed for containers). Values may contain anything
# but an unescaped ASCII comma; the full-width comma "，" the predecessor's data used is
# *not* a separator, so it is refused explicitly below. Whitespace around "=" is tolerated.
_RDN = re.compile(r"^(OU|DC|CN)\s*=\s*(?:[^,\\\s]|\\.)(?:[^,\\]|\\.)*$", re.IGNORECASE | re.DOTALL)
# Split on commas that are not escaped (OU=R\,D is one RDN).
_SEPARATOR = re.compile(r"(?<!\\),")
_ESCAPE = re.compile(r"\\([0-9A-Fa-f]{2}|.)", re.DOTALL)

# (type, name) -> why it is refused. Matched anywhere in the DN (at any depth).
SENSITIVE_CONTAINERS: dict[tuple[str, str], Any] = {
    ("OU", "domain controllers"): gettext_lazy("the domain controllers' OU"),
    ("CN", "builtin"): gettext_lazy("the built-in security groups' container"),
    ("CN", "computers"): gettext_lazy("the default container of computer accounts"),
    ("CN", "system"): gettext_lazy("the directory's system container"),
    ("CN", "program data"): gettext_lazy("the applications' data container"),
    ("CN", "foreignsecurityprincipals"): gettext_lazy("the container of principals from trusted domains"),
    ("CN", "managed service accounts"): gettext_lazy("the container of managed service accounts"),
}
# Matched only directly under the domain root (CN=Users,DC=…): the default container of
# users and of the domain's administrative groups.
SENSITIVE_AT_ROOT: dict[tuple[str, str], Any] = {
    ("CN", "users"): gettext_lazy("the default container of users and of the domain's admin groups"),
}

Rdn = tuple[str, str]  # (type upper-cased, name normalised for comparison)


def _unescape(text: str) -> str:
    """A DN value with its escapes undone: ``\\,`` -> ``,``, ``\\20`` -> `` ``, UTF-8 hex pairs."""
    out = bytearray()
    position = 0
    for match in _ESCAPE.finditer(text):
        out += text[position : match.start()].encode("utf-8", "surrogatepass")
        token = match.group(1)
        out += bytes.fromhex(token) if len(token) == 2 else token.encode("utf-8", "surrogatepass")
        position = match.end()
    out += text[position:].encode("utf-8", "surrogatepass")
    return out.decode("utf-8", "replace")


def _normalise(part: str) -> Rdn:
    kind, _, name = part.partition("=")
    return kind.strip().upper(), " ".join(_unescape(name).split()).casefold()


def _split(value: str) -> list[str]:
    return [part.strip() for part in _SEPARATOR.split(value)]


def parse_dn(value: str) -> list[Rdn]:
    """The RDNs of a syntactically valid DN, normalised for comparison (leaf first)."""
    return [_normalise(part) for part in _split(value)]


def configured_domain() -> list[str]:
    """The domain components new accounts belong to: [IDAAS_DC1, IDAAS_DC2] without blanks."""
    values = (getattr(settings, "IDAAS_DC1", ""), getattr(settings, "IDAAS_DC2", ""))
    return [str(value).strip() for value in values if str(value or "").strip()]


def group_suffixes(entries: Sequence[str]) -> list[str]:
    """The DNs of ``ALLOWED_OU_SUFFIXES``.

    The setting is read as a comma-separated list, which also splits each DN at its commas;
    the pieces are joined again and cut into DNs where an OU=/CN= part follows a DC= part:
    ``CN=Users,DC=example,DC=com,OU=Domain Controllers,DC=example,DC=com`` is two DNs.
    """
    parts = [part for part in _split(",".join(entry for entry in entries if entry.strip())) if part]
    groups: list[list[str]] = []
    previous_was_dc = False
    for part in parts:
        is_dc = part.upper().replace(" ", "").startswith("DC=")
        if not groups or (previous_was_dc and not is_dc):
            groups.append([])
        groups[-1].append(part)
        previous_was_dc = is_dc
    return [",".join(group) for group in groups]


def syntax_problem(value: str) -> str | None:
    """Why ``value`` is not a DN of the form OU=…,DC=…,DC=…, or None."""
    if not value or not value.strip():
        return _("The OU must not be empty; give a DN such as OU=研发部,DC=example,DC=com.")
    if "，" in value:
        return _("The OU contains a full-width comma '，'; AD separates DN parts with an ASCII comma ','.")
    parts = _split(value)
    if any(not _RDN.match(part) for part in parts):
        return _("'%(value)s' is not a valid DN: write it as OU=…,DC=…,DC=… with ASCII commas.") % {"value": value}
    if not parts[0].upper().startswith(("OU", "CN")):
        return _("The DN must start with OU= (or CN=) naming the unit.")
    is_dc = [part.upper().startswith("DC") for part in parts]
    if not any(is_dc):
        return _("The DN must end with the domain components, e.g. DC=example,DC=com.")
    first_dc = is_dc.index(True)
    if not all(is_dc[first_dc:]):
        return "The domain components (DC=…) must come last, after every OU=, e.g. OU=研发部,DC=example,DC=com."
    return None


def allowed_suffixes() -> list[list[Rdn]]:
    """The parsed ``ALLOWED_OU_SUFFIXES`` (entries that are not valid DNs are ignored here;
    the system check ``departments.E001`` reports them)."""
    entries = getattr(settings, "ALLOWED_OU_SUFFIXES", None) or []
    if isinstance(entries, str):
        entries = [entries]
    return [parse_dn(dn) for dn in group_suffixes(entries) if syntax_problem(dn) is None]


def _sensitive_container(rdns: list[Rdn]) -> tuple[list[Rdn], str] | None:
    """The first built-in container the DN is or lies in (its DN and why), or None."""
    domain = [rdn for rdn in rdns if rdn[0] == "DC"]
    path = [rdn for rdn in rdns if rdn[0] != "DC"]
    # From the domain root down: path[-1] is directly under the root.
    for depth, rdn in enumerate(reversed(path)):
        reason = SENSITIVE_CONTAINERS.get(rdn) or (SENSITIVE_AT_ROOT.get(rdn) if depth == 0 else None)
        if reason:
            container = path[len(path) - 1 - depth :]
            return container + domain, reason
    return None


def _check_domain(value: str, rdns: list[Rdn], expected: list[str]) -> None:
    if not expected:
        return
    if [name for kind, name in rdns if kind == "DC"] != [" ".join(name.split()).casefold() for name in expected]:
        wanted = ",".join(f"DC={name}" for name in expected)
        given = ",".join(part for part in _split(value) if part.upper().startswith("DC"))
        raise ValidationError(
            _("The OU is in the domain %(given)s, but accounts are created in %(wanted)s (settings IDAAS_DC1, "
              "IDAAS_DC2): write it as OU=<department>,…,%(wanted)s.") % {"given": given, "wanted": wanted},
            code="foreign_domain",
        )


def _check_place(value: str, rdns: list[Rdn], expected: list[str]) -> None:
    found = _sensitive_container(rdns)
    if not found or any(rdns[-len(suffix) :] == suffix for suffix in allowed_suffixes() if suffix):
        return
    container, reason = found
    # The container's own spelling, as given (from the container up to the root).
    spelled = _split(value)[len(rdns) - len(container) :]
    domain = ",".join(f"DC={name}" for name in expected) or ",".join(
        part for part in spelled if part.upper().startswith("DC")
    )
    raise ValidationError(
        _("The OU is or lies inside %(container)s, %(reason)s: ordinary accounts must not be created there. Use "
          "the department's own OU, e.g. OU=<department>,%(domain)s; if this container is really intended, an "
          "administrator can list it in the ALLOWED_OU_SUFFIXES setting.")
        % {"container": ",".join(spelled), "reason": reason, "domain": domain},
        code="sensitive_container",
    )


def validate_ou(value: str) -> None:
    """Refuse (ValidationError, one message saying what is wrong and what to write) an OU
    that is not a DN, lies outside the configured domain, or in a built-in container."""
    problem = syntax_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid_dn")
    rdns = parse_dn(value)
    expected = configured_domain()
    _check_domain(value, rdns, expected)
    _check_place(value, rdns, expected)


__all__ = [
    "SENSITIVE_AT_ROOT",
    "SENSITIVE_CONTAINERS",
    "allowed_suffixes",
    "configured_domain",
    "group_suffixes",
    "parse_dn",
    "syntax_problem",
    "validate_ou",
]
