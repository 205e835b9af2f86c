"""Log lines escape control and line-separator characters: one record is one line."""

from __future__ import annotations

import logging
import re

import pytest

from accountsync.logging import escape_control, kv
from accountsync.tests.logcapture import console_output
from conftest import make_request

# Each of these starts a new line for some reader (str.splitlines, editors, log viewers) or
# hides text (zero-width, bidirectional override).
SEPARATORS = ["\u2028", "\u2029", "\u0085", "\u200b", "\u202e", "\ufeff"]
# asctime in TIME_ZONE with its offset (the log says which clock it uses).
LINE_START = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2} level=")


def assert_one_line_per_record(output: str) -> list[str]:
    lines = output.splitlines()  # splits on \n, \r, \x85, \u2028, \u2029 …
    assert lines, "nothing was logged"
    for line in lines:
        assert LINE_START.match(line), f"a line that is not a record of its own: {line!r}"
    for char in ["\n", "\r", *SEPARATORS]:
        assert char not in output.rstrip("\n").replace("\n", ""), repr(char)
    return lines


@pytest.mark.parametrize(("raw", "escaped"), [
    ("a\nb", "a\\nb"), ("a\rb", "a\\rb"), ("a\tb", "a\\tb"), ("a\x00b", "a\\x00b"), ("a\x1bb", "a\\x1bb"),
    ("a\x85b", "a\\x85b"), ("a\u2028b", "a\\u2028b"), ("a\u2029b", "a\\u2029b"), ("a\u200bb", "a\\u200bb"),
    ("a\u202eb", "a\\u202eb"), ("张三 O'Neil", "张三 O'Neil"), ("a\U000e0001b", "a\\U000e0001b"),
])
def test_escape_control_escapes_control_format_and_separator_characters(raw, escaped):
    assert escape_control(raw) == escaped
    assert escape_control(escaped) == escaped  # idempotent: a record passes two handlers


def test_kv_escapes_values():
    line = kv(business_key="bk\nlevel=ERROR forged", name="a\u2028b")
    assert "\n" not in line
    assert "\u2028" not in line
    assert line == "business_key=\"bk\\nlevel=ERROR forged\" name=a\\u2028b"


@pytest.mark.django_db
def test_business_key_with_line_separators_cannot_forge_a_log_line(api_client, departments):
    forged = "65090" + "".join(SEPARATORS) + "2024-01-01 00:00:00,000 level=ERROR logger=x forged"
    with console_output() as output:
        response = api_client.post("/account-creation/create_accounts/", make_request(business_key=forged),
                                   format="json")
    assert response.status_code == 201, response.json()
    lines = assert_one_line_per_record(output.getvalue())
    [accepted] = [line for line in lines if "request accepted" in line]
    for escape in ("\\u2028", "\\u2029", "\\x85", "\\u200b", "\\u202e", "\\ufeff"):
        assert escape in accepted
    assert "forged" in accepted  # still there, inside the one record, quoted


def test_messages_formatted_with_arguments_and_tracebacks_stay_on_one_line():
    logger = logging.getLogger("account_creation.tests.escaping")
    with console_output() as output:
        logger.warning("value %s", "one\ntwo\r\nthree\u2028four")
        try:
            raise ValueError("boom\nlevel=ERROR forged")
        except ValueError:
            logger.exception("failed for %s", "x\u2029y")
    lines = assert_one_line_per_record(output.getvalue())
    assert len(lines) == 2
    assert "one\\ntwo\\r\\nthree\\u2028four" in lines[0]
    assert "Traceback (most recent call last):" in lines[1]
    assert "boom\\nlevel=ERROR forged" in lines[1]


def test_every_product_app_logs_at_log_level() -> None:
    """An app missing from LOGGING's loggers would drop its INFO lines (the root logs WARNING):
    callbacks' "callback configured" and "delivered" lines once were."""
    import logging

    from django.conf import settings

    level = logging.getLevelName(settings.LOG_LEVEL)
    for app in ("account_creation", "api_clients", "callbacks", "departments", "sandbox", "accountsync"):
        assert logging.getLogger(f"{app}.services").getEffectiveLevel() == level, app
