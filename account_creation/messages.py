"""Every message account creation writes, by code: one place to review them and to translate.

Templates are English msgids with ``%(name)s`` parameters; ``locale/zh_Hans`` holds their
Chinese. Each failure says what happened and what to do next. Codes are stored with a task's
``last_error``, an attempt's ``error_message`` and a request's errors and warnings, so the same
row renders in the reader's language (``accountsync/messages.py``). ``docs/operations.md``'s
troubleshooting table lists the failure reasons with both texts.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from accountsync.messages import Message, register

INTAKE = {
    "intake.employee_type_unknown": _(
        "Unknown employeeType '%(value)s'. Known types: %(known)s. An operator adds a type in the admin "
        "under Departments > Employee type mappings (/admin/departments/employeetypemapping/add/)."
    ),
    "intake.duplicate_person": _(
        "Employee %(employee)s appears more than once in this request (first at index %(first)s); "
        "send each person once."
    ),
    "intake.missing_dependency": _(
        "The %(system)s account needs the person's %(dependency)s account, but employee %(employee)s has "
        "no %(dependency)s task: add %(dependency)s to systemList."
    ),
    "intake.task_reused": _(
        "Employee %(employee)s already has a %(system)s task #%(task)s (%(status)s); it was reused, not "
        "duplicated."
    ),
    "intake.department_unmapped": _(
        "Department '%(department)s' has no mapping yet: the tasks wait and retry until an operator adds "
        "it (python manage.py load_department_mappings, or the admin under Departments > Department "
        "mappings)."
    ),
    "intake.user_not_object": _("Each entry of userList must be a JSON object."),
    "intake.country_unknown": _(
        "Unknown country '%(value)s'. Write the ISO 3166 code (cn or CHN, any case) or the country's name "
        "in English or Chinese (China, 中国), e.g. cn for China, hk for Hong Kong, sg for Singapore."
    ),
    "intake.country_unsupported": _(
        "'%(value)s' is %(name)s (%(code)s), which AccountSync does not provision yet. Supported: "
        "%(supported)s."
    ),
    "intake.body_content_type": _("Send JSON with Content-Type: application/json, not '%(content_type)s'."),
    "intake.body_parse": _("The body is not valid JSON: %(detail)s"),
    "intake.body_too_deep": _("The JSON body is nested too deeply."),
    "intake.body_too_large": _(
        "The body is larger than %(limit)s bytes; split the batch into several requests."
    ),
    "intake.body_not_object": _("The body must be a JSON object."),
    "intake.business_key_reused": _(
        "businessKey '%(business_key)s' from '%(origin_system)s' was already accepted at %(accepted_at)s with a "
        "different body. A replay must repeat the same body; a new request needs a new businessKey."
    ),
}

# Task statuses as words inside other messages.
STATUSES = {
    "status.pending": _("pending"),
    "status.processing": _("processing"),
    "status.completed": _("completed"),
    "status.failed": _("failed"),
    "status.blocked": _("blocked"),
    "status.cancelled": _("cancelled"),
}

register(INTAKE)
register(STATUSES)


def message(code: str, /, **params: Any) -> Message:
    """A message of this catalog (raises KeyError for an unknown code)."""
    return Message.of(code, **params)
