"""Attempt rows keep only allow-listed fields of a downstream answer, redacted.

A server that echoes a secret back — base64-encoded, upper-cased, cut short — in a field we
do not expect must not get it into the attempt row, the task or the log output.
"""

from __future__ import annotations

import base64
import json

import pytest
import responses

from account_creation.connectors import reset_connectors
from account_creation.models import AccountCreationLog, AccountCreationTask, TaskStatus
from account_creation.services.engine import AccountCreationService
from account_creation.tests.connectors.conftest import (
    EXCHANGE_URL,
    IDAAS_CREATE_URL,
    IDAAS_TOKEN_URL,
    SECRETS,
)
from accountsync.redaction import STORED_DETAIL_KEYS, redact_text, stored_details
from accountsync.tests.logcapture import console_output
from conftest import make_request

pytestmark = pytest.mark.django_db

IDAAS_SECRET, _, EMAIL_TOKEN = SECRETS
RUNTIME_TOKEN = "sbx-idaas-runtime-token-4242abcd"


def forms(secret: str) -> list[str]:
    """How a careless or hostile server might echo a secret."""
    raw = secret.encode()
    return [
        secret,
        secret.upper(),
        secret[:10],
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        base64.b64encode(b"user:" + raw).decode(),  # inside a longer encoded text
        base64.b64encode(raw).decode().upper(),
        raw.hex().upper(),
    ]


def echoes(secret: str) -> dict[str, str]:
    return {f"field{i}": form for i, form in enumerate(forms(secret))}


def leaks(text: str, *secrets: str) -> list[str]:
    core = [form for secret in secrets for form in forms(secret)]
    # The base64 forms may keep their last character and padding: compare without them.
    core = [form[:-3] if form.endswith("=") else form for form in core]
    return [form for form in core if form.lower() in text.lower()]


@pytest.fixture
def real_connectors():
    reset_connectors()
    yield
    reset_connectors()


@pytest.fixture
def accepted(api_client, departments):
    response = api_client.post("/account-creation/create_accounts/", make_request(), format="json")
    assert response.status_code == 201, response.json()


def stored_text() -> str:
    rows = list(AccountCreationLog.objects.values("error_message", "error_details", "execution_context",
                                                  "traceback"))
    tasks = list(AccountCreationTask.objects.values("last_error", "result"))
    return json.dumps([rows, tasks], ensure_ascii=False)


def run_engine() -> str:
    with console_output() as output:
        AccountCreationService(max_tasks=50).run()
    return output.getvalue()


def test_secrets_echoed_in_any_form_in_an_idaas_answer_are_never_stored(accepted, real_connectors):
    body = {
        "code": "400",
        "message": f"refused; your secret was {base64.b64encode(IDAAS_SECRET.encode()).decode()} "
                   f"and {RUNTIME_TOKEN.upper()}",
        "requestId": "req-7f3a",
        "debug": {**echoes(IDAAS_SECRET), **echoes(RUNTIME_TOKEN)},
        "userInfo": {"mobile": "13800138000", "note": IDAAS_SECRET.upper()},
    }
    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        http.post(IDAAS_TOKEN_URL, json={"code": "201", "access_token": RUNTIME_TOKEN, "expires_in": 7200})
        http.post(IDAAS_CREATE_URL, status=400, json=body, headers={"X-Request-Id": "gw-1234"})
        logs = run_engine()
    task = AccountCreationTask.objects.get(account_type="idaas")
    assert task.status == "failed"
    [row] = task.logs.all()
    details = dict(row.error_details or {})
    assert set(details) <= STORED_DETAIL_KEYS
    assert {"http_status", "code", "message", "request_id", "request"} <= set(details)
    assert "debug" not in json.dumps(details)
    assert details["request_id"] == "gw-1234"
    assert "refused; your secret was ***" in details["message"]
    assert leaks(stored_text(), IDAAS_SECRET, RUNTIME_TOKEN) == []
    assert leaks(logs, IDAAS_SECRET, RUNTIME_TOKEN) == []
    assert "http_answer" in logs  # the connector did log its call


def test_a_non_json_answer_is_quoted_short_and_redacted_never_stored_raw(accepted, real_connectors):
    page = "<html>" + " ".join(forms(IDAAS_SECRET)) + "</html>"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        http.post(IDAAS_TOKEN_URL, json={"code": "201", "access_token": RUNTIME_TOKEN, "expires_in": 7200})
        http.post(IDAAS_CREATE_URL, status=400, body=page)
        logs = run_engine()
    row = AccountCreationLog.objects.get(task__account_type="idaas")
    assert "body_excerpt" not in (row.error_details or {})
    assert "<html>" in row.error_message  # the operator still sees what came back
    assert leaks(stored_text(), IDAAS_SECRET) == []
    assert leaks(logs, IDAAS_SECRET) == []


def test_exchange_fail_items_keep_their_message_text_redacted_and_nothing_else(accepted, real_connectors):
    # IDaaS and WeLink are done; Exchange answers with fail items that echo its token.
    AccountCreationTask.objects.exclude(account_type="email").update(status=TaskStatus.COMPLETED)
    item = {"SAMAccountName": "zP000126", "Error": f"Access denied for token {EMAIL_TOKEN.upper()}",
            "Debug": base64.b64encode(EMAIL_TOKEN.encode()).decode(), "Token": EMAIL_TOKEN}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        http.post(EXCHANGE_URL, json={"jsonValue": {"success": [], "fail": [item, echoes(EMAIL_TOKEN)]}})
        logs = run_engine()
    row = AccountCreationLog.objects.get(task__account_type="email")
    details = dict(row.error_details or {})
    assert details["fail"][0] == {"SAMAccountName": "zP000126", "Error": "Access denied for token ***"}
    assert details["fail"][1] == {}  # an object with no known field keeps nothing
    assert leaks(stored_text(), EMAIL_TOKEN) == []
    assert leaks(logs, EMAIL_TOKEN) == []


def test_stored_details_keep_only_allow_listed_keys():
    details = {"http_status": 400, "code": "E1", "message": f"bad {IDAAS_SECRET[:9]}…", "request_id": "r-1",
               "request": {"userInfo": {"secret": "x"}}, "body": {"anything": IDAAS_SECRET},
               "body_excerpt": IDAAS_SECRET, "employee_name": "张三", "maybe_applied": True}
    kept = stored_details(details)
    assert set(kept) == {"http_status", "code", "message", "request_id", "request", "maybe_applied"}
    assert kept["message"] == "bad ***…"
    assert kept["request"] == {"userInfo": {"secret": "***"}}


@pytest.mark.parametrize("text", forms(IDAAS_SECRET))
def test_redact_text_catches_every_form(text):
    redacted = redact_text(f"before {text} after")
    assert leaks(redacted, IDAAS_SECRET) == []
    assert "***" in redacted
    assert redacted.startswith("before ")
    assert redacted.endswith(" after")


def test_redact_text_leaves_ordinary_text_alone():
    text = "IDaaS refused the user (HTTP 400, code 400): userName zP000126 张三 138****8000"
    assert redact_text(text) == text
    assert redact_text("idaas-s") == "idaas-s"  # shorter than the prefix length: not a secret
