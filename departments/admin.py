from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.template.defaultfilters import yesno
from django.utils.translation import gettext_noop, ngettext
from simple_history.admin import SimpleHistoryAdmin

from departments.models import AccountCategoryMapping, DepartmentMapping, EmployeeTypeMapping

# SimpleHistoryAdmin adds a "History" page per object (who changed what, when, before and
# after) and lets a staff user revert to an earlier version (validated like any change).


class ReleasesWaitingTasks:
    """Saving a mapping lets go the tasks that waited for it, and says how many."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)  # type: ignore[misc]
        from account_creation.services.waiting import tasks_release_waiting

        released = tasks_release_waiting()
        if released:
            messages.info(
                request,
                ngettext(
                    "%(count)d waiting task was released: it runs at the next engine run.",
                    "%(count)d waiting tasks were released: they run at the next engine run.",
                    released,
                )
                % {"count": released},
            )


@admin.register(DepartmentMapping)
class DepartmentMappingAdmin(ReleasesWaitingTasks, SimpleHistoryAdmin):
    list_display = ("idata_departmentcode", "department_name", "idaas_departmentcode", "ou", "is_active", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("idata_departmentcode", "idaas_departmentcode", "department_name", "ou")
    # simple_history heads each extra history column with the translation of its name and fills
    # it from this admin's method of that name: so the names are catalog texts, not field names.
    history_list_display = (gettext_noop("OU"), gettext_noop("active"))

    def OU(self, record: Any) -> str:  # the version's OU
        return str(record.ou)

    def active(self, record: Any) -> str:  # the version's is_active, as yes / no in the reader's language
        return str(yesno(record.is_active))


@admin.register(EmployeeTypeMapping)
class EmployeeTypeMappingAdmin(ReleasesWaitingTasks, SimpleHistoryAdmin):
    list_display = ("employee_type", "description", "idaas_user_type", "welink_person_type", "email_domain")
    search_fields = ("employee_type", "description")


@admin.register(AccountCategoryMapping)
class AccountCategoryMappingAdmin(SimpleHistoryAdmin):
    list_display = ("account_type", "category", "employee_type", "description", "updated_at")
    search_fields = ("account_type", "category", "description")
