#!/usr/bin/env python
"""Check a running AccountSync instance end to end through its API.

    ACCOUNTSYNC_URL=http://127.0.0.1:8000 ACCOUNTSYNC_TOKEN=<token> python test_api.py

Posts the spec's example request, polls the request resource (GET
/account-creation/requests/{requestId}/) until its person is ready, prints the accounts,
checks the replay (same requestId), a cancellation, task_stats and each task's logs,
refusals of bad input and of anonymous callers. Exits non-zero on any failure. (Not
collected by pytest.)
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
# Where `make run`'s sandbox OA collects the demo client's completion callbacks.
SANDBOX = os.environ.get("ACCOUNTSYNC_SANDBOX_URL", "http://127.0.0.1:8900").rstrip("/")

SPEC_EXAMPLE: dict[str, Any] = {
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


def check_callbacks(request_id: str) -> None:
    """The sandbox OA received this request's events, each with a valid signature."""
    try:
        requests.get(SANDBOX + "/_sandbox/health", timeout=5)
    except requests.ConnectionError:
        print(f"       (no sandbox at {SANDBOX}: callbacks not checked; set ACCOUNTSYNC_SANDBOX_URL)")
        return
    wanted = {"person.completed", "request.completed"}
    deadline = time.monotonic() + TIMEOUT
    seen: dict[str, dict[str, Any]] = {}
    snapshot: dict[str, Any] = {}
    while time.monotonic() < deadline:
        snapshot = requests.get(SANDBOX + "/_sandbox/oa/events", timeout=10).json()
        seen = {event["type"]: event for event in snapshot["events"]
                if event["data"].get("requestId") == request_id}
        if wanted <= set(seen):
            break
        time.sleep(1)
    person = seen.get("person.completed", {}).get("data", {})
    check(person.get("employeeNumber") == "P000126", "the OA received person.completed for P000126 (signed)")
    check(seen.get("request.completed", {}).get("data", {}).get("status") == "completed",
          "the OA received request.completed with status completed (signed)")
    check(snapshot.get("rejected_signatures") == 0, "every callback's signature verified")


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
    request_id = body.get("requestId", "")
    check(bool(request_id), f"the answer names the request ({request_id})")
    check(created.headers.get("Location", "").endswith(f"/account-creation/requests/{request_id}/"),
          "the Location header points at the request")
    replay = call("POST", "/account-creation/create_accounts/", json=SPEC_EXAMPLE)
    check(replay.status_code == 200 and replay.json().get("created_tasks") == 0,
          "sending it again creates nothing (replay)")
    check(replay.json().get("requestId") == request_id, "the replay answers the same requestId")
    task_ids = [task["id"] for task in body.get("tasks", [])]
    check(len(task_ids) == 3, f"the answer lists 3 tasks ({len(task_ids)})")

    print(f"waiting up to {TIMEOUT:.0f} s for the person to be ready (polling the request)")
    deadline = time.monotonic() + TIMEOUT
    request: dict[str, Any] = {}
    while time.monotonic() < deadline:
        request = call("GET", f"/account-creation/requests/{request_id}/").json()
        if request.get("status") in ("completed", "failed", "cancelled"):
            break
        time.sleep(1)
    people = request.get("people", [])
    person = people[0] if people else {}
    print(f"  request {request_id}: {request.get('status')} {request.get('progress')}")
    print(f"  {'system':<7} {'status':<10} {'tries':>5}  {'username':<10} {'email':<28} account id")
    for system, account in person.get("accounts", {}).items():
        print(
            f"  {system:<7} {account['status']:<10} {account['attempts']:>5}  "
            f"{account['username']:<10} {account['email']:<28} {account['accountId']}"
        )
    check(person.get("employeeNumber") == "P000126" and person.get("ready") is True,
          "the spec's person P000126 is ready")
    check(request.get("status") == "completed" and request.get("completedAt") is not None,
          "the request is completed")
    emails = {account.get("email") for account in person.get("accounts", {}).values()}
    check(len(emails) == 1 and "" not in emails, "every system got the same mailbox address")
    finished = call("POST", f"/account-creation/requests/{request_id}/cancel/")
    check(finished.status_code == 409, f"a finished request cannot be cancelled ({finished.status_code})")

    print("callbacks")
    check_callbacks(request_id)

    print("cancel")
    withdrawn = {**SPEC_EXAMPLE, "businessKey": f"withdrawn-{int(time.time())}",
                 "userList": [{**SPEC_EXAMPLE["userList"][0], "employeeNumber": f"W{int(time.time()) % 10**8}",
                               "employeeName": "李四"}]}
    other = call("POST", "/account-creation/create_accounts/", json=withdrawn).json()
    cancelled = call("POST", f"/account-creation/requests/{other.get('requestId')}/cancel/")
    # The engine may have started (or even finished) the person already: a running task finishes.
    if cancelled.status_code == 200:
        left = cancelled.json()["progress"]
        check(left["pending"] == 0 and left["blocked"] == 0, "cancel leaves nothing waiting")
        check(cancelled.json()["status"] in ("cancelled", "in_progress", "completed"),
              f"the cancelled request says so ({cancelled.json()['status']})")
    else:
        check(cancelled.status_code == 409,
              f"cancel answers 200, or 409 when already finished ({cancelled.status_code})")
    hidden = call("GET", "/account-creation/requests/req_not-a-request/")
    check(hidden.status_code == 404, "an unknown request is a 404")

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
