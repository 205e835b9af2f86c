from django.apps import AppConfig


class ApiClientsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "api_clients"
    verbose_name = "API 客户端 API clients"

    def ready(self) -> None:
        from api_clients import schema  # noqa: F401 - registers the OpenAPI extension
