"""Settings for the test suite: the production settings with safe test values."""

import os

# Safe before settings exist: the registry module imports Django's checks, TextChoices and
# import_string, none of which reads settings when imported (connectors load only in checks).
from account_creation.account_types import registry

os.environ.setdefault("SECRET_KEY", "test-secret-key-for-the-suite-only")
os.environ.setdefault("IDAAS_ACCOUNT", "test-idaas-account")
os.environ.setdefault("IDAAS_SECRET", "idaas-secret-value-9f3b")
os.environ.setdefault("IDAAS_ENTERPRISE_ID", "ent-001")
os.environ.setdefault("IDAAS_BASE_URL", "https://idaas.test")
os.environ.setdefault("WELINK_CLIENT_ID", "welink-client")
os.environ.setdefault("WELINK_CLIENT_SECRET", "welink-secret-value-7c21")
os.environ.setdefault("WELINK_BASE_URL", "https://welink.test")
os.environ.setdefault("EMAIL_AUTH_TOKEN", "email-token-value-55aa")
os.environ.setdefault("EMAIL_BASE_URL", "https://exchange.test")
os.environ.setdefault("EMAIL_DOMAIN", "@corp.example.com")
os.environ.setdefault("ACCOUNTSYNC_ENV_FILE", "/nonexistent")
# The suite tests the sandbox too (off by default in production settings).
os.environ.setdefault("SANDBOX_ENABLED", "true")
os.environ.setdefault("LOG_DIR", os.path.join(os.path.dirname(__file__), "..", "logs", "test"))


def _default_account_type_settings() -> None:
    """Every setting a registered account type needs (``AccountTypeSpec.settings``) that is
    still unset gets a harmless value, so a new type runs in tests without editing this file."""
    for spec in registry:
        url = "https://" + str(spec.value).replace("_", "-") + ".test"
        for name in spec.settings:
            os.environ.setdefault(name, url if name.endswith("_BASE_URL") else f"test-{name.lower()}")


_default_account_type_settings()

from accountsync.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"user": "1000000/min"}  # noqa: F405

# Django's default SQLite test database lives in memory with a shared cache, whose table
# locks fail at once ("database table is locked") instead of waiting for the busy timeout,
# so the engine's worker threads (one connection each) could not share it. A file in WAL
# mode — what production runs — lets them queue as designed.
_default_db = DATABASES["default"]  # noqa: F405
if _default_db["ENGINE"] == "django.db.backends.sqlite3" and not _default_db.get("TEST", {}).get("NAME"):
    import tempfile

    _default_db.setdefault("TEST", {})["NAME"] = os.path.join(
        tempfile.gettempdir(), f"accountsync-test-{os.getpid()}.sqlite3"
    )
