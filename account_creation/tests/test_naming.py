"""Names: surname readings, Latin and mixed names, the local-part property, address allocation."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection, transaction
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from account_creation.connectors.base import PermanentError
from account_creation.models import MailboxAddress
from account_creation.naming import email_local_part, english_name, idaas_username, name_syllables
from account_creation.services.mailbox import mailbox_allocate

LOCAL_PART = re.compile(r"^[a-z0-9]+$")
BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("张三", "zhangsan"),
        ("单田芳", "shantianfang"),
        ("曾国藩", "zengguofan"),
        ("解缙", "xiejin"),
        ("仇英", "qiuying"),
        ("区志强", "ouzhiqiang"),
        ("查良镛", "zhaliangyong"),
        ("朴槿惠", "piaojinhui"),
        ("翟天临", "zhaitianlin"),
        ("缪斯", "miaosi"),
        ("盖聂", "genie"),
        ("乐嘉", "yuejia"),
        ("卜算", "busuan"),
        ("覃海", "qinhai"),
        ("吕布", "lvbu"),
        ("單田芳", "shantianfang"),
    ],
)
def test_surnames_with_several_readings_read_as_surnames(name, expected):
    assert english_name(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Read as one phrase, pypinyin pairs the surname with the given name (郑重, 段长, 王朝).
        ("郑重阳", "zhengchongyang"),
        ("段长春", "duanchangchun"),
        ("王朝阳", "wangzhaoyang"),
        # Compound surnames stay whole.
        ("欧阳长春", "ouyangchangchun"),
        ("长孙无忌", "zhangsunwuji"),
        ("尉迟恭", "yuchigong"),
        ("万俟卨", "moqixie"),
        ("单于单", "chanyudan"),
        ("诸葛亮", "zhugeliang"),
        ("司马光", "simaguang"),
    ],
)
def test_surname_is_read_apart_from_the_given_name(name, expected):
    assert english_name(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("John Smith", "johnsmith"),
        ("Mary-Jane O'Neil", "maryjaneoneil"),
        ("J. R. R. Tolkien", "jrrtolkien"),
        ("José Müller", "josemuller"),
        ("Anne-Marie Straße", "annemariestrasse"),
        ("Søren Łukasz", "sorenlukasz"),
        ("ＪＯＨＮ", "john"),
        ("  zhang   san  ", "zhangsan"),
        ("张John", "zhangjohn"),
        ("李 小明", "lixiaoming"),
        ("阿卜杜勒·艾尼", "aboduleiaini"),
        ("Ivan Иванов", "ivan"),
        ("R2-D2 王", "rdwang"),
    ],
)
def test_latin_and_mixed_names_give_valid_local_parts(name, expected):
    assert email_local_part(name) == expected
    assert LOCAL_PART.match(expected)


@pytest.mark.parametrize("name", ["", "   ", "123", "さくら", "김철수", "Иван", "·-'.", "😀"])
def test_names_without_convertible_letters_are_refused_clearly(name):
    with pytest.raises(PermanentError, match="Correct employeeName"):
        email_local_part(name)


def test_long_names_are_cut_to_the_alias_limit():
    assert len(email_local_part("Wolfeschlegelsteinhausenbergerdorff " * 4)) == 64


def test_syllables_feed_the_initial():
    assert name_syllables("单田芳") == ["shan", "tian", "fang"]


@pytest.mark.parametrize(
    ("name", "number", "expected"),
    [("张三", "P000126", "zP000126"), ("单田芳", "P1", "sP1"), ("John Smith", "E42", "jE42"),
     ("曾国藩", "1234567890123456789", "z1234567890123456789")],
)
def test_idaas_username_is_first_letter_plus_employee_number(name, number, expected):
    assert idaas_username(name, number) == expected


@pytest.mark.parametrize(
    ("name", "number", "message"),
    [("张三", "12345678901234567890", "longer than AD's 20"), ("张三", "P 1", "AD logon name"),
     ("张三", "P@1", "AD logon name"), ("123", "P1", "Correct employeeName")],
)
def test_idaas_username_refuses_what_ad_cannot_take(name, number, message):
    with pytest.raises(PermanentError, match=message):
        idaas_username(name, number)


@hypothesis_settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_any_name_gives_a_valid_local_part_or_a_permanent_error(name):
    try:
        local = email_local_part(name)
    except PermanentError as error:
        refusal = error.message
    else:
        refusal = ""
    if refusal:
        assert "employeeName" in refusal
        return
    assert LOCAL_PART.match(local)
    assert len(local) <= 64
    assert local == english_name(name)


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=6))
def test_any_chinese_name_converts(name):
    """A name converts, or — when pypinyin knows no reading for any of its characters (e.g. 龦,
    U+9FA6) — is refused with a message naming employeeName, never a bad local part or a crash."""
    from pypinyin import Style, pinyin

    readable = [ch for ch in name if pinyin(ch, style=Style.NORMAL, errors="ignore")]
    if not readable:
        with pytest.raises(PermanentError, match="employeeName"):
            email_local_part(name)
        return
    assert LOCAL_PART.match(email_local_part(name))


# --- allocation -------------------------------------------------------------------------


@pytest.mark.django_db
def test_same_names_get_numeric_suffixes_and_a_person_keeps_their_address():
    first = mailbox_allocate(employee_number="P1", employee_name="张三", domain="@Corp.Example.com")
    second = mailbox_allocate(employee_number="P2", employee_name="张三", domain="corp.example.com")
    third = mailbox_allocate(employee_number="P3", employee_name="Zhang San", domain="corp.example.com")
    again = mailbox_allocate(employee_number="P1", employee_name="张三丰", domain="other.example.com")

    assert [first.address, second.address, third.address] == [
        "zhangsan@corp.example.com", "zhangsan2@corp.example.com", "zhangsan3@corp.example.com"]
    assert again.pk == first.pk
    assert (second.local_part, second.domain) == ("zhangsan2", "corp.example.com")


@pytest.mark.django_db
def test_a_freed_suffix_is_reused_and_longer_names_are_not_mistaken_for_suffixes():
    for number in ("P1", "P2", "P3"):
        mailbox_allocate(employee_number=number, employee_name="张三", domain="corp.example.com")
    mailbox_allocate(employee_number="P4", employee_name="张三丰", domain="corp.example.com")
    MailboxAddress.objects.filter(employee_number="P2").delete()

    assert mailbox_allocate(employee_number="P5", employee_name="张三", domain="corp.example.com").local_part == \
        "zhangsan2"
    assert mailbox_allocate(employee_number="P6", employee_name="张三", domain="corp.example.com").local_part == \
        "zhangsan4"


@pytest.mark.django_db
def test_domains_are_counted_separately():
    mailbox_allocate(employee_number="P1", employee_name="张三", domain="a.example.com")
    other = mailbox_allocate(employee_number="P2", employee_name="张三", domain="b.example.com")
    assert other.address == "zhangsan@b.example.com"


@pytest.mark.django_db
def test_empty_domain_falls_back_to_email_domain():
    assert mailbox_allocate(employee_number="P1", employee_name="张三", domain="").address == \
        "zhangsan@" + settings.EMAIL_DOMAIN.lstrip("@").lower()


@pytest.mark.django_db(transaction=True)
def test_lost_race_inside_a_callers_transaction_takes_the_next_suffix(monkeypatch):
    """The allocator's candidate was taken after it looked: the insert fails, the next one wins."""
    from account_creation.services import mailbox

    real = mailbox._next_candidate
    raced: list[int] = []

    def stale_candidate(base: str, domain: str) -> str:
        if not raced:
            raced.append(1)
            MailboxAddress.objects.create(employee_number="OTHER", local_part=base, base_local_part=base,
                                          domain=domain, address=f"{base}@{domain}")
            return base  # what the allocator saw before the other runner inserted it
        return real(base, domain)

    monkeypatch.setattr(mailbox, "_next_candidate", stale_candidate)
    with transaction.atomic():
        allocated = mailbox_allocate(employee_number="P1", employee_name="张三", domain="corp.example.com")
        assert MailboxAddress.objects.count() == 2  # the caller's transaction is still usable
    assert allocated.local_part == "zhangsan2"


@pytest.mark.django_db
def test_batch_allocation_resolves_collisions_inside_the_batch_and_with_stored_addresses():
    from account_creation.services.mailbox import MailboxRequest, mailboxes_allocate

    mailbox_allocate(employee_number="OLD", employee_name="张三", domain="corp.example.com")
    people = [
        MailboxRequest("P1", "张三", "corp.example.com"),
        MailboxRequest("P2", "张三", "corp.example.com"),
        MailboxRequest("P3", "李四", "@Corp.Example.com"),
        MailboxRequest("P4", "123", "corp.example.com"),
        MailboxRequest("OLD", "张三", "corp.example.com"),
    ]
    outcome = mailboxes_allocate(people=people)
    addresses = {number: getattr(value, "address", None) for number, value in outcome.items()}
    assert addresses == {
        "OLD": "zhangsan@corp.example.com",
        "P1": "zhangsan2@corp.example.com",
        "P2": "zhangsan3@corp.example.com",
        "P3": "lisi@corp.example.com",
        "P4": None,
    }
    assert isinstance(outcome["P4"], PermanentError)
    # Allocated once: asking again returns the same addresses and writes nothing.
    again = mailboxes_allocate(people=people[:3])
    assert {n: m.address for n, m in again.items() if isinstance(m, MailboxAddress)} == {
        n: a for n, a in addresses.items() if n in ("P1", "P2", "P3")
    }
    assert MailboxAddress.objects.count() == 4


@pytest.mark.django_db
def test_names_without_letters_cannot_be_allocated():
    with pytest.raises(PermanentError):
        mailbox_allocate(employee_number="P1", employee_name="123", domain="corp.example.com")
    assert not MailboxAddress.objects.exists()


CHILD_SCRIPT = """
import json, os, sys, time
import django
django.setup()
from account_creation.services.mailbox import mailbox_allocate
child, shared, own, start_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
numbers = [f"S{n}" for n in range(shared)] + [f"C{child}-{n}" for n in range(own)]
time.sleep(max(0.0, start_at - time.time()))
result = {}
started = time.time()
for number in numbers:
    result[number] = mailbox_allocate(employee_number=number, employee_name="张三",
                                      domain="corp.example.com").address
print(json.dumps({"addresses": result, "started": started, "finished": time.time()}))
"""


def _database_url() -> str:
    db = connection.settings_dict
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.mark.postgres_only
@pytest.mark.slow
@pytest.mark.skipif(settings.DATABASE_VENDOR != "postgresql", reason="real concurrent processes need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_processes_never_hand_out_the_same_address():
    shared, own = 30, 40
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "accountsync.test_settings", "DATABASE_URL": _database_url()}
    start_at = f"{time.time() + 3:.3f}"
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD_SCRIPT, str(child), str(shared), str(own), start_at],
                         cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for child in (1, 2)
    ]
    outputs, spans = [], []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        report = json.loads(out.strip().splitlines()[-1])
        outputs.append(report["addresses"])
        spans.append((report["started"], report["finished"]))
    assert max(start for start, _ in spans) < min(end for _, end in spans), "the children did not overlap"

    by_person: dict[str, set[str]] = {}
    for output in outputs:
        for number, address in output.items():
            by_person.setdefault(number, set()).add(address)
    assert all(len(addresses) == 1 for addresses in by_person.values()), "a person got two addresses"
    addresses = [next(iter(found)) for found in by_person.values()]
    assert len(addresses) == len(set(addresses)) == shared + 2 * own
    expected = {"zhangsan@corp.example.com"} | {f"zhangsan{n}@corp.example.com" for n in range(2, shared + 2 * own + 1)}
    assert set(addresses) == expected
    stored = dict(MailboxAddress.objects.values_list("employee_number", "address"))
    assert stored == {number: next(iter(found)) for number, found in by_person.items()}
