from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiClientsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "api_clients"
    verbose_name = _("API clients")

    def ready(self) -> None:
        from api_clients import schema  # noqa: F401 - registers the OpenAPI extension
