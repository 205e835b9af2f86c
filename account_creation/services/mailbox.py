"""Allocate each person's mailbox address once; the database keeps addresses unique.

Uniqueness is the database's job (``address`` and ``employee_number`` are unique): an
allocator picks the lowest free candidate (zhangsan, zhangsan2, zhangsan3 …) and inserts
it; when a concurrent allocator — another thread, process or host — took it first, the
insert fails on the constraint and the loser tries the next one. No lock is held, so this
works the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.db import IntegrityError, transaction

from account_creation.connectors.base import RetryableError
from account_creation.models import MailboxAddress
from account_creation.naming import LOCAL_PART_MAX, email_local_part
from accountsync.logging import kv

logger = logging.getLogger(__name__)

# Room kept for the collision suffix, so base + suffix stays within the alias limit.
SUFFIX_DIGITS = 4
MAX_ATTEMPTS = 50


def normalise_domain(domain: str) -> str:
    return domain.strip().lstrip("@").lower()


def default_domain() -> str:
    return normalise_domain(settings.EMAIL_DOMAIN)


def _next_candidate(base: str, domain: str) -> str:
    """The lowest free local part: base, base2, base3 … (base1 is never handed out)."""
    # Local parts are built from [a-z] only, so base + digits can only be base's suffixes.
    taken = MailboxAddress.objects.filter(
        domain=domain, local_part__regex=rf"^{re.escape(base)}[0-9]*$"
    ).values_list("local_part", flat=True)
    used = set()
    for local in taken:
        suffix = local[len(base):]
        used.add(int(suffix) if suffix else 1)
    number = 1
    while number in used:
        number += 1
    return base if number == 1 else f"{base}{number}"


def mailbox_allocate(*, employee_number: str, employee_name: str, domain: str) -> MailboxAddress:
    """The person's address: the stored one, or a new one with a numeric suffix on collision.

    Raises PermanentError (from naming) when the name yields no local part.
    """
    existing = MailboxAddress.objects.filter(employee_number=employee_number).first()
    if existing is not None:
        return existing
    domain = normalise_domain(domain) or default_domain()
    base = email_local_part(employee_name)[: LOCAL_PART_MAX - SUFFIX_DIGITS]
    for _ in range(MAX_ATTEMPTS):
        local = _next_candidate(base, domain)
        try:
            # A savepoint, so a lost race does not break the caller's transaction.
            with transaction.atomic():
                mailbox = MailboxAddress.objects.create(
                    employee_number=employee_number,
                    local_part=local,
                    domain=domain,
                    address=f"{local}@{domain}",
                )
        except IntegrityError:
            existing = MailboxAddress.objects.filter(employee_number=employee_number).first()
            if existing is not None:
                return existing  # another runner allocated this person's address meanwhile
            continue  # another person took this candidate meanwhile: compute the next one
        logger.info(kv(event="mailbox_allocated", employee=employee_number, address=mailbox.address))
        return mailbox
    raise RetryableError(
        f"Could not allocate a mailbox address for {employee_number} after {MAX_ATTEMPTS} tries "
        f"(other runners kept taking the candidates for {base!r}@{domain}); the task retries on its own.",
        details={"employee_number": employee_number, "local_part": base, "domain": domain},
    )
