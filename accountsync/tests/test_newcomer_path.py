"""A newcomer's first steps: ``/``, the `make run` banner's admin login, the dashboard."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


def _run_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_demo", ROOT / "scripts" / "run_demo.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db
def test_root_sends_staff_to_the_dashboard_and_others_to_the_api_docs(django_user_model: Any) -> None:
    anonymous = Client().get("/")
    assert anonymous.status_code == 302
    assert anonymous["Location"] == "/api/docs/"
    staff = django_user_model.objects.create_user("op", password="pw-for-tests-only", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/")["Location"] == "/admin/status/"
    clerk = django_user_model.objects.create_user("clerk", password="pw-for-tests-only")
    client.force_login(clerk)
    assert client.get("/")["Location"] == "/api/docs/"


@pytest.mark.slow
def test_the_banners_createsuperuser_line_works_as_printed(tmp_path: Path) -> None:
    """The line is pasted into a shell in the repository, against the database of `make run`."""
    demo = _run_demo()
    line = demo.superuser_command(password="a-demo-pw-1")
    assert line.startswith("DJANGO_SUPERUSER_PASSWORD=")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "SECRET_KEY": "s" * 50,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
    }
    python = demo.python_as_typed()
    subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    done = subprocess.run(  # noqa: S602 - the point is to run the printed shell line
        line, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    check = (
        "from django.contrib.auth.models import User; u = User.objects.get(username='admin'); "
        "print(u.is_superuser and u.check_password('a-demo-pw-1'))"
    )
    shell = subprocess.run(  # noqa: S603
        [python, "manage.py", "shell", "-c", check], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert shell.stdout.strip().splitlines()[-1] == "True"
