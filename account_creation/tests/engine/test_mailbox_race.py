"""Two runners allocating the addresses of overlapping batches at the same moment (PostgreSQL).

Two runners that claimed different tasks of the same people (one the IDaaS tasks, the other
the WeLink tasks) allocate those people's addresses together. Each batch is one multi-row
INSERT; inserted in different orders, two of them wait on each other's rows and PostgreSQL
ends one with "deadlock detected" — a runner crash in a CI run. Allocators now take turns
for that one statement, so both batches finish and every person still has one address.
"""

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.db import connection

from account_creation.models import MailboxAddress
from account_creation.services.mailbox import MailboxRequest, mailboxes_allocate

pytestmark = pytest.mark.skipif(
    settings.DATABASE_VENDOR != "postgresql", reason="needs PostgreSQL for real parallel transactions"
)

# 1,000 names whose pinyin differs: both runners compute the same address for a person, so
# their inserts only meet where the two orders cross — in the middle of both batches.
NAMES = [surname + first + second for surname in "赵钱孙李周吴郑王冯陈" for first in "红明华国建文海平军伟"
         for second in "一二三四五六七八九十"]


def _allocate_together(batches: list[list[MailboxRequest]]) -> list[BaseException | None]:
    barrier = threading.Barrier(len(batches))
    errors: list[BaseException | None] = [None] * len(batches)

    def worker(position: int) -> None:
        try:
            barrier.wait()
            mailboxes_allocate(people=batches[position])
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors[position] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


@pytest.mark.django_db(transaction=True)
def test_two_runners_allocating_the_same_people_in_opposite_orders_both_finish() -> None:
    people_per_round = 600
    for round_ in range(4):
        people = [
            MailboxRequest(employee_number=f"R{round_}-{n:05d}", employee_name=NAMES[n], domain="")
            for n in range(people_per_round)
        ]
        errors = _allocate_together([people, list(reversed(people))])
        assert errors == [None, None], errors
    numbers = [f"R{r}-{n:05d}" for r in range(4) for n in range(people_per_round)]
    assert MailboxAddress.objects.filter(employee_number__in=numbers).count() == len(numbers)
    addresses = list(MailboxAddress.objects.values_list("address", flat=True))
    assert len(addresses) == len(set(addresses))
    # Each round's people share the earlier rounds' names: the lowest free suffixes, no gaps.
    first = MailboxAddress.objects.filter(base_local_part=MailboxAddress.objects.get(employee_number="R0-00000")
                                          .base_local_part)
    assert sorted(first.values_list("local_part", flat=True)) == sorted(
        [first[0].base_local_part] + [f"{first[0].base_local_part}{n}" for n in range(2, 5)]
    )
