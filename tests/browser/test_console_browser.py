"""The operator's console (#16) in a real browser: the attention panel's links lead to the fix,
the grid updates while the engine runs (no reload), the CSV keeps Chinese, a Chinese browser
sees Chinese, the admin has no delete for tasks. Screenshots in English and Chinese.
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

from account_creation.connectors import override_connectors
from account_creation.connectors.fake import FakeConnector
from account_creation.models import AccountCreationTask
from account_creation.services.engine import AccountCreationService
from conftest import make_request, make_user

SCREENSHOTS = Path(
    os.environ.get("ACCOUNTSYNC_SCREENSHOTS_DIR") or Path(tempfile.gettempdir()) / "accountsync-screenshots"
)
PASSWORD = "pw-for-browser-tests"  # noqa: S105 - a throwaway test account
SYSTEMS = ("idaas", "welink", "email")

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _log_in(page: Any, base: str, target: str) -> None:
    page.goto(f"{base}{target}")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}{target}")


@pytest.fixture
def console_data(api_client: Any, departments: None, django_user_model: Any) -> None:
    django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    people = [make_user("P900001", name="张三"), make_user("P900002", name="李四"),
              make_user("P900003", name="王五", departmentCode="999999")]
    body = make_request([*people, make_user("P900004", name="赵六", country="atlantis")], business_key="console-1")
    assert api_client.post("/account-creation/create_accounts/", body, format="json").status_code == 207


def _run_engine() -> None:
    with override_connectors({s: FakeConnector(s) for s in SYSTEMS}):
        AccountCreationService(max_tasks=500).run()


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

    # The grid, before the engine ran: everything pending; then it updates by itself.
    _log_in(page, base, "/admin/status/request/?business_key=console-1")
    assert page.locator("td.cell[data-status='pending']").count() == 9
    assert page.locator("#rejected-people").inner_text().count("P900004") >= 1
    worker = threading.Thread(target=_run_engine)
    worker.start()
    worker.join()
    page.wait_for_selector("td.cell[data-status='completed']", timeout=20_000)
    assert int(page.get_attribute("body", "data-live-updates") or "0") >= 1
    assert "zP900001" in page.locator("#request-grid").inner_text()
    page.screenshot(path=str(SCREENSHOTS / f"request-grid{suffix}.png"), full_page=True)

    # CSV export: read the downloaded file; the names are intact.
    with page.expect_download() as download_info:
        page.click("#export-csv")
    path = download_info.value.path()
    raw = Path(path).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert {"张三", "李四", "王五"} <= {row[6] for row in rows[1:]}

    # The dashboard's attention panel: the missing mapping first, its link opens the pre-filled form.
    page.goto(f"{base}/admin/status/")
    page.wait_for_selector("body[data-charts-ready='1']")
    first = page.locator("#attention tr.problem").first
    assert first.get_attribute("data-cause") == "missing_mapping"
    page.screenshot(path=str(SCREENSHOTS / f"dashboard{suffix}.png"), full_page=True)
    if language == "zh-CN":
        text = page.locator("#content").inner_text()
        for english in ("Needs attention", "Latest requests", "Engine runs", "Find person", "Pending"):
            assert english not in text, english
        assert "需要处理" in text
    first.locator("a.fix").click()
    page.wait_for_selector("#id_idata_departmentcode")
    assert page.input_value("#id_idata_departmentcode") == "999999"

    # The person page.
    page.goto(f"{base}/admin/status/person/?employee=P900001")
    page.wait_for_selector("#accounts")
    page.screenshot(path=str(SCREENSHOTS / f"person{suffix}.png"), full_page=True)

    # The admin has no delete for tasks.
    task = AccountCreationTask.objects.filter(employee_number="P900001").first()
    assert task is not None
    page.goto(f"{base}/admin/account_creation/accountcreationtask/{task.pk}/change/")
    assert page.locator("a.deletelink").count() == 0
    page.goto(f"{base}/admin/account_creation/accountcreationtask/")
    assert page.locator("select[name=action] option[value=delete_selected]").count() == 0
    page.screenshot(path=str(SCREENSHOTS / f"admin-tasks{suffix}.png"), full_page=False)
