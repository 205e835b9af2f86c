"""Settings for the test suite: the production settings with safe test values."""

import os

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
os.environ.setdefault("LOG_DIR", os.path.join(os.path.dirname(__file__), "..", "logs", "test"))

from accountsync.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"user": "1000000/min"}  # noqa: F405
