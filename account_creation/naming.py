"""Names as the directory expects them: IDaaS userName, English name, mailbox local part.

张三, P000126 -> userName ``zP000126``, englishName ``zhangsan``, local part ``zhangsan``
(services/mailbox.py adds ``2``, ``3`` … when the address is taken). pypinyin reads names
as ordinary words, so surnames whose surname reading differs (单 shan, 曾 zeng, 解 xie …)
come from :data:`SURNAME_READINGS`. Latin names keep their letters (accents dropped,
spaces, dots, hyphens and apostrophes removed). Local parts are ``[a-z]`` only — digits are
left for the collision suffix, so ``zhangsan2`` can only ever mean "the second zhangsan".
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from account_creation.connectors.base import PermanentError
from account_creation.messages import message

USERNAME_MAX = 20  # AD sAMAccountName (pre-Windows 2000 logon name)
LOCAL_PART_MAX = 64  # Exchange alias

# Surnames whose reading as a surname differs from pypinyin's reading of the character alone
# (checked against pypinyin 0.55: without its entry, each is read as in the comment).
SURNAME_READINGS: dict[str, list[str]] = {
    "单": ["shan"], "單": ["shan"],  # dan
    "曾": ["zeng"],  # ceng
    "解": ["xie"],  # jie
    "仇": ["qiu"],  # chou
    "区": ["ou"], "區": ["ou"],  # qu
    "查": ["zha"],  # cha
    "朴": ["piao"],  # pu
    "盖": ["ge"], "蓋": ["ge"],  # gai
    "乐": ["yue"], "樂": ["yue"],  # le
    "缪": ["miao"], "繆": ["miao"],  # mou
    "翟": ["zhai"],  # di
    "秘": ["bi"],  # mi
    "覃": ["qin"],  # tan
    "黑": ["he"],  # hei
    "重": ["chong"],  # zhong
    "种": ["chong"], "種": ["chong"],  # zhong
    "员": ["yun"], "員": ["yun"],  # yuan
    "召": ["shao"],  # zhao
    "繁": ["po"],  # fan
    "折": ["she"],  # zhe
    "都": ["du"],  # dou
    "句": ["gou"],  # ju
    "阚": ["kan"], "闞": ["kan"],  # han
    "隗": ["wei"],  # kui
    "蕃": ["pi"],  # fan
    "藏": ["zang"],  # cang
    "乜": ["nie"],  # mie
    "便": ["pian"],  # bian
    "能": ["nai"],  # neng
    "适": ["kuo"],  # shi
    "薄": ["bo"],  # bao
    "卜": ["bu"],  # bo
    "长": ["chang"], "長": ["chang"],  # zhang
    "洗": ["xian"],  # xi
    "祭": ["zhai"],  # ji
    "角": ["jue"],  # jiao
    "粘": ["nian"],  # zhan
    "什": ["shi"],  # shen
    "朝": ["chao"],  # chao alone, but zhao inside 朝阳
    # Compound surnames read apart from the character's own reading.
    "万俟": ["mo", "qi"], "萬俟": ["mo", "qi"],  # wan
    "尉迟": ["yu", "chi"], "尉遲": ["yu", "chi"],  # wei
    "长孙": ["zhang", "sun"], "長孫": ["zhang", "sun"],  # chang (single 长)
    "单于": ["chan", "yu"], "單于": ["chan", "yu"],  # shan (single 单)
    "澹台": ["tan", "tai"],  # dan
}
# Compound surnames kept whole, so their second character is not read with the given name.
COMPOUND_SURNAMES = (
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "公孙", "令狐", "慕容", "宇文", "夏侯", "轩辕",
    "钟离", "端木", "百里", "呼延", "南宫", "西门", "独孤", "闻人", "濮阳", "淳于", "太叔", "申屠",
    "公冶", "宗政", "仲孙", "赫连", "羊舌", "拓跋", "鲜于", "亓官", "司徒", "司空", "第五",
    *(surname for surname in SURNAME_READINGS if len(surname) > 1),
)
_COMPOUND_SURNAMES = sorted(set(COMPOUND_SURNAMES), key=len, reverse=True)
# Latin letters NFKD does not decompose into ASCII.
_LATIN_EXTRA = str.maketrans({
    "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "ł": "l", "ı": "i",
    "ħ": "h", "ŧ": "t", "ŋ": "ng", "ĸ": "k",
})
_NOT_LETTERS = re.compile(r"[^a-z]+")
# Characters AD does not allow in a sAMAccountName, plus whitespace and control characters.
_SAM_FORBIDDEN = re.compile(r'["/\\\[\]:;|=,+*?<>@\s\x00-\x1f]')



def _pinyin(text: str) -> list[str]:
    """Toneless pinyin syllables; characters without a reading are kept as they are.

    pypinyin is imported on first use: loading its phrase dictionary takes about 0.3 s,
    which an engine run with nothing to do (every 5 minutes from cron) should not pay.
    """
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(text, style=Style.NORMAL, errors="default", v_to_u=False)

def _is_han(char: str) -> bool:
    return unicodedata.name(char, "").startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH"))


def _split_surname(name: str) -> tuple[list[str], str]:
    """(surname syllables, the rest). The surname is read on its own, as a surname.

    Reading the whole name as one phrase lets pypinyin pair the surname with the given name
    (郑重阳 -> zheng zhong yang, 段长春 -> duan zhang chun); apart they read right.
    """
    for compound in _COMPOUND_SURNAMES:
        if name.startswith(compound):
            reading = SURNAME_READINGS.get(compound) or _pinyin(compound)
            return list(reading), name[len(compound):]
    first = name[:1]
    if first in SURNAME_READINGS:
        return list(SURNAME_READINGS[first]), name[1:]
    if first and _is_han(first):
        return _pinyin(first), name[1:]
    return [], name


def name_syllables(name: str) -> list[str]:
    """Pinyin syllables (or Latin words) of a name, surname read as a surname, ``[a-z]+`` each."""
    return list(_syllables(name or ""))


# A person's three tasks (and every retry) convert the same name: convert it once.
@lru_cache(maxsize=8192)
def _syllables(name: str) -> tuple[str, ...]:
    name = unicodedata.normalize("NFKC", name).strip()
    head, rest = _split_surname(name)
    # Non-Chinese text comes back unchanged (errors="default") and is transliterated below.
    syllables = _pinyin(rest)
    words: list[str] = []
    for chunk in head + syllables:
        latin = unicodedata.normalize("NFKD", chunk.lower().translate(_LATIN_EXTRA))
        ascii_text = latin.encode("ascii", "ignore").decode()
        words.extend(part for part in _NOT_LETTERS.split(ascii_text.lower()) if part)
    return tuple(words)


def english_name(name: str) -> str:
    """Full pinyin without separators: 张三 -> zhangsan (at most 64 letters)."""
    return "".join(name_syllables(name))[:LOCAL_PART_MAX]


def email_local_part(name: str) -> str:
    """The mailbox local part (and Exchange alias) before any collision suffix: ``[a-z]{1,64}``."""
    local = english_name(name)
    if not local:
        raise PermanentError(
            message("prepare.mailbox_name_impossible", name=name),
            details={"employee_name": name},
        )
    return local


def idaas_username(name: str, employee_number: str) -> str:
    """First pinyin letter + employee number: 张三, P000126 -> zP000126 (AD's limit: 20)."""
    number = (employee_number or "").strip()
    if not number or _SAM_FORBIDDEN.search(number):
        raise PermanentError(
            message("prepare.employee_number_not_logon", employee=employee_number),
            details={"employee_number": employee_number},
        )
    syllables = name_syllables(name)
    if not syllables:
        raise PermanentError(
            message("prepare.username_impossible", name=name),
            details={"employee_name": name},
        )
    username = f"{syllables[0][0]}{number}"
    if len(username) > USERNAME_MAX:
        raise PermanentError(
            message("prepare.username_too_long", username=username, limit=USERNAME_MAX, max_number=USERNAME_MAX - 1),
            details={"employee_number": employee_number},
        )
    return username
