"""The database goes away (a TCP proxy between the service and PostgreSQL severs every
connection and refuses new ones) and comes back: the API answers 503 with a clear JSON
message, /healthz says so, a runner exits non-zero with one line, and afterwards everything
continues with nothing accepted lost."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
import requests

from conftest import make_request, make_user
from sandbox.server import start_sandbox
from tests.chaos import infra

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]

CREATE = "/account-creation/create_accounts/"


@pytest.fixture
def stack(tmp_path):
    proxy = infra.TcpProxy().start()
    sandbox = start_sandbox(
        port=0,
        idaas_account="chaos-idaas-account",
        idaas_secret=infra.SECRETS["IDAAS_SECRET"],
        welink_client_id="chaos-welink-client",
        welink_client_secret=infra.SECRETS["WELINK_CLIENT_SECRET"],
        email_token=infra.SECRETS["EMAIL_AUTH_TOKEN"],
    )
    with infra.fresh_database("accountsync_outage") as name:
        direct = infra.product_env(name, db_port=infra.PG_PORT, log_dir=tmp_path)
        token = infra.prepare_database(direct)
        env = infra.product_env(
            name, db_port=proxy.port, log_dir=tmp_path, sandbox_url=sandbox.url, ACCOUNT_CREATION_HTTP_TIMEOUT="2",
            ACCOUNT_CREATION_LEASE_SECONDS="3", ACCOUNT_CREATION_BACKOFF_BASE_SECONDS="0.2",
            ACCOUNT_CREATION_BACKOFF_MAX_SECONDS="1",
        )
        api, url = infra.start_gunicorn(env, tmp_path, workers=1)
        try:
            yield {"proxy": proxy, "env": env, "url": url, "token": token, "db": name, "sandbox": sandbox}
        finally:
            api.stop()
            proxy.stop()
            sandbox.stop()


def _post(stack, body):
    return requests.post(
        stack["url"] + CREATE, json=body, headers={"Authorization": f"Token {stack['token']}"}, timeout=30
    )


def _assert_clear_503(response: requests.Response) -> None:
    assert response.status_code == 503, response.text[:500]
    assert response.headers["Content-Type"].startswith("application/json")
    assert "database is unavailable" in response.json()["detail"]
    assert "Traceback" not in response.text


def test_api_runner_and_healthz_while_the_database_is_down_and_after(stack):
    first = make_request([make_user("D000001", "张三"), make_user("D000002", "李四")], business_key="outage-1")
    second = make_request([make_user("D000003", "王五")], business_key="outage-2")
    assert _post(stack, first).status_code == 201

    with stack["proxy"].outage():
        _assert_clear_503(_post(stack, second))
        headers = {"Authorization": f"Token {stack['token']}"}
        for path in ("/account-creation/", "/account-creation/task_stats/", "/department-mappings/"):
            _assert_clear_503(requests.get(stack["url"] + path, headers=headers, timeout=30))
        health = requests.get(stack["url"] + "/healthz", timeout=30)
        assert health.status_code == 503
        assert health.json()["database"] == "unreachable"
        runner = infra.manage(stack["env"], "process_account_creation_tasks", "--no-progress", timeout=120)
        assert runner.returncode != 0
        lines = [line for line in runner.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, runner.stderr
        assert "Database unreachable" in lines[0]
        assert "Traceback" not in runner.stderr + runner.stdout

    # Back: the refused request goes through, the first one is a recognised replay.
    assert _post(stack, second).status_code == 201
    replay = _post(stack, first)
    assert replay.status_code == 200
    assert replay.json()["replayed"] is True
    assert requests.get(stack["url"] + "/healthz", timeout=30).status_code in (200,)

    _run_until_all_completed(stack, 9, seconds=90, pause=0.5)


def test_a_runner_whose_database_vanishes_mid_run_exits_with_one_line(stack):
    users = [make_user(f"V{i:06d}", "赵六") for i in range(30)]
    assert _post(stack, make_request(users, business_key="outage-mid")).status_code == 201
    stack["sandbox"].world.set_faults(_faults({"latency_ms": 200}))
    runner = subprocess.Popen(
        [infra.PYTHON, "manage.py", "process_account_creation_tasks", "--no-progress", "--concurrency", "2",
         "--max-tasks", "200"],
        cwd=infra.ROOT, env={**stack["env"], "PYTHONFAULTHANDLER": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    time.sleep(3)
    with stack["proxy"].outage():
        try:
            out, err = runner.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            runner.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
            out, err = runner.communicate(timeout=30)
            pytest.fail("the runner hung while the database was down:\n" + err[-6000:])
    stack["sandbox"].world.set_faults(_faults({}))
    if runner.returncode != 0:
        # The run ends with one clear line; before it, the engine logs the outage once and
        # stops calling downstream systems (no traceback per claimed task).
        assert runner.returncode == 1
        assert "Traceback" not in err, err[-3000:]
        assert "could not record outcome" not in err, err[-3000:]
        assert err.count("database unavailable, stopping the run") <= 1, err[-3000:]
        last = [line for line in err.splitlines() if line.strip()][-1]
        assert last.startswith("CommandError: Database unreachable"), err[-3000:]
        assert "lease expires" in last
    # Whatever it held comes back after its lease; nothing is lost.
    _run_until_all_completed(stack, 90, seconds=120, pause=1, extra=("--max-tasks", "200"))


def _run_until_all_completed(stack, expected: int, *, seconds: float, pause: float, extra=()) -> None:
    """Run the engine until every task is completed (nothing accepted was lost)."""
    deadline = time.monotonic() + seconds
    statuses: dict = {}
    while time.monotonic() < deadline:
        done = infra.manage(stack["env"], "process_account_creation_tasks", "--no-progress", *extra, timeout=120)
        assert done.returncode == 0, done.stderr
        with infra.connect(stack["db"]) as conn:
            statuses = dict(
                conn.execute(
                    "SELECT status, count(*) FROM account_creation_accountcreationtask GROUP BY status"
                ).fetchall()
            )
        if statuses == {"completed": expected}:
            return
        time.sleep(pause)
    assert statuses == {"completed": expected}


def _faults(payload):
    from sandbox.faults import faults_from_payload

    return faults_from_payload(payload)
