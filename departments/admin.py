from django.contrib import admin

from departments.models import DepartmentMapping, EmployeeTypeMapping


@admin.register(DepartmentMapping)
class DepartmentMappingAdmin(admin.ModelAdmin):
    list_display = ("idata_departmentcode", "department_name", "idaas_departmentcode", "ou", "is_active", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("idata_departmentcode", "idaas_departmentcode", "department_name", "ou")


@admin.register(EmployeeTypeMapping)
class EmployeeTypeMappingAdmin(admin.ModelAdmin):
    list_display = ("employee_type", "description", "idaas_user_type", "welink_person_type", "email_domain")
    search_fields = ("employee_type", "description")
