"""The Content-Security-Policy in a real browser: the admin, the status dashboard and Swagger UI
run without a single violation, and Swagger UI works when the API document needs a token
(Authorize with `Token <key>`, then "Try it out")."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import issue_key
from tests.browser.test_dashboard_browser import SCREENSHOTS

PASSWORD = "pw-for-csp-browser-tests"  # noqa: S105 - a throwaway test account

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Runs before the page's own scripts on every navigation; Playwright injects it outside the
# page's policy.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} ${e.sample || ""}`);
});
"""


class Watch:
    """CSP violations, script errors and console errors of one page."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.add_init_script(RECORD_VIOLATIONS)
        self.expected_statuses: dict[str, int] = {}
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", self._console)
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        # Failed requests are checked by URL in _response; anything else is an error.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console: {message.text}")

    def _response(self, response: Any) -> None:
        path = "/" + response.url.split("/", 3)[-1]
        # /favicon.ico included: the site has an icon (a 404 for it is an error like any other).
        if response.status >= 400 and self.expected_statuses.get(path) != response.status:
            self.errors.append(f"{response.status} {path}")

    def assert_clean(self, where: str) -> None:
        violations = self.page.evaluate("window.__cspViolations || []")
        assert not violations, (where, violations)
        assert not self.errors, (where, self.errors)


def test_admin_and_dashboard_run_under_the_policy(live_server: Any, browser_page: Any, django_user_model: Any) -> None:
    django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    page = browser_page
    watch = Watch(page)
    base = live_server.url

    page.goto(f"{base}/admin/login/")
    assert page.evaluate("document.styleSheets.length") > 0
    watch.assert_clean("admin login")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    watch.assert_clean("admin index")

    page.goto(f"{base}/admin/status/")
    page.wait_for_selector("body[data-charts-ready='1']")
    assert page.evaluate("typeof window.Chart") == "function"
    watch.assert_clean("dashboard")

    # A change list with its filters and action bar (admin JavaScript), and an add form.
    page.goto(f"{base}/admin/account_creation/accountcreationtask/")
    page.wait_for_selector("#changelist")
    watch.assert_clean("task change list")
    page.goto(f"{base}/admin/departments/departmentmapping/add/")
    page.wait_for_selector("form")
    watch.assert_clean("mapping add form")


def _open_task_stats(page: Any) -> Any:
    operation = page.locator(".opblock", has=page.locator("[data-path='/account-creation/task_stats/']"))
    operation.locator(".opblock-summary").first.click()
    operation.locator(".try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    return status


@pytest.mark.parametrize("typed", ["bare", "prefixed"])
def test_swagger_ui_with_a_token_when_the_document_is_private(
    live_server: Any, browser_page: Any, settings: Any, typed: str
) -> None:
    settings.API_DOCS_PUBLIC = False
    key = issue_key("swagger-reader", origin_systems=("oa",), scopes=("read",))
    page = browser_page
    watch = Watch(page)
    watch.expected_statuses["/api/schema/"] = 401  # before Authorize

    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector("body[data-schema='needs-token']")
    assert "needs an API token" in page.locator(".swagger-ui .info").inner_text()
    assert page.locator(".opblock").count() == 0  # nothing of the API without a token

    # Authorize: paste the key as create_api_token printed it, with or without "Token ".
    page.click(".swagger-ui .auth-wrapper .authorize")
    page.fill(".modal-ux input[type=text]", key if typed == "bare" else f"Token {key}")
    page.click(".modal-ux .auth-btn-wrapper .authorize")
    # The page loads the document with the token and shows it (the dialog goes with the old view).
    page.wait_for_selector("body[data-schema='loaded']")
    page.wait_for_selector("[data-path='/account-creation/create_accounts/']")

    # Still authorized in the new view, and "Try it out" sends the same Authorization header.
    assert page.locator(".swagger-ui .auth-wrapper .authorize.locked").count() == 1
    status = _open_task_stats(page)
    assert status.inner_text().strip() == "200"
    page.screenshot(path=str(SCREENSHOTS / "swagger-ui-authorized.png"), full_page=False)
    watch.assert_clean("swagger ui, private document")


def test_swagger_ui_loads_a_public_document_at_once(live_server: Any, browser_page: Any, settings: Any) -> None:
    settings.API_DOCS_PUBLIC = True
    page = browser_page
    watch = Watch(page)
    watch.expected_statuses["/account-creation/task_stats/"] = 401  # tried without a token
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector("body[data-schema='loaded']")
    page.wait_for_selector("[data-path='/account-creation/task_stats/']")
    assert page.locator(".opblock").count() > 10
    # Without a token the API itself still refuses.
    status = _open_task_stats(page)
    assert status.inner_text().strip() == "401"
    watch.assert_clean("swagger ui, public document")


def test_a_refused_token_keeps_the_authorize_box(live_server: Any, browser_page: Any, settings: Any) -> None:
    settings.API_DOCS_PUBLIC = False
    page = browser_page
    Watch(page)
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector("body[data-schema='needs-token']")
    page.click(".swagger-ui .auth-wrapper .authorize")
    page.fill(".modal-ux input[type=text]", "Token not-a-real-key")
    page.click(".modal-ux .auth-btn-wrapper .authorize")
    # (A locator, not wait_for_function: the policy refuses the eval() that one would need.)
    page.locator(".swagger-ui .info", has_text="was refused").wait_for()
    assert page.locator(".swagger-ui .auth-wrapper .authorize").count() == 1
