"""The Chinese catalog covers every message the product writes (issue #15)."""

from __future__ import annotations

import re

import pytest
from django.utils.translation import override

from accountsync import catalog
from accountsync.messages import CATALOG, Message

CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"%\((\w+)\)s|\{(\w+)\}")
ZH_PO = catalog.LOCALE_DIR / "zh_Hans" / "LC_MESSAGES" / "django.po"


def _placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


def test_every_message_id_has_a_chinese_translation_with_the_same_placeholders():
    entries = catalog.translations(ZH_PO)
    assert entries, "the zh_Hans catalog is empty"
    untranslated = [msgid for msgid, msgstr in entries.items() if not msgstr or not CJK.search(msgstr)]
    assert untranslated == [], f"message ids without a Chinese translation: {untranslated}"
    mismatched = [msgid for msgid, msgstr in entries.items() if _placeholders(msgid) != _placeholders(msgstr)]
    assert mismatched == [], f"translations whose placeholders differ from the source: {mismatched}"


def test_every_translatable_text_in_the_code_and_templates_is_in_the_catalog():
    entries = catalog.translations(ZH_PO)
    wanted = {**catalog.python_msgids(), **catalog.template_msgids()}
    missing = {msgid: where for msgid, where in wanted.items() if msgid not in entries}
    assert missing == {}, (
        "texts marked for translation but missing from locale/zh_Hans (run makemessages -l zh_Hans "
        f"and translate them): {missing}"
    )


def test_the_compiled_catalog_is_current():
    mo_path = ZH_PO.with_suffix(".mo")
    assert mo_path.exists()
    assert mo_path.stat().st_mtime >= ZH_PO.stat().st_mtime


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_every_message_code_renders_in_chinese_and_in_english(code):
    template = str(CATALOG[code])
    params = {name: "X" for name in _placeholders(template)}
    message = Message(code, params)
    with override("zh-hans"):
        chinese = message.render()
    with override("en"):
        english = message.render()
    assert CJK.search(chinese), chinese
    assert chinese != english


def test_the_operations_guide_lists_every_failure_message_in_both_languages():
    from account_creation.messages import failure_table

    guide = (catalog.ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert failure_table() in guide, "docs/operations.md's failure table is out of date: regenerate it"
