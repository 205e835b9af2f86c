"""A console with something in every state an operator reads: used by the Chinese-reader checks
(test_console_defects, tests/browser) and the screenshots.

One request of four people, run by the engine with connectors that answer as the real ones do
(catalog messages, not fake English):

- P910001 张三 completes in every system, except WeLink, which is quarantined (a transport
  failure run, the message ``health.transport_run``), so that task waits for the system;
- P910002 李四 is refused by IDaaS (``idaas.refused``): failed, and their WeLink and Email
  tasks blocked by it (``task.blocked``);
- P910003 王五 has a department with no mapping: waiting for it, no attempt spent;
- P910004 赵六 is rejected at intake (an unknown country).

The engine run finishes (stop reason ``drained``) and did work, so the runs table shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import override

from account_creation.account_types import registry
from account_creation.connectors import override_connectors
from account_creation.connectors.base import AccountResult, ProvisioningRequest
from account_creation.connectors.fake import FakeConnector
from account_creation.messages import action, message
from account_creation.services.engine import AccountCreationService
from accountsync.errors import PermanentError
from conftest import make_request, make_user

BUSINESS_KEY = "console-states"
DONE, FAILED, WAITING, REJECTED = "P910001", "P910002", "P910003", "P910004"
UNMAPPED_DEPARTMENT = "999999"
QUARANTINED = "welink"
SYSTEMS = ("idaas", "welink", "email")

REFUSAL = message(
    "idaas.refused", status=400, code="E2002", detail="", ou="OU=Sales,DC=example,DC=com", user_type="W"
)
QUARANTINE_REASON = message(
    "health.transport_run",
    failures=5,
    reason=message("http.server_error", system="WeLink", action=action("create"), status=503, detail=""),
)


class _IdaasRefusing(FakeConnector):
    """IDaaS as the sandbox answers a refused user: a catalog message, not a fake English text."""

    def create(self, request: ProvisioningRequest) -> AccountResult:
        if request.person.employee_number == FAILED:
            self._next(request)
            raise PermanentError(REFUSAL, details={"status": 400})
        return super().create(request)


@dataclass
class ConsoleStates:
    business_key: str
    refused_task_id: int


def seed_request(api_client: Any) -> None:
    """The request above and the quarantine, before any run (needs the ``departments`` fixture)."""
    from account_creation.services.health import system_quarantine, systems_ensure

    people = [
        make_user(DONE, name="张三"),
        make_user(FAILED, name="李四"),
        make_user(WAITING, name="王五", departmentCode=UNMAPPED_DEPARTMENT),
        make_user(REJECTED, name="赵六", country="atlantis"),
    ]
    response = api_client.post(
        "/account-creation/create_accounts/", make_request(people, business_key=BUSINESS_KEY), format="json"
    )
    assert response.status_code == 207, response.content
    systems_ensure()
    assert system_quarantine(name=QUARANTINED, reason_code="transport", reason=QUARANTINE_REASON)


def run_engine() -> None:
    """One engine run: IDaaS refuses P910002, everything else succeeds."""
    connectors: dict[str, Any] = {system: FakeConnector(system) for system in SYSTEMS}
    connectors["idaas"] = _IdaasRefusing("idaas")
    with override_connectors(connectors):
        AccountCreationService(max_tasks=500).run()


def seed_console_states(api_client: Any) -> ConsoleStates:
    """The request, the quarantine and one engine run."""
    from account_creation.models import AccountCreationTask

    seed_request(api_client)
    run_engine()
    refused = AccountCreationTask.objects.get(employee_number=FAILED, account_type="idaas")
    assert refused.status == "failed", refused.last_error
    return ConsoleStates(business_key=BUSINESS_KEY, refused_task_id=refused.pk)


def _both(render: Any, *, english_chars: int = 30, chinese_chars: int = 12) -> tuple[str, str]:
    """The start of a text in English and in Chinese (short: cells cut long texts)."""
    with override("en"):
        english = str(render()).strip()
    with override("zh-hans"):
        chinese = str(render()).strip()
    return english[:english_chars], chinese[:chinese_chars]


def state_phrases() -> dict[str, list[tuple[str, str]]]:
    """Per page (dashboard, grid, person = the refused person's page): (English, Chinese) starts
    of the messages those states show. A page in one language shows its texts, never the other's."""
    from account_creation.messages import stop_reason_text
    from account_creation.services.waiting import waiting_for_text

    refused = _both(REFUSAL.render)
    blocked = _both(lambda: message("task.blocked", system="IDaaS", task=1, reason="").render(), english_chars=27,
                    chinese_chars=8)
    waiting = _both(lambda: waiting_for_text({"code": "department_mapping", "department_code": UNMAPPED_DEPARTMENT}),
                    english_chars=60, chinese_chars=16)
    quarantine = _both(QUARANTINE_REASON.render, english_chars=40)
    drained = _both(lambda: stop_reason_text("drained"), english_chars=13, chinese_chars=12)
    rejected = _both(lambda: message("intake.country_unknown", value="atlantis").render(), english_chars=16,
                     chinese_chars=6)

    def text(msgid: str, **params: Any) -> tuple[str, str]:
        from django.utils.translation import gettext

        return _both(lambda: gettext(msgid) % params if params else gettext(msgid), english_chars=80,
                     chinese_chars=80)

    return {
        "dashboard": [
            refused, waiting, quarantine, drained,
            text("No department mapping for department code %(code)s", code=UNMAPPED_DEPARTMENT),
            text("Add the mapping"),
            text("Open the person page"),
            text("Release %(system)s now", system=system_label(QUARANTINED)),
        ],
        "grid": [refused, blocked, waiting, rejected],
        "person": [refused, blocked],
    }


def system_label(value: str) -> str:
    return str(registry.get(value).label)
