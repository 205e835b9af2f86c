"""The operator's console (#16) in a real browser: the attention panel's links lead to the fix
(and its Release button ends a quarantine), the grid updates while the engine runs (no reload)
and filters, the CSV keeps Chinese, the admin has no delete for tasks and fits one task per line.

A Chinese browser sees no English product text: the data has a failed task with a stored
error, blocked tasks, a task waiting for a department mapping, a quarantined system, a
finished engine run and a person rejected at intake, and each page is checked for those
states' messages (Chinese present, English absent; the English browser the other way round).
Screenshots in English and Chinese (ACCOUNTSYNC_SCREENSHOTS_DIR=docs/screenshots to refresh the
committed ones).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry

from account_creation.models import AccountCreationTask, DownstreamSystem, SystemState
from account_creation.tests.ops.console_states import (
    BUSINESS_KEY,
    DONE,
    FAILED,
    QUARANTINED,
    REJECTED,
    UNMAPPED_DEPARTMENT,
    run_engine,
    seed_request,
    state_phrases,
)

SCREENSHOTS = Path(
    os.environ.get("ACCOUNTSYNC_SCREENSHOTS_DIR") or Path(tempfile.gettempdir()) / "accountsync-screenshots"
)
PASSWORD = "pw-for-browser-tests"  # noqa: S105 - a throwaway test account
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _log_in(page: Any, base: str, target: str) -> None:
    page.goto(f"{base}{target}")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}{target}")


@pytest.fixture
def console_data(api_client: Any, departments: None, django_user_model: Any) -> None:
    """account_creation/tests/ops/console_states.py: a person who completes, one IDaaS refuses
    (their WeLink and Email blocked), one waiting for a department mapping, one rejected at
    intake, and WeLink quarantined; the engine runs during the test."""
    django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    seed_request(api_client)


def _check_language(text: str, phrases: list[tuple[str, str]], language: str, where: str) -> None:
    """The states' messages in the page's language, none in the other (a Chinese browser sees
    no English product text; an English one shows the phrases are really there)."""
    for english, chinese in phrases:
        shown, hidden = (chinese, english) if language == "zh-CN" else (english, chinese)
        assert shown in text, (where, shown)
        assert hidden not in text, (where, hidden)


@pytest.mark.parametrize("language", ["en-US", "zh-CN"])
def test_console_live_attention_export_and_language(
    live_server: Any, browser_page: Any, console_data: None, language: str
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser_page
    if language != "en-US":
        # A browser set to Chinese: its own locale, so every request says Accept-Language: zh-CN.
        context = page.context.browser.new_context(viewport={"width": 1400, "height": 1000}, locale=language)
        page = context.new_page()
        page.set_default_timeout(30_000)
    base = live_server.url
    suffix = "" if language == "en-US" else "-zh"
    phrases = state_phrases()

    # The grid, before the engine ran: everything pending; then it updates by itself.
    _log_in(page, base, f"/admin/status/request/?business_key={BUSINESS_KEY}")
    assert page.locator("td.cell[data-status='pending']").count() == 9
    assert page.locator("#rejected-people").inner_text().count(REJECTED) >= 1
    worker = threading.Thread(target=run_engine)
    worker.start()
    worker.join()
    page.wait_for_selector("td.cell[data-status='failed']", timeout=20_000)
    page.wait_for_selector("td.cell[data-status='completed']", timeout=20_000)
    assert int(page.get_attribute("body", "data-live-updates") or "0") >= 1
    assert f"z{DONE}" in page.locator("#request-grid").inner_text()
    _check_language(page.locator("#content").inner_text(), phrases["grid"], language, "grid")
    page.screenshot(path=str(SCREENSHOTS / f"request-grid{suffix}.png"), full_page=True)

    # The grid's filters: only the failed person, then everyone again.
    page.select_option("#id_status", "failed")
    page.click("#grid-filter")
    page.wait_for_selector("#grid-filtered")
    assert page.locator("#request-grid th[scope=row]").count() == 1
    assert FAILED in page.locator("#request-grid").inner_text()
    page.click("#grid-filter-clear")
    page.wait_for_selector("#rejected-people")
    assert page.locator("#request-grid th[scope=row]").count() == 3

    # CSV export: read the downloaded file; the names are intact.
    with page.expect_download() as download_info:
        page.click("#export-csv")
    path = download_info.value.path()
    raw = Path(path).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert {"张三", "李四", "王五"} <= {row[6] for row in rows[1:]}

    # The dashboard: every state's message in the reader's language, the stop reason too.
    page.goto(f"{base}/admin/status/")
    page.wait_for_selector("body[data-charts-ready='1']")
    causes = [row.get_attribute("data-cause") for row in page.locator("#attention tr.problem").all()]
    assert {"missing_mapping", "failed_person", "quarantine"} <= set(causes)
    text = page.locator("#content").inner_text()
    _check_language(text, phrases["dashboard"], language, "dashboard")
    if language == "zh-CN":
        for english in ("Needs attention", "Latest requests", "Engine runs", "Find person", "Pending", "failed:",
                        "is quarantined", "tasks waiting"):
            assert english not in text, english
        assert "需要处理" in text
    page.screenshot(path=str(SCREENSHOTS / f"dashboard{suffix}.png"), full_page=True)

    # The missing mapping's link opens the pre-filled form.
    page.locator("#attention tr[data-cause='missing_mapping'] a.fix").click()
    page.wait_for_selector("#id_idata_departmentcode")
    assert page.input_value("#id_idata_departmentcode") == UNMAPPED_DEPARTMENT

    # The quarantine's Release button ends it and comes back to the dashboard with a message.
    page.goto(f"{base}/admin/status/")
    page.locator(f"#attention tr[data-key='{QUARANTINED}'] button.fix").click()
    page.wait_for_selector(".messagelist")
    assert page.url == f"{base}/admin/status/"
    assert page.locator("#attention tr[data-cause='quarantine']").count() == 0
    assert DownstreamSystem.objects.get(name=QUARANTINED).state == SystemState.OK
    assert LogEntry.objects.filter(object_id=QUARANTINED).count() == 1

    # The person page of the refused person: the error and the blocked tasks, in the language.
    page.goto(f"{base}/admin/status/person/?employee={FAILED}")
    page.wait_for_selector("#accounts")
    _check_language(page.locator("#content").inner_text(), phrases["person"], language, "person")
    page.screenshot(path=str(SCREENSHOTS / f"person{suffix}.png"), full_page=True)

    # The admin has no delete for tasks.
    task = AccountCreationTask.objects.filter(employee_number=DONE).first()
    assert task is not None
    page.goto(f"{base}/admin/account_creation/accountcreationtask/{task.pk}/change/")
    assert page.locator("a.deletelink").count() == 0
    page.goto(f"{base}/admin/account_creation/accountcreationtask/")
    assert page.locator("select[name=action] option[value=delete_selected]").count() == 0
    # One task = one line at 1,400 px, nothing cut off to the right (both side bars open).
    heights = page.eval_on_selector_all("#result_list tbody tr", "rows => rows.map(r => r.offsetHeight)")
    assert len(heights) == 9
    assert max(heights) < 2 * min(heights), heights
    overflow = page.eval_on_selector(".results", "r => r.scrollWidth - r.clientWidth")
    assert overflow <= 0, overflow
    error = page.locator("#result_list td.field-short_error .cut:not(:empty)").first
    assert error.is_visible()
    assert error.bounding_box()["width"] > 80  # the error keeps some room
    page.screenshot(path=str(SCREENSHOTS / f"admin-tasks{suffix}.png"), full_page=False)
