"""Allocate each person's mailbox address once; the database keeps addresses unique.

Uniqueness is the database's job (``address`` and ``employee_number`` are unique): an
allocator picks the lowest free candidate (zhangsan, zhangsan2, zhangsan3 …) and inserts
it; when a concurrent allocator — another thread, process or host — took it first, the
insert fails on the constraint and the loser tries the next one. A batch of addresses is one
multi-row insert; on PostgreSQL batch inserts take turns (an advisory lock held for that one
statement), because two of them inserting overlapping people in different orders would wait
on each other's rows until PostgreSQL ends one with "deadlock detected".

Reserved names (settings.RESERVED_ACCOUNT_NAMES, account_creation/reserved.py) are never
allocated: a person whose base local part is reserved is refused with a PermanentError
(intake rejects them already; this catches tasks accepted before the list changed) rather
than given ``postmaster2``, an address that still reads as a role mailbox; a suffixed
candidate that is itself reserved (an operator may list ``test1``-like names) is skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from account_creation.connectors.base import ConnectorError, RetryableError
from account_creation.messages import message
from account_creation.models import MailboxAddress
from account_creation.naming import LOCAL_PART_MAX, email_local_part
from account_creation.reserved import local_part_reserved, reserved_names
from accountsync.locks import MAILBOX_ALLOCATION, advisory_xact_locks
from accountsync.logging import kv

logger = logging.getLogger(__name__)

# Room kept for the collision suffix, so base + suffix stays within the alias limit.
SUFFIX_DIGITS = 4
MAX_ATTEMPTS = 50


def normalise_domain(domain: str) -> str:
    return domain.strip().lstrip("@").lower()


def default_domain() -> str:
    return normalise_domain(settings.EMAIL_DOMAIN)


def _lowest_free(base: str, taken: set[str]) -> str:
    """The lowest free, unreserved local part: base, base2, base3 … (base1 is never handed out)."""
    reserved = reserved_names()
    number = 1
    while (candidate := base if number == 1 else f"{base}{number}") in taken or candidate in reserved:
        number += 1
    return candidate


def _base_local_part(employee_name: str) -> str:
    """The local part before any suffix; PermanentError when the name yields none or a reserved one."""
    base = email_local_part(employee_name)[: LOCAL_PART_MAX - SUFFIX_DIGITS]
    reserved = local_part_reserved(base)
    if reserved is not None:
        raise reserved.error()
    return base


def _taken(domain: str, base: str) -> set[str]:
    return set(
        MailboxAddress.objects.filter(domain=domain, base_local_part=base).values_list("local_part", flat=True)
    )


def _next_candidate(base: str, domain: str) -> str:
    return _lowest_free(base, _taken(domain, base))


def mailbox_allocate(*, employee_number: str, employee_name: str, domain: str) -> MailboxAddress:
    """The person's address: the stored one, or a new one with a numeric suffix on collision.

    Raises PermanentError when the name yields no local part or a reserved one.
    """
    existing = MailboxAddress.objects.filter(employee_number=employee_number).first()
    if existing is not None:
        return existing
    domain = normalise_domain(domain) or default_domain()
    base = _base_local_part(employee_name)
    for _ in range(MAX_ATTEMPTS):
        local = _next_candidate(base, domain)
        try:
            # A savepoint, so a lost race does not break the caller's transaction.
            with transaction.atomic():
                mailbox = MailboxAddress.objects.create(
                    employee_number=employee_number,
                    local_part=local,
                    base_local_part=base,
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
        message("prepare.mailbox_contended", employee=employee_number, tries=MAX_ATTEMPTS, local_part=base,
                domain=domain.lstrip("@")),
        details={"employee_number": employee_number, "local_part": base, "domain": domain},
    )


@dataclass(frozen=True)
class MailboxRequest:
    employee_number: str
    employee_name: str
    domain: str


def mailboxes_allocate(
    *, people: list[MailboxRequest]
) -> dict[str, MailboxAddress | ConnectorError]:
    """Allocate the addresses of many people with a fixed number of queries.

    Existing addresses are returned as they are (prepare refuses one that became reserved);
    a name that yields no local part, or a reserved one, maps to its PermanentError.
    Candidates are chosen against the taken local parts of all bases in one read and
    inserted in one statement; anyone whose candidate a concurrent allocator
    took meanwhile falls back to :func:`mailbox_allocate`.
    """
    outcome: dict[str, MailboxAddress | ConnectorError] = {
        mailbox.employee_number: mailbox
        for mailbox in MailboxAddress.objects.filter(employee_number__in=[p.employee_number for p in people])
    }
    wanted: list[tuple[MailboxRequest, str, str]] = []
    for person in people:
        if person.employee_number in outcome:
            continue
        try:
            base = _base_local_part(person.employee_name)
        except ConnectorError as exc:
            outcome[person.employee_number] = exc
            continue
        wanted.append((person, base, normalise_domain(person.domain) or default_domain()))
    if not wanted:
        return outcome
    taken: dict[tuple[str, str], set[str]] = {}
    for domain, base, local in MailboxAddress.objects.filter(
        domain__in={domain for _, _, domain in wanted}, base_local_part__in={base for _, base, _ in wanted}
    ).values_list("domain", "base_local_part", "local_part"):
        taken.setdefault((domain, base), set()).add(local)
    rows = []
    for person, base, domain in wanted:
        names = taken.setdefault((domain, base), set())
        local = _lowest_free(base, names)
        names.add(local)
        rows.append(
            MailboxAddress(
                employee_number=person.employee_number,
                local_part=local,
                base_local_part=base,
                domain=domain,
                address=f"{local}@{domain}",
            )
        )
    with transaction.atomic():
        # One batch insert at a time (PostgreSQL): two runners holding different tasks of the
        # same people insert overlapping rows in different orders, and two multi-row inserts
        # waiting on each other's rows end in "deadlock detected". The lock is held for this
        # one statement; the rows go in employee-number order all the same.
        advisory_xact_locks(MAILBOX_ALLOCATION)
        MailboxAddress.objects.bulk_create(sorted(rows, key=lambda row: row.employee_number), ignore_conflicts=True)
    stored = {
        mailbox.employee_number: mailbox
        for mailbox in MailboxAddress.objects.filter(employee_number__in=[row.employee_number for row in rows])
    }
    for person, _, domain in wanted:
        mailbox = stored.get(person.employee_number)
        if mailbox is None:  # lost a race for the candidate: allocate this one on its own
            try:
                mailbox = mailbox_allocate(
                    employee_number=person.employee_number, employee_name=person.employee_name, domain=domain
                )
            except ConnectorError as exc:
                outcome[person.employee_number] = exc
                continue
        outcome[person.employee_number] = mailbox
    logger.info(kv(event="mailboxes_allocated", count=len(rows)))
    return outcome
