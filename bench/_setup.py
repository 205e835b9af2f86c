"""Shared set-up for the benchmarks: a fresh database of the chosen vendor, migrated."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/{name}")


def fresh_database(vendor: str, name: str) -> str:
    """Create an empty database and return its DATABASE_URL."""
    if vendor == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="accountsync-bench-")) / f"{name}.sqlite3"
        return f"sqlite:///{path}"
    import psycopg

    admin = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return PG_URL.format(name=name)


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accountsync.test_settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import logging

    logging.getLogger("account_creation").setLevel(logging.WARNING)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_department_mappings", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115


def run_child(args: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return done.stdout
