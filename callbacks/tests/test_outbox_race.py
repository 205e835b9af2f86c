"""Two runners finishing a person's last two tasks at the same moment on PostgreSQL: each has
written its task and neither has committed when both look for due events. The person's
person.completed (and the request's request.completed) must still be written, once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

import account_creation.services.queue as queue
from account_creation.connectors.base import AccountResult
from account_creation.services.queue import task_claim_batch, task_finish_success
from callbacks.models import CallbackEvent
from conftest import make_request, make_user

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's single writer serialises these transactions already")


def test_the_last_two_tasks_finishing_together_still_write_the_persons_event(oa_app, monkeypatch):
    response = oa_app.post("/account-creation/create_accounts/", make_request([make_user("P1")]), format="json")
    assert response.status_code == 201, response.content
    [idaas] = task_claim_batch(runner_id="r0", limit=1, account_types=["idaas"])
    task_finish_success(claim=idaas, runner_id="r0", result=AccountResult("id-0", "zP1", "z@x"))
    [welink] = task_claim_batch(runner_id="r1", limit=1, account_types=["welink"])
    [email] = task_claim_batch(runner_id="r2", limit=1, account_types=["email"])
    assert welink.callbacks
    assert email.callbacks

    # Both finishes wait here, after their task's UPDATE and before the outbox reads, until
    # the other has done its UPDATE too: the window in which each sees the other "processing".
    both_written = threading.Barrier(2, timeout=30)
    original = queue.people_of_tasks

    def after_both_updates(tasks):  # type: ignore[no-untyped-def]
        both_written.wait()
        return original(tasks)

    monkeypatch.setattr(queue, "people_of_tasks", after_both_updates)
    errors: list[BaseException] = []

    def finish(claim, runner):  # type: ignore[no-untyped-def]
        try:
            task_finish_success(claim=claim, runner_id=runner, result=AccountResult(f"id-{runner}", "zP1", "z@x"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    pairs = ((welink, "r1"), (email, "r2"))
    threads = [threading.Thread(target=finish, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    kinds = sorted(CallbackEvent.objects.values_list("type", flat=True))
    assert kinds == ["person.completed", "request.completed"]
