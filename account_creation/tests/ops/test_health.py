"""/healthz reports the last finished engine run and warns when it is too old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from account_creation.models import EngineRun
from conftest import issue_key

pytestmark = pytest.mark.django_db


def reader() -> Client:
    """A monitoring client: the details of /healthz need a token with the read scope."""
    return Client(HTTP_AUTHORIZATION=f"Token {issue_key('monitor', origin_systems=('oa',), scopes=('read',))}")


def test_anonymous_callers_get_status_and_database_only() -> None:
    _run(100)
    body = Client().get("/healthz").json()
    assert body == {"status": "ok", "database": "ok"}
    # A token without the read scope gets no more.
    intake_only = issue_key("intake-only", origin_systems=("oa",), scopes=("intake",))
    assert Client(HTTP_AUTHORIZATION=f"Token {intake_only}").get("/healthz").json() == body
    assert set(reader().get("/healthz").json()) >= {"systems", "last_run", "warnings", "status", "database"}


def test_clients_migrated_from_plain_tokens_are_warned_about() -> None:
    from api_clients.models import ApiClient

    issue_key("legacy-oa")
    ApiClient.objects.filter(name="legacy-oa").update(upgraded_from_token=True)
    body = reader().get("/healthz").json()
    assert body["status"] == "degraded"
    assert any("legacy-oa" in w and "create_api_token" in w for w in body["warnings"]), body["warnings"]


def _run(seconds_ago: float, **fields: Any) -> EngineRun:
    finished = timezone.now() - timedelta(seconds=seconds_ago)
    return EngineRun.objects.create(
        runner_id=fields.pop("runner_id", "host:1:abc"), host="host", pid=1,
        started_at=finished - timedelta(seconds=2), finished_at=finished, **fields,
    )


def test_no_run_yet_is_reported_without_a_warning(settings: Any) -> None:
    body = reader().get("/healthz").json()
    assert body["last_run"] is None
    assert not any("engine run" in w for w in body["warnings"])


def test_recent_run_is_reported(settings: Any) -> None:
    settings.ACCOUNT_CREATION_RUN_INTERVAL_SECONDS = 300
    _run(3600, runner_id="old")
    _run(100, runner_id="newest", completed=7, failed=1)
    EngineRun.objects.create(runner_id="running", host="h", pid=2, started_at=timezone.now())  # unfinished
    response = reader().get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok", body
    assert body["last_run"]["runner_id"] == "newest"
    assert body["last_run"]["completed"] == 7
    assert body["last_run"]["failed"] == 1
    assert 100 <= body["last_run"]["seconds_ago"] < 400


def test_run_older_than_twice_the_interval_warns(settings: Any) -> None:
    settings.ACCOUNT_CREATION_RUN_INTERVAL_SECONDS = 60
    _run(121)
    body = reader().get("/healthz").json()
    assert body["status"] == "degraded"
    assert any("more than twice the interval (60 s)" in w for w in body["warnings"]), body["warnings"]


def test_run_just_inside_twice_the_interval_does_not_warn(settings: Any) -> None:
    settings.ACCOUNT_CREATION_RUN_INTERVAL_SECONDS = 600
    _run(1000)
    body = reader().get("/healthz").json()
    assert body["status"] == "ok", body["warnings"]


def test_dashboard_shows_the_same_warning(settings: Any, django_user_model: Any) -> None:
    from account_creation.tests.ops.sandbox_data import staff_client

    settings.ACCOUNT_CREATION_RUN_INTERVAL_SECONDS = 60
    _run(500)
    page = staff_client(django_user_model).get("/admin/status/").content.decode()
    assert "more than twice the interval (60 s): check that cron" in page


def test_health_warnings_follow_accept_language_and_times_carry_the_offset(settings: Any) -> None:
    settings.ACCOUNT_CREATION_RUN_INTERVAL_SECONDS = 60
    settings.ACCOUNT_CREATION_ENABLED = False
    _run(121)
    body = reader().get("/healthz", HTTP_ACCEPT_LANGUAGE="zh-CN").json()
    assert body["warnings"]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in warning) for warning in body["warnings"]), body["warnings"]
    assert body["last_run"]["finished_at"].endswith("+08:00")
    english = reader().get("/healthz", HTTP_ACCEPT_LANGUAGE="en").json()["warnings"]
    assert any(w.startswith("ACCOUNT_CREATION_ENABLED is false") for w in english)


def test_last_run_gives_the_stop_reason_as_a_code_and_as_text_in_the_callers_language() -> None:
    _run(100, stop_reason="max_tasks?limit=50")
    english = reader().get("/healthz", HTTP_ACCEPT_LANGUAGE="en").json()["last_run"]
    assert english["stop_reason"] == "max_tasks"
    assert english["stop_reason_text"] == "max tasks reached (--max-tasks 50)"
    chinese = reader().get("/healthz", HTTP_ACCEPT_LANGUAGE="zh-CN").json()["last_run"]
    assert chinese["stop_reason"] == "max_tasks"
    assert chinese["stop_reason_text"] == "已达到任务数上限（--max-tasks 50）"


def test_a_run_recorded_by_an_older_version_shows_its_english_stop_reason_as_it_is() -> None:
    _run(100, stop_reason="queue drained (nothing due)")
    last_run = reader().get("/healthz", HTTP_ACCEPT_LANGUAGE="zh-CN").json()["last_run"]
    assert last_run["stop_reason"] == "queue drained (nothing due)"
    assert last_run["stop_reason_text"] == "queue drained (nothing due)"


def test_the_quarantine_warning_follows_accept_language_with_the_time_in_time_zone(settings: Any) -> None:
    from account_creation.services.health import system_quarantine, systems_ensure

    settings.TIME_ZONE = "Asia/Shanghai"
    systems_ensure()
    since = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    assert system_quarantine(
        name="welink", reason_code="credentials", reason="WeLink refused the client credentials", now=since
    )
    chinese = reader().get("/healthz", HTTP_ACCEPT_LANGUAGE="zh-CN").json()
    assert chinese["status"] == "degraded"
    (warning,) = [w for w in chinese["warnings"] if "welink" in w]
    assert warning == (
        "welink 自 2026-11-02 14:00:00 +08:00 起处于隔离状态（WeLink refused the client credentials）；其任务保持"
        "等待，不消耗尝试次数。请修复原因，然后等待下次探测，或通过 POST /account-creation/systems/welink/release/ "
        "解除隔离。"
    )
    english = reader().get("/healthz", HTTP_ACCEPT_LANGUAGE="en").json()["warnings"]
    assert (
        "welink is quarantined since 2026-11-02 14:00:00 +08:00 (WeLink refused the client credentials); its tasks "
        "wait without spending attempts. Fix the cause, then wait for the next probe or POST "
        "/account-creation/systems/welink/release/."
    ) in english
