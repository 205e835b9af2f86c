"""Resolve everything a connector needs for a batch of tasks, with a fixed number of reads.

Department and employee-type mappings are read once per batch, and the mailbox addresses
of everyone in the batch are looked up or allocated together (see mailboxes_allocate).

Before anything else a task is refused for good (PermanentError, no downstream call) when
its person would get a reserved account name (account_creation/reserved.py: a task accepted
before RESERVED_ACCOUNT_NAMES changed) or when its personal data was purged.
"""

from __future__ import annotations

from collections.abc import Iterable

from account_creation.account_types import registry
from account_creation.connectors.base import Person, ProvisioningRequest
from account_creation.messages import message
from account_creation.models import AccountCreationTask, MailboxAddress
from account_creation.naming import english_name, idaas_username
from account_creation.reserved import local_part_reserved, username_reserved
from account_creation.services.mailbox import MailboxRequest, default_domain, mailboxes_allocate
from account_creation.services.retention import is_anonymised
from accountsync.errors import ConfigurationMissing, ConnectorError, PermanentError, RetryableError
from departments.models import DepartmentMapping, EmployeeTypeMapping


class BatchPreparer:
    """Turns a claimed task into its connector's ProvisioningRequest (reads nothing itself)."""

    def __init__(
        self,
        *,
        departments: dict[str, DepartmentMapping],
        employee_types: dict[str, EmployeeTypeMapping],
        mailboxes: dict[str, MailboxAddress | ConnectorError],
    ):
        self.departments = departments
        self.employee_types = employee_types
        self.mailboxes = mailboxes

    def prepare(self, task: AccountCreationTask, *, attempt: int = 1) -> ProvisioningRequest:
        """Raises ConfigurationMissing when a mapping is missing (an operator can add it), PermanentError
        for a reserved name, a purged task or a name the directory cannot take."""
        if is_anonymised(task):
            raise PermanentError(message("prepare.personal_data_purged", task=task.pk))
        username = idaas_username(task.employee_name, task.employee_number)
        reserved = username_reserved(username)
        if reserved is not None:
            raise reserved.error()
        mailbox = self.mailboxes.get(task.employee_number)
        if isinstance(mailbox, ConnectorError):
            raise type(mailbox)(mailbox.msg, details=mailbox.details)
        if mailbox is None:  # pragma: no cover - every claimed person was allocated above
            raise RetryableError(message("prepare.mailbox_missing", employee=task.employee_number))
        # A stored address allocated before the deny-list changed: its base and its alias.
        reserved = local_part_reserved(mailbox.base_local_part) or local_part_reserved(mailbox.local_part)
        if reserved is not None:
            raise reserved.error()
        department = self.departments.get(task.department_code)
        if department is None and registry.get(task.account_type).needs_department:
            raise ConfigurationMissing(
                message("prepare.department_unmapped", department=task.department_code),
                waiting_for={"code": "department_mapping", "department_code": task.department_code},
            )
        employee_type = self.employee_types.get(task.employee_type)
        if employee_type is None:
            raise ConfigurationMissing(
                message("prepare.employee_type_unmapped", employee_type=task.employee_type),
                waiting_for={"code": "employee_type_mapping", "employee_type": task.employee_type},
            )
        person = Person(
            employee_number=task.employee_number,
            employee_name=task.employee_name,
            phone_number=task.phone_number,
            country=task.country,
            partner_company=task.partner_company,
            employee_type=task.employee_type,
            department_code=task.department_code,
        )
        return ProvisioningRequest(
            task_id=task.pk,
            account_type=task.account_type,
            person=person,
            username=username,
            english_name=english_name(task.employee_name),
            email=mailbox.address,
            email_local_part=mailbox.local_part,
            ou=department.ou if department else "",
            corp_dept_code=department.idaas_departmentcode if department else "",
            idaas_user_type=employee_type.idaas_user_type,
            welink_person_type=employee_type.welink_person_type,
            attempt=attempt,
        )


def prepare_batch(tasks: Iterable[AccountCreationTask]) -> BatchPreparer:
    """Read the batch's mappings and allocate its people's mailbox addresses, in a fixed
    number of queries, then hand them to a BatchPreparer.

    Every claimed task needs the person's address (IDaaS email, WeLink userEmail, Exchange
    alias), so the missing ones are allocated here for the whole batch at once.
    """
    tasks = list(tasks)
    codes = {task.department_code for task in tasks}
    types = {task.employee_type for task in tasks}
    departments = {
        mapping.idata_departmentcode: mapping
        for mapping in DepartmentMapping.objects.filter(idata_departmentcode__in=codes, is_active=True)
    }
    employee_types = {
        mapping.employee_type: mapping for mapping in EmployeeTypeMapping.objects.filter(employee_type__in=types)
    }
    people = {}
    for task in tasks:
        if is_anonymised(task):
            continue  # never allocate an address for a purged name; prepare refuses the task
        mapping = employee_types.get(task.employee_type)
        people[task.employee_number] = MailboxRequest(
            employee_number=task.employee_number,
            employee_name=task.employee_name,
            domain=(mapping.email_domain if mapping else "") or default_domain(),
        )
    mailboxes = mailboxes_allocate(people=list(people.values()))
    return BatchPreparer(departments=departments, employee_types=employee_types, mailboxes=mailboxes)
