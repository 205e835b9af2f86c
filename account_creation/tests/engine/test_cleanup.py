from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from account_creation.models import AccountCreationLog, AccountCreationTask
from account_creation.services.engine import AccountCreationService

pytestmark = pytest.mark.django_db


def test_cleanup_deletes_only_old_logs_of_finished_tasks(submit, fakes, settings):
    settings.ACCOUNT_CREATION_BACKOFF_BASE_SECONDS = 3600
    fakes["idaas"].script_for("P2", "retry")
    submit(numbers=["P1", "P2"], systems=["idaas"])
    AccountCreationService(max_tasks=10).run()
    AccountCreationLog.objects.update(created_at=timezone.now() - timedelta(days=40))
    out = StringIO()
    call_command("cleanup_account_creation_logs", "--older-than", "30", "--dry-run", stdout=out)
    assert "1 attempt log(s)" in out.getvalue()
    assert AccountCreationLog.objects.count() == 2
    call_command("cleanup_account_creation_logs", "--older-than", "30", stdout=StringIO())
    pending = AccountCreationTask.objects.get(employee_number="P2")
    assert pending.logs.count() == 1  # the active task keeps its attempt count
    assert AccountCreationLog.objects.count() == 1
