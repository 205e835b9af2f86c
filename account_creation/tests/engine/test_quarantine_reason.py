"""A quarantine's reason is stored as a code and parameters and read in the reader's language:
the API (Accept-Language), /healthz, the dashboard (browser language) and the command (LANGUAGE_CODE).

The engine runs the real WeLink connector against mocked HTTP (IDaaS and Email are fakes), so
the reason is the one a real credential refusal or outage stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import responses
from django.core.management import call_command
from django.utils import timezone

from account_creation.connectors import override_connectors
from account_creation.connectors.base import Connector
from account_creation.connectors.fake import FakeConnector
from account_creation.connectors.welink import WelinkConnector
from account_creation.models import DownstreamSystem, SystemState
from account_creation.tests.connectors.conftest import WELINK_CREATE_URL, WELINK_DETAIL_URL, WELINK_TOKEN_URL
from account_creation.tests.ops.sandbox_data import staff_client

CREDENTIALS_EN = (
    "WeLink refused the client credentials (code 10007: wrong client id or secret). Check WELINK_CLIENT_ID and "
    "WELINK_CLIENT_SECRET."
)
CREDENTIALS_ZH = (
    "WeLink 拒绝了客户端凭据（代码 10007：client id 或 secret 错误）。请检查 WELINK_CLIENT_ID 和 "
    "WELINK_CLIENT_SECRET。"
)
# The outage's own words ("service busy") are WeLink's, not ours: the same in both languages.
OUTAGE_EN = "3 failures in a row without a usable answer (last: WeLink create: server error HTTP 503 (service busy).)"
OUTAGE_ZH = "连续 3 次失败，未得到可用的应答（最后一次：WeLink 创建用户：服务器错误 HTTP 503 (service busy)。）"


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def live_welink(http: responses.RequestsMock) -> Iterator[None]:
    """The real WeLink connector (HTTP mocked); IDaaS and Email always succeed."""
    connectors: dict[str, Connector] = {
        "idaas": FakeConnector("idaas"), "welink": WelinkConnector(), "email": FakeConnector("email"),
    }
    with override_connectors(connectors):
        yield


def run_engine() -> str:
    out = StringIO()
    call_command("process_account_creation_tasks", "--max-tasks=50", "--no-progress", stdout=out)
    return out.getvalue()


def dry_run() -> str:
    out = StringIO()
    call_command("process_account_creation_tasks", "--dry-run", stdout=out)
    return out.getvalue()


def reasons(api_client: Any, language: str) -> tuple[str, str, list[str]]:
    """WeLink's reason in GET /account-creation/systems/ and in /healthz, and /healthz's warnings."""
    systems = api_client.get("/account-creation/systems/", HTTP_ACCEPT_LANGUAGE=language)
    assert systems.status_code == 200, systems.content
    (welink,) = [item for item in systems.json() if item["name"] == "welink"]
    health = api_client.get("/healthz", HTTP_ACCEPT_LANGUAGE=language).json()
    return welink["reason"], health["systems"]["welink"]["reason"], health["warnings"]


def test_a_welink_credential_refusal_quarantines_with_its_reason_in_each_readers_language(
    submit: Any, live_welink: None, http: responses.RequestsMock, api_client: Any, django_user_model: Any
) -> None:
    http.post(WELINK_TOKEN_URL, json={"code": "10007", "message": "wrong client id or secret"})
    submit(numbers=["P000126", "P000127"])
    run_engine()

    row = DownstreamSystem.objects.get(name="welink")
    assert (row.state, row.reason_code) == (SystemState.QUARANTINED, "credentials")
    assert row.reason_data is not None
    assert row.reason_data["code"] == "welink.credentials_refused"
    assert row.reason == CREDENTIALS_EN  # the text in LANGUAGE_CODE, for readers of the text

    in_api, in_health, warnings = reasons(api_client, "zh-CN")
    assert in_api == in_health == CREDENTIALS_ZH
    assert any(f"（{CREDENTIALS_ZH}）" in warning for warning in warnings), warnings
    in_api, in_health, warnings = reasons(api_client, "en")
    assert in_api == in_health == CREDENTIALS_EN
    assert any(f"({CREDENTIALS_EN})" in warning for warning in warnings), warnings

    # The dashboard's quarantine banner and attention panel, in the browser's language.
    page = staff_client(django_user_model).get("/admin/status/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    panel = page.split('id="attention"')[1].split("</section>")[0]
    assert "welink 已隔离：WeLink 拒绝了客户端凭据（代码 10007" in panel  # the title is cut at 160 characters
    assert "refused" not in panel
    banner = page.split('id="quarantine-welink"')[1].split("</p>")[0]
    assert CREDENTIALS_ZH in banner
    assert "refused" not in banner
    english = staff_client(django_user_model, username="operator-en").get(
        "/admin/status/", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "welink is quarantined: WeLink refused the client credentials (code 10007" in english
    assert CREDENTIALS_EN in english.split('id="quarantine-welink"')[1].split("</p>")[0]


def test_a_run_of_5xx_past_the_threshold_quarantines_with_the_last_answer_as_data(
    submit: Any, live_welink: None, http: responses.RequestsMock, api_client: Any, settings: Any
) -> None:
    settings.ACCOUNT_CREATION_QUARANTINE_AFTER = 3
    http.post(WELINK_TOKEN_URL, json={"code": "0", "access_token": "welink-token-1", "expires_in": 7200})
    http.post(WELINK_CREATE_URL, status=503, json={"code": "500", "message": "service busy"})
    http.post(WELINK_DETAIL_URL, json={"code": "47012", "message": "no data"})  # the look-up after it: no user
    submit(numbers=[f"P00013{n}" for n in range(5)])
    run_engine()

    row = DownstreamSystem.objects.get(name="welink")
    assert (row.state, row.reason_code) == (SystemState.QUARANTINED, "transport")
    assert row.reason_data is not None
    assert row.reason_data["code"] == "health.transport_run"
    last = row.reason_data["params"]["reason"]
    assert last["code"] == "http.server_error"
    assert last["params"]["detail"] == " (service busy)"  # WeLink's words: a parameter, not our prose
    assert row.reason == OUTAGE_EN

    in_api, in_health, warnings = reasons(api_client, "zh-CN")
    assert in_api == in_health == OUTAGE_ZH
    assert any(OUTAGE_ZH in warning for warning in warnings), warnings
    in_api, in_health, _warnings = reasons(api_client, "en")
    assert in_api == in_health == OUTAGE_EN

    # Command output (the wait lines of --dry-run, the on-demand report) is in LANGUAGE_CODE.
    english = dry_run()
    assert "5 wait: welink quarantined since" in english or "wait: welink quarantined since" in english
    assert f"reason: {OUTAGE_EN}." in english
    settings.LANGUAGE_CODE = "zh-hans"
    assert f"原因：{OUTAGE_ZH}。" in dry_run()
    out = StringIO()
    call_command("process_account_creation_tasks", "--employee-number", "P000134", stdout=out)
    assert f"（{OUTAGE_ZH}）" in out.getvalue()
    assert "failures in a row" not in out.getvalue()

    # An operator's release ends it; the reason is gone with it.
    released = api_client.post("/account-creation/systems/welink/release/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert released.status_code == 200, released.content
    assert (released.json()["state"], released.json()["reason"]) == ("ok", "")
    assert DownstreamSystem.objects.get(name="welink").reason_data is None


def test_a_row_quarantined_before_reasons_were_codes_shows_its_stored_text(api_client: Any, settings: Any) -> None:
    now = timezone.now()
    DownstreamSystem.objects.update_or_create(
        name="welink",
        defaults={"state": SystemState.QUARANTINED, "reason_code": "credentials", "reason": "credentials refused",
                  "since": now, "next_probe_at": now + timedelta(hours=1)},
    )
    for language in ("zh-CN", "en"):
        in_api, in_health, warnings = reasons(api_client, language)
        assert in_api == in_health == "credentials refused"
        assert any("credentials refused" in warning for warning in warnings), warnings
    settings.LANGUAGE_CODE = "zh-hans"
    assert "原因：credentials refused。" in dry_run()
