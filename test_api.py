#!/usr/bin/env python
"""Check a running AccountSync instance end to end through its API.

    ACCOUNTSYNC_URL=http://127.0.0.1:8000 ACCOUNTSYNC_TOKEN=<token> python test_api.py

Posts the spec's example request, polls until its three tasks are completed, prints the
tasks and accounts, checks task_stats and each task's logs, refusals of bad input and of
anonymous callers. Exits non-zero on any failure. (Not collected by pytest.)
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import requests

BASE = os.environ.get("ACCOUNTSYNC_URL", "http://127.0.0.1:8000").rstrip("/")
TOKEN = os.environ.get("ACCOUNTSYNC_TOKEN", "")
TIMEOUT = float(os.environ.get("ACCOUNTSYNC_WAIT_SECONDS", "120"))

SPEC_EXAMPLE = {
    "originSystem": "oa",
    "businessKey": "65090",
    "accountType": "personal",
    "employeeType": "W",
    "systemList": ["idaas", "welink", "email"],
    "userList": [
        {
            "employeeNumber": "P000126",
            "employeeName": "张三",
            "departmentCode": "120000",
            "phoneNumber": "1234567890",
            "partnerCompany": "ABC",
            "country": "cn",
        }
    ],
}

failures: list[str] = []


def check(condition: bool, what: str) -> bool:
    print(("  ok   " if condition else "  FAIL ") + what)
    if not condition:
        failures.append(what)
    return condition


def call(method: str, path: str, *, auth: bool = True, **kwargs: Any) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if auth:
        headers["Authorization"] = f"Token {TOKEN}"
    return requests.request(method, BASE + path, headers=headers, timeout=30, **kwargs)


def main() -> int:
    print(f"AccountSync at {BASE}")
    if not TOKEN:
        print(
            "Set ACCOUNTSYNC_TOKEN to the token `make run` printed "
            "(or `python manage.py create_api_token NAME --origin-system oa`)."
        )
        return 2
    try:
        health = call("GET", "/healthz", auth=False)
    except requests.ConnectionError:
        print(f"Cannot connect to {BASE}: is `make run` running? Set ACCOUNTSYNC_URL if it runs elsewhere.")
        return 2
    print("health")
    check(health.status_code == 200, f"/healthz answers 200 ({health.status_code})")

    print("access")
    check(call("GET", "/account-creation/", auth=False).status_code == 401, "anonymous callers get 401")
    bad = requests.get(BASE + "/account-creation/", headers={"Authorization": "Token wrong"}, timeout=30)
    check(bad.status_code == 401, "a wrong token gets 401")
    foreign = call("POST", "/account-creation/create_accounts/", json={**SPEC_EXAMPLE, "originSystem": "hr"})
    check(foreign.status_code == 403, f"the oa client may not send as originSystem hr ({foreign.status_code})")

    print("intake")
    invalid = call("POST", "/account-creation/create_accounts/", json={**SPEC_EXAMPLE, "systemList": ["vpn"]})
    check(invalid.status_code == 400, f"an unknown system is refused with 400 ({invalid.status_code})")
    check(any(e.get("field", "").startswith("systemList") for e in invalid.json().get("errors", [])),
          "the 400 names the field systemList")
    created = call("POST", "/account-creation/create_accounts/", json=SPEC_EXAMPLE)
    body = created.json()
    check(created.status_code in (200, 201), f"the spec's example is accepted ({created.status_code})")
    if created.status_code == 200:
        print("       (this businessKey was sent before: the answer is a replay with the existing tasks)")
    else:
        check(body.get("created_tasks") == 3, f"3 tasks created ({body.get('created_tasks')})")
    replay = call("POST", "/account-creation/create_accounts/", json=SPEC_EXAMPLE)
    check(replay.status_code == 200 and replay.json().get("created_tasks") == 0,
          "sending it again creates nothing (replay)")
    task_ids = [task["id"] for task in body.get("tasks", [])]
    check(len(task_ids) == 3, f"the answer lists 3 tasks ({len(task_ids)})")

    print(f"waiting up to {TIMEOUT:.0f} s for the engine to create the accounts")
    deadline = time.monotonic() + TIMEOUT
    tasks: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        tasks = [call("GET", f"/account-creation/{task_id}/").json() for task_id in task_ids]
        if tasks and all(task["status"] in ("completed", "failed", "blocked") for task in tasks):
            break
        time.sleep(1)
    print(f"  {'id':>5}  {'system':<7} {'status':<10} {'tries':>5}  {'username':<10} {'email':<28} account id")
    for task in tasks:
        result = task.get("result") or {}
        print(
            f"  {task['id']:>5}  {task['account_type']:<7} {task['status']:<10} {task['attempts']:>5}  "
            f"{result.get('username', ''):<10} {result.get('email', ''):<28} {result.get('account_id', '')}"
        )
    check(bool(tasks) and all(task["status"] == "completed" for task in tasks), "all three tasks completed")
    if tasks:
        emails = {(task.get("result") or {}).get("email") for task in tasks}
        check(len(emails) == 1, "every system got the same mailbox address")

    print("monitoring")
    stats = call("GET", "/account-creation/task_stats/").json()
    check(stats.get("total_tasks", 0) >= 3 and "stats_by_type" in stats, "task_stats counts the tasks")
    for task_id in task_ids:
        logs = call("GET", f"/account-creation/{task_id}/logs/").json()
        results = logs.get("results", [])
        check(bool(results) and results[-1]["outcome"] == "succeeded",
              f"task {task_id} has attempt logs ending in success")
    listing = call("GET", "/account-creation/", params={"employee_number": "P000126"}).json()
    check(listing.get("count", 0) >= 3, "the list filters by employee_number")

    print()
    if failures:
        print(f"{len(failures)} check(s) failed.")
        return 1
    print("All checks passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
