"""The message catalogs: compiled with Babel, checked against the code.

``locale/<language>/LC_MESSAGES/django.po`` is the source; the ``.mo`` Django reads is built,
not committed: by ``make install`` (``pybabel compile``) and, when missing or older than its
``.po``, at the start of the test suite. Babel is pure Python and pinned in requirements.txt,
so a fresh machine compiles without GNU gettext's ``msgfmt`` (which Django's compilemessages
needs and Debian does not install by default).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "locale"
DOMAIN = "django"
# Directories whose Python and templates the product ships (tests, benchmarks and the
# sandbox stand-ins of downstream systems write no message a user of the product reads).
SOURCE_DIRS = ("account_creation", "accountsync", "api_clients", "callbacks", "departments", "templates")
_SKIPPED_PARTS = {"tests", "migrations", "__pycache__"}
_GETTEXT_FUNCTIONS = {"_", "gettext", "gettext_lazy", "gettext_noop", "pgettext", "pgettext_lazy"}


def catalogs() -> list[Path]:
    return sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def compile_catalogs(*, only_stale: bool = True) -> list[Path]:
    """Write each ``.mo`` beside its ``.po``; returns those written."""
    written = []
    for po_path in catalogs():
        mo_path = po_path.with_suffix(".mo")
        if only_stale and mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as source:
            catalog = read_po(source)
        with mo_path.open("wb") as target:
            write_mo(target, catalog)
        written.append(mo_path)
    return written


def translations(po_path: Path) -> dict[str, str]:
    """msgid -> msgstr of one catalog (plural forms: their first)."""
    with po_path.open("rb") as source:
        catalog = read_po(source)
    out = {}
    for message in catalog:
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        msgstr = message.string if isinstance(message.string, str) else (message.string or ("",))[0]
        out[msgid] = "" if message.fuzzy else msgstr
    return out


def _source_files(suffix: str) -> Iterator[Path]:
    for directory in SOURCE_DIRS:
        for path in (ROOT / directory).rglob(f"*{suffix}"):
            if not _SKIPPED_PARTS & set(path.relative_to(ROOT).parts):
                yield path


def python_msgids() -> dict[str, str]:
    """Every literal passed to a gettext function in the product's Python: msgid -> where."""
    found: dict[str, str] = {}
    for path in _source_files(".py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name not in _GETTEXT_FUNCTIONS:
                continue
            argument = node.args[1] if name.startswith("pgettext") and len(node.args) > 1 else node.args[0]
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                found.setdefault(argument.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


_TRANSLATE_TAG = re.compile(r"""{%\s*(?:translate|trans)\s+(?P<q>["'])(?P<text>.*?)(?P=q)""")
_BLOCK_TAG = re.compile(r"{%\s*blocktrans(?:late)?(?P<args>[^%]*)%}(?P<text>.*?){%\s*endblocktrans(?:late)?\s*%}", re.S)


def template_msgids() -> dict[str, str]:
    """Every text of a ``{% translate %}`` / ``{% blocktranslate %}`` tag in the product's templates."""
    found: dict[str, str] = {}
    for path in _source_files(".html"):
        text = path.read_text(encoding="utf-8")
        where = str(path.relative_to(ROOT))
        for match in _TRANSLATE_TAG.finditer(text):
            found.setdefault(match.group("text"), where)
        for match in _BLOCK_TAG.finditer(text):
            body = match.group("text")
            if "trimmed" in match.group("args"):
                body = " ".join(line.strip() for line in body.strip().splitlines() if line.strip())
            found.setdefault(re.sub(r"{{\s*(\w+)\s*}}", r"%(\1)s", body), where)
    return found
