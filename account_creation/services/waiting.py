"""Tasks waiting for *our* configuration: what they wait for, and letting them go once it exists.

A task whose department or employee type has no mapping (or whose mapping lacks what its
system needs) is not the downstream's fault and not the person's: it waits, ``pending`` with
``waiting_for`` set, unclaimed and spending no attempts (``selectors.eligible_tasks`` skips
it). ``waiting_for`` stores a code and its parameters; :func:`waiting_for_text` renders it in
the caller's language. :func:`tasks_release_waiting` looks at every waiting task again and
lets go those whose configuration now exists: saving a mapping (admin, API, the CSV loader)
calls it and reports how many it released, and every engine run calls it first as a safety
net (a mapping written any other way).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from account_creation.account_types import registry
from account_creation.models import AccountCreationTask, TaskStatus
from departments.models import DepartmentMapping, EmployeeTypeMapping

DEPARTMENT_MAPPING = "department_mapping"
DEPARTMENT_OU = "department_ou"
DEPARTMENT_WELINK_CODE = "department_welink_code"
EMPLOYEE_TYPE_MAPPING = "employee_type_mapping"


def waiting_for_text(waiting_for: dict[str, Any] | None) -> str:
    """What the task waits for and how to add it, in the active language ("" when it does not wait)."""
    if not waiting_for:
        return ""
    code = waiting_for.get("code")
    department = waiting_for.get("department_code", "")
    if code == DEPARTMENT_MAPPING:
        return _(
            "Waiting for a department mapping for department code %(code)s: add it under Department "
            "mappings in the admin (or run load_department_mappings). The task then runs by itself "
            "and has spent no attempt."
        ) % {"code": department}
    if code == DEPARTMENT_OU:
        return _(
            "Waiting for the AD OU of department code %(code)s: fill in the OU of its department "
            "mapping in the admin. The task then runs by itself and has spent no attempt."
        ) % {"code": department}
    if code == DEPARTMENT_WELINK_CODE:
        return _(
            "Waiting for the WeLink department code of department code %(code)s: fill in the IDaaS "
            "department code of its mapping in the admin. The task then runs by itself and has spent "
            "no attempt."
        ) % {"code": department}
    if code == EMPLOYEE_TYPE_MAPPING:
        return _(
            "Waiting for an employee type mapping for employee type %(type)s: add it under Employee "
            "type mappings in the admin. The task then runs by itself and has spent no attempt."
        ) % {"type": waiting_for.get("employee_type", "")}
    return _("Waiting for configuration an operator must add; the task then runs by itself.")


def missing_configuration_of(
    task: AccountCreationTask,
    departments: dict[str, DepartmentMapping],
    employee_types: dict[str, EmployeeTypeMapping],
) -> dict[str, str] | None:
    """What ``task`` still waits for, given the active mappings of its codes (None: nothing)."""
    if task.employee_type not in employee_types:
        return {"code": EMPLOYEE_TYPE_MAPPING, "employee_type": task.employee_type}
    spec = registry.get(task.account_type) if task.account_type in registry else None
    if spec is None or not spec.needs_department:
        return None
    mapping = departments.get(task.department_code)
    if mapping is None:
        return {"code": DEPARTMENT_MAPPING, "department_code": task.department_code}
    previous = (task.waiting_for or {}).get("code")
    # The connector said what its system needs of the mapping; wait until that is filled in.
    if previous == DEPARTMENT_OU and not mapping.ou:
        return {"code": DEPARTMENT_OU, "department_code": task.department_code}
    if previous == DEPARTMENT_WELINK_CODE and not mapping.idaas_departmentcode:
        return {"code": DEPARTMENT_WELINK_CODE, "department_code": task.department_code}
    return None


def tasks_release_waiting() -> int:
    """Let go every waiting task whose configuration now exists; returns how many."""
    waiting = list(
        AccountCreationTask.objects.filter(status=TaskStatus.PENDING, waiting_for__isnull=False).only(
            "pk", "account_type", "department_code", "employee_type", "waiting_for"
        )
    )
    if not waiting:
        return 0
    departments = {
        mapping.idata_departmentcode: mapping
        for mapping in DepartmentMapping.objects.filter(
            idata_departmentcode__in={task.department_code for task in waiting}, is_active=True
        )
    }
    employee_types = {
        mapping.employee_type: mapping
        for mapping in EmployeeTypeMapping.objects.filter(employee_type__in={task.employee_type for task in waiting})
    }
    ready = [task.pk for task in waiting if missing_configuration_of(task, departments, employee_types) is None]
    if not ready:
        return 0
    return AccountCreationTask.objects.filter(
        pk__in=ready, status=TaskStatus.PENDING, waiting_for__isnull=False
    ).update(waiting_for=None, next_attempt_at=None, last_error="", updated_at=timezone.now())
