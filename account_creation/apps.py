from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountCreationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "account_creation"
    verbose_name = _("Account creation")

    def ready(self) -> None:
        from django.core import checks
        from django.db.backends.signals import connection_created

        # Registers this app's message codes, so any stored message renders in any process.
        from account_creation import messages  # noqa: F401
        from account_creation.account_types import check_registry

        # Every registered account type must have its connector: `manage.py check` (and so
        # every command and server start) names the type instead of a task failing later.
        checks.register(check_registry, checks.Tags.models)

        connection_created.connect(_tune_sqlite, dispatch_uid="accountsync_tune_sqlite")


def _tune_sqlite(sender: object, connection: object, **kwargs: object) -> None:
    """Let bulk writes use SQLite's real variable limit (Django assumes 999).

    With the real limit a 1,000-user request inserts its 3,000 tasks in one statement,
    so the intake's query count does not grow with the number of users.
    """
    import sqlite3

    if getattr(connection, "vendor", None) != "sqlite":
        return
    raw = connection.connection  # type: ignore[attr-defined]
    try:
        limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except AttributeError:  # Python < 3.11
        return
    connection.features.max_query_params = limit  # type: ignore[attr-defined]
