"""Staff member's walk through the dashboard in a real browser, on data from a sandbox run.

Screenshots go to docs/screenshots/ (committed, so a reviewer sees the pages).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from account_creation.models import AccountCreationTask, TaskStatus
from account_creation.tests.ops.sandbox_data import make_sandbox_run
from sandbox.server import SandboxServer

# Committed to docs/screenshots/; CI can write elsewhere to keep its checkout clean.
# A temp folder by default, so test runs do not rewrite the committed pictures; to refresh
# docs/screenshots/, run with ACCOUNTSYNC_SCREENSHOTS_DIR=docs/screenshots.
SCREENSHOTS = Path(
    os.environ.get("ACCOUNTSYNC_SCREENSHOTS_DIR") or Path(tempfile.gettempdir()) / "accountsync-screenshots"
)
PASSWORD = "pw-for-browser-tests"  # noqa: S105 - a throwaway test account

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_dashboard_grid_retry_and_person(
    live_server: Any,
    browser_page: Any,
    api_client: Any,
    departments: None,
    sandbox_server: SandboxServer,
    settings: Any,
    django_user_model: Any,
) -> None:
    sandbox_server.world.reset()
    run = make_sandbox_run(api_client=api_client, server=sandbox_server, settings=settings)
    django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser_page
    base = live_server.url

    # Log in through the admin's form; the dashboard is where it sends us back.
    page.goto(f"{base}/admin/status/")
    assert "/admin/login/" in page.url
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/status/")

    # The charts are drawn from the server's data by the vendored Chart.js.
    page.wait_for_selector("body[data-charts-ready='1']")
    assert page.evaluate("typeof window.Chart") == "function"
    for canvas in ("chart-status", "chart-day", "chart-week"):
        width = page.eval_on_selector(f"#{canvas}", "c => c.width")
        assert width > 100, canvas
    assert page.locator("#failure-reasons").inner_text().count("IDaaS refused the user") >= 1
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)

    # The failing request's grid, from the "Latest requests" table.
    page.click(f"#recent-requests a:text('{run.mixed_key}')")
    page.wait_for_selector("#request-grid")
    assert page.locator("td.cell").count() == 9
    assert page.locator("td.cell[data-status='failed']").count() == 2
    assert page.locator("td.cell[data-status='blocked']").count() == 4
    page.screenshot(path=str(SCREENSHOTS / "request-grid.png"), full_page=True)

    # Retry one failed IDaaS task with its button.
    failed = AccountCreationTask.objects.get(employee_number=run.failing_numbers[0], account_type="idaas")
    page.click(f"td.cell[data-task='{failed.pk}'] button.retry")
    page.wait_for_selector(".messagelist")
    assert f"put back to pending: #{failed.pk}" in page.locator(".messagelist").inner_text()
    assert page.locator(f"td.cell[data-task='{failed.pk}']").get_attribute("data-status") == "pending"
    failed.refresh_from_db()
    assert failed.status == TaskStatus.PENDING
    page.screenshot(path=str(SCREENSHOTS / "request-grid-after-retry.png"), full_page=True)

    # Find a person by employee number: three accounts and the attempt history.
    page.fill("input[name=q]", "P100001")
    page.click("#find-person")
    page.wait_for_selector("#accounts")
    accounts = page.locator("#accounts").inner_text()
    assert "zP100001" in accounts
    assert "zhangsan@corp.example.com" in accounts
    welink = AccountCreationTask.objects.get(employee_number="P100001", account_type="welink")
    assert welink.result
    assert welink.result["account_id"] in accounts
    assert page.locator("#person-attempts tbody tr").count() >= 3
    page.screenshot(path=str(SCREENSHOTS / "person.png"), full_page=True)
