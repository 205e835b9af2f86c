"""Allocate each person's mailbox address once; the database keeps addresses unique."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import IntegrityError, transaction

from account_creation.models import MailboxAddress
from account_creation.naming import email_local_part


def normalise_domain(domain: str) -> str:
    return domain.strip().lstrip("@").lower()


def default_domain() -> str:
    return normalise_domain(settings.EMAIL_DOMAIN)


def _next_candidate(base: str, domain: str) -> str:
    taken = MailboxAddress.objects.filter(domain=domain, local_part__startswith=base).values_list(
        "local_part", flat=True
    )
    pattern = re.compile(rf"^{re.escape(base)}(\d*)$")
    used = set()
    for local in taken:
        match = pattern.match(local)
        if match:
            used.add(int(match.group(1) or 1))
    number = 1
    while number in used:
        number += 1
    return base if number == 1 else f"{base}{number}"


def mailbox_allocate(*, employee_number: str, employee_name: str, domain: str) -> MailboxAddress:
    """The person's address: the stored one, or a new one with a numeric suffix on collision.

    Concurrent allocators race on the unique constraints: the loser re-reads (same person)
    or takes the next suffix (same name, another person).
    """
    existing = MailboxAddress.objects.filter(employee_number=employee_number).first()
    if existing is not None:
        return existing
    domain = normalise_domain(domain) or default_domain()
    base = email_local_part(employee_name)
    for _ in range(50):
        local = _next_candidate(base, domain)
        try:
            with transaction.atomic():
                return MailboxAddress.objects.create(
                    employee_number=employee_number,
                    local_part=local,
                    domain=domain,
                    address=f"{local}@{domain}",
                )
        except IntegrityError:
            existing = MailboxAddress.objects.filter(employee_number=employee_number).first()
            if existing is not None:
                return existing
    raise RuntimeError(f"could not allocate a mailbox for {employee_number} after 50 tries")
