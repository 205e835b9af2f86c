from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from departments.models import AccountCategoryMapping, DepartmentMapping, EmployeeTypeMapping

# SimpleHistoryAdmin adds a "History" page per object (who changed what, when, before and
# after) and lets a staff user revert to an earlier version (validated like any change).


@admin.register(DepartmentMapping)
class DepartmentMappingAdmin(SimpleHistoryAdmin):
    list_display = ("idata_departmentcode", "department_name", "idaas_departmentcode", "ou", "is_active", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("idata_departmentcode", "idaas_departmentcode", "department_name", "ou")
    history_list_display = ("ou", "is_active")


@admin.register(EmployeeTypeMapping)
class EmployeeTypeMappingAdmin(SimpleHistoryAdmin):
    list_display = ("employee_type", "description", "idaas_user_type", "welink_person_type", "email_domain")
    search_fields = ("employee_type", "description")


@admin.register(AccountCategoryMapping)
class AccountCategoryMappingAdmin(SimpleHistoryAdmin):
    list_display = ("account_type", "category", "employee_type", "description", "updated_at")
    search_fields = ("account_type", "category", "description")
