from django.apps import AppConfig


class DepartmentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "departments"
    verbose_name = "部门与人员类型映射 Department mappings"

    def ready(self) -> None:
        from departments import checks  # noqa: F401 - registers the system checks
