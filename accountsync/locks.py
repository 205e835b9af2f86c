"""PostgreSQL advisory locks held until the end of the current transaction.

A key is a namespace in the high 16 bits (one per use, listed here so two uses never share
one) and an id in the low 48. Off PostgreSQL, and outside a transaction, taking one is a
no-op: SQLite's single writer already serialises the transactions these locks order.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

# pg_advisory_xact_lock namespaces ("AS", "MB"): one per thing that is serialised.
CALLBACK_EVENTS_PER_REQUEST = 0x4153 << 48
MAILBOX_ALLOCATION = 0x4D42 << 48


def advisory_xact_locks(namespace: int, ids: Iterable[int] = (0,)) -> None:
    """Wait for, then hold until commit, the lock of each id in the namespace, in id order
    (the same order in every caller, so two callers never wait on each other in a circle)."""
    if connection.vendor != "postgresql" or connection.get_autocommit():
        return
    with connection.cursor() as cursor:
        for pk in sorted(set(ids)):
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [namespace | pk])
