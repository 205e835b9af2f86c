"""Names as the directory expects them: IDaaS userName, English name, mailbox local part."""

from __future__ import annotations

import re
import unicodedata

from pypinyin import Style, lazy_pinyin

from account_creation.connectors.base import PermanentError

USERNAME_MAX = 20  # AD sAMAccountName
LOCAL_PART_MAX = 64

# Surnames whose reading as a surname differs from pypinyin's most common reading.
SURNAME_READINGS: dict[str, list[str]] = {
    "单": ["shan"],
    "曾": ["zeng"],
    "解": ["xie"],
    "仇": ["qiu"],
    "区": ["ou"],
    "查": ["zha"],
    "朴": ["piao"],
    "盖": ["ge"],
    "乐": ["yue"],
    "缪": ["miao"],
    "翟": ["zhai"],
    "尉迟": ["yu", "chi"],
    "万俟": ["mo", "qi"],
    "长孙": ["zhang", "sun"],
    "秘": ["bi"],
    "覃": ["qin"],
    "任": ["ren"],
    "黑": ["he"],
    "沈": ["shen"],
    "重": ["chong"],
    "种": ["chong"],
    "员": ["yun"],
    "宓": ["mi"],
    "召": ["shao"],
    "繁": ["po"],
    "折": ["she"],
    "那": ["na"],
    "都": ["du"],
    "句": ["gou"],
    "阚": ["kan"],
    "厍": ["she"],
    "逄": ["pang"],
    "隗": ["wei"],
    "燕": ["yan"],
    "蕃": ["pi"],
    "過": ["guo"],
    "过": ["guo"],
    "藏": ["zang"],
    "乜": ["nie"],
    "便": ["pian"],
    "能": ["nai"],
    "华": ["hua"],
    "适": ["kuo"],
    "殷": ["yin"],
    "车": ["che"],
    "柏": ["bai"],
    "薄": ["bo"],
    "牟": ["mou"],
    "尹": ["yin"],
    "朝": ["chao"],
}
_COMPOUND_SURNAMES = sorted((s for s in SURNAME_READINGS if len(s) > 1), key=len, reverse=True)
_LATIN_ALLOWED = re.compile(r"[^a-z0-9]+")


def name_syllables(name: str) -> list[str]:
    """Pinyin syllables (or Latin words) of a name, surname read as a surname."""
    name = unicodedata.normalize("NFKC", name).strip()
    head: list[str] = []
    rest = name
    for compound in _COMPOUND_SURNAMES:
        if name.startswith(compound):
            head, rest = list(SURNAME_READINGS[compound]), name[len(compound) :]
            break
    else:
        if name and name[0] in SURNAME_READINGS:
            head, rest = list(SURNAME_READINGS[name[0]]), name[1:]
    syllables = lazy_pinyin(rest, style=Style.NORMAL, errors="default", v_to_u=False)
    words: list[str] = []
    for chunk in head + syllables:
        ascii_text = unicodedata.normalize("NFKD", chunk).encode("ascii", "ignore").decode()
        words.extend(part for part in _LATIN_ALLOWED.split(ascii_text.lower()) if part)
    return words


def english_name(name: str) -> str:
    """Full pinyin without separators: 张三 -> zhangsan."""
    return "".join(name_syllables(name))


def email_local_part(name: str) -> str:
    local = english_name(name)[:LOCAL_PART_MAX]
    if not local:
        raise PermanentError(
            f"Cannot build a mailbox name from {name!r}: it has no letters that convert to pinyin "
            "or Latin. Correct employeeName in the OA system and send a new request."
        )
    return local


def idaas_username(name: str, employee_number: str) -> str:
    """First pinyin letter + employee number: 张三, P000126 -> zP000126."""
    syllables = name_syllables(name)
    initial = syllables[0][0] if syllables else "x"
    username = f"{initial}{employee_number}"
    if len(username) > USERNAME_MAX:
        raise PermanentError(
            f"The IDaaS userName {username!r} is longer than AD's {USERNAME_MAX} characters; "
            "the employee number must be at most 19 characters."
        )
    return username
