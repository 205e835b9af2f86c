"""The spec's example and twenty more people, end to end: API -> engine -> real HTTP -> sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from account_creation.models import AccountCreationLog, AccountCreationTask, AttemptOutcome, TaskStatus
from sandbox.server import SandboxServer
from tests.e2e.conftest import all_pages, people, result_of, run_until_quiet, statuses

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_spec_example_and_twenty_more_complete_once_each(
    sandbox: SandboxServer, submit: Any, api_client: APIClient
) -> None:
    everyone = [("P000126", "张三"), *people(20)]
    answer = submit(everyone)
    assert answer["success"] is True
    assert answer["created_tasks"] == 3 * len(everyone)

    run_until_quiet(concurrency=4)

    assert statuses() == {TaskStatus.COMPLETED: 3 * len(everyone)}
    state = sandbox.state
    numbers = {number for number, _ in everyone}
    tasks = {(t.employee_number, t.account_type): t for t in AccountCreationTask.objects.all()}
    usernames = {number: result_of(tasks[number, "idaas"])["username"] for number in numbers}

    # Exactly one account per person and system, each created by a single call.
    idaas = {user["employeeNumber"]: user for user in state["accounts"]["idaas"]}
    welink = {user["corpUserId"]: user for user in state["accounts"]["welink"]}
    mailboxes = {box["SAMAccountName"]: box for box in state["accounts"]["email"]}
    assert set(idaas) == numbers
    assert set(welink) == numbers
    assert set(mailboxes) == set(usernames.values())
    for account in [*idaas.values(), *welink.values(), *mailboxes.values()]:
        assert account["create_calls"] == 1, account
    assert state["totals"]["duplicates_refused"]["all"] == 0

    # Names as the directory expects them; one address shared by the three systems.
    assert usernames["P000126"] == "zP000126"
    assert idaas["P000126"]["englishName"] == "zhangsan"
    for number in numbers:
        results = [result_of(tasks[number, system]) for system in ("idaas", "welink", "email")]
        email = results[0]["email"]
        assert {result["email"] for result in results} == {email}
        assert {result["username"] for result in results} == {usernames[number]}
        assert idaas[number]["userName"] == usernames[number]
        assert idaas[number]["email"] == email
        assert welink[number]["userEmail"] == email
        assert mailboxes[usernames[number]]["PrimarySmtpAddress"] == email
        assert result_of(tasks[number, "welink"])["account_id"] == welink[number]["userId"]
        assert not any(result["adopted"] for result in results)
    assert result_of(tasks["P000126", "email"])["email"].startswith("zhangsan@")
    # Two people named 张三: the second gets a suffixed address, not a clash.
    assert len({mailbox["Alias"] for mailbox in mailboxes.values()}) == len(everyone)

    # Every task took exactly one attempt.
    assert AccountCreationLog.objects.count() == 3 * len(everyone)
    assert set(AccountCreationLog.objects.values_list("outcome", flat=True)) == {AttemptOutcome.SUCCEEDED}

    # The read API tells the same story.
    stats = api_client.get("/account-creation/task_stats/").json()
    assert stats["total_tasks"] == stats["completed_tasks"] == 3 * len(everyone)
    assert stats["pending_tasks"] == stats["failed_tasks"] == stats["blocked_tasks"] == 0
    assert stats["overall_completion_rate"] == 100
    for system in ("idaas", "welink", "email"):
        assert stats["stats_by_type"][system]["completed_tasks"] == len(everyone)

    listed = all_pages(api_client, "/account-creation/?employee_number=P000126")
    assert {item["account_type"] for item in listed} == {"idaas", "welink", "email"}
    for item in listed:
        detail = api_client.get(f"/account-creation/{item['id']}/").json()
        task = tasks["P000126", item["account_type"]]
        assert detail["status"] == "completed"
        assert detail["attempts"] == 1
        assert detail["result"] == result_of(task)
        logs = all_pages(api_client, f"/account-creation/{item['id']}/logs/")
        assert [(log["execution_attempt"], log["outcome"]) for log in logs] == [(1, "succeeded")]
