"""Console polish in a real browser at 1280 px: the engine-runs table fits the page, the site has an
icon (no 404 for /favicon.ico), and a Chinese browser reads the admin index and the dashboard's
cards in Chinese with Chinese spacing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from account_creation.models import EngineRun
from conftest import make_request, make_user
from tests.browser.test_dashboard_browser import SCREENSHOTS

PASSWORD = "pw-for-polish-browser-tests"  # noqa: S105 - a throwaway test account
LONG_HOST = "accountsync-worker-production-cn-east-2.internal.corp.example.com"

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def busy_console(api_client: Any, departments: None, django_user_model: Any) -> None:
    django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    body = make_request([make_user("P910001"), make_user("P910002", country="atlantis")], business_key="polish-1")
    assert api_client.post("/account-creation/create_accounts/", body, format="json").status_code == 207
    now = timezone.now()
    for n in range(10):
        EngineRun.objects.create(
            runner_id=f"{LONG_HOST}:{4_194_000 + n}:0123456789abcdef", host=LONG_HOST, pid=4_194_000 + n,
            started_at=now - timedelta(minutes=n), finished_at=now - timedelta(minutes=n), claimed=12_345,
            completed=12_000, retried=1_234, failed=111, stop_reason="max tasks reached (50)",
        )


@pytest.mark.parametrize("language", ["en-US", "zh-CN"])
def test_the_console_fits_1280px_has_an_icon_and_reads_in_the_browsers_language(
    live_server: Any, browser_page: Any, busy_console: None, language: str
) -> None:
    context = browser_page.context.browser.new_context(viewport={"width": 1280, "height": 900}, locale=language)
    page = context.new_page()
    page.set_default_timeout(30_000)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    base = live_server.url
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    index = page.locator("#content").inner_text()

    page.goto(f"{base}/admin/status/?runs=all")
    page.wait_for_selector("body[data-charts-ready='1']")
    # With the admin's navigation sidebar open, then closed (the runs sit beside the requests).
    for sidebar in ("open", "closed"):
        if sidebar == "closed":
            page.click("#toggle-nav-sidebar")
            page.wait_for_function("!document.querySelector('#main').classList.contains('shifted')")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"dashboard-1280-{language}-{sidebar}.png"), full_page=True)
        geometry = page.evaluate(
            """() => {
              const table = document.querySelector('#engine-runs').getBoundingClientRect();
              const column = document.querySelector('#engine-runs').parentElement.getBoundingClientRect();
              return {page: document.documentElement.scrollWidth, view: document.documentElement.clientWidth,
                      right: table.right, column: column.right, width: column.width};
            }"""
        )
        assert geometry["page"] <= geometry["view"], (sidebar, geometry)  # no horizontal scroll bar
        assert geometry["right"] <= geometry["column"] + 1, (sidebar, geometry)  # the table stays in its column
    cards = page.locator(".ops-cards").inner_text()
    icon = page.evaluate("fetch('/favicon.ico').then(r => [r.status, r.headers.get('content-type')])")
    assert icon[0] == 200, icon
    assert "icon" in icon[1], icon
    assert failed == [], failed  # the browser's own request for the icon included
    context.close()

    index = index.lower()  # the admin shows a table's caption in capitals
    if language == "zh-CN":
        assert "运维" in index
        assert "状态看板" in index
        assert "查找人员" in index
        for english in ("operations", "status dashboard", "find a person", "engine runs", "model name"):
            assert english not in index, english
        assert "不含已取消的任务" in cards
        assert " 前" not in cards
        assert "秒前" in cards
    else:
        assert "operations" in index
        assert "status dashboard" in index
        assert "of tasks not cancelled" in cards
        assert "s ago" in cards
