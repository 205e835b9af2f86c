"""Validation of AD distinguished names used as OUs."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

# One RDN: OU=… or DC=… (CN= is allowed for containers). Values may contain anything
# but an unescaped ASCII comma; the full-width comma "，" the predecessor's data used is
# *not* a separator, so it is refused explicitly below.
_RDN = re.compile(r"^(OU|DC|CN)=(?:[^,\\]|\\.)+$", re.IGNORECASE)
# Split on commas that are not escaped (OU=R\,D is one RDN).
_SEPARATOR = re.compile(r"(?<!\\),")


def validate_ou(value: str) -> None:
    if not value or not value.strip():
        raise ValidationError("The OU must not be empty; give a DN such as OU=研发部,DC=example,DC=com.")
    if "，" in value:
        raise ValidationError(
            "The OU contains a full-width comma '，'; AD separates DN parts with an ASCII comma ','."
        )
    parts = [part.strip() for part in _SEPARATOR.split(value)]
    if any(not _RDN.match(part) for part in parts):
        raise ValidationError(
            f"{value!r} is not a valid DN: write it as OU=…,DC=…,DC=… with ASCII commas."
        )
    if not parts[0].upper().startswith(("OU=", "CN=")):
        raise ValidationError("The DN must start with OU= (or CN=) naming the unit.")
    is_dc = [part.upper().startswith("DC=") for part in parts]
    if not any(is_dc):
        raise ValidationError("The DN must end with the domain components, e.g. DC=example,DC=com.")
    first_dc = is_dc.index(True)
    if not all(is_dc[first_dc:]):
        raise ValidationError(
            "The domain components (DC=…) must come last, after every OU=, e.g. OU=研发部,DC=example,DC=com."
        )
