"""System checks of the departments app's settings (``manage.py check``, runserver, migrate)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from departments.validators import group_suffixes, syntax_problem


@register()
def check_allowed_ou_suffixes(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Each ALLOWED_OU_SUFFIXES entry must be a whole DN, ending in its DC= parts."""
    errors = []
    for dn in group_suffixes(getattr(settings, "ALLOWED_OU_SUFFIXES", None) or []):
        problem = syntax_problem(dn)
        if problem:
            errors.append(
                Error(
                    f"ALLOWED_OU_SUFFIXES entry {dn!r} is not a DN and allows nothing: {problem}",
                    hint="Give whole DNs ending in the domain, comma-separated, e.g. "
                    "ALLOWED_OU_SUFFIXES=CN=Users,DC=example,DC=com",
                    id="departments.E001",
                )
            )
    return errors
