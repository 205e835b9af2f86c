"""Shapes of the request resource, for the OpenAPI document.

The request views answer dicts built by ``account_creation.request_selectors`` (a request of
1,000 people is 3,000 account entries: a serializer per field would cost more than the
queries); these serializers describe those dicts exactly, and a test checks the two agree.
"""

from __future__ import annotations

from rest_framework import serializers

from account_creation.account_types import registry
from account_creation.api.serializers import IntakeIssueSerializer
from account_creation.models import TaskStatus
from account_creation.request_selectors import PROGRESS_KEYS, RequestStatus


class ProgressSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {key: serializers.IntegerField(help_text=f"Tasks {key}." if key != "total" else "All tasks.")
                for key in PROGRESS_KEYS}


class AccountStateSerializer(serializers.Serializer):
    taskId = serializers.IntegerField()
    status = serializers.ChoiceField(choices=TaskStatus.values)
    attempts = serializers.IntegerField(help_text="Attempts made so far.")
    lastError = serializers.CharField(allow_blank=True)
    nextAttemptAt = serializers.DateTimeField(allow_null=True, help_text="When a waiting task is tried again.")
    waitingFor = serializers.CharField(
        allow_null=True,
        help_text="Configuration the pending task waits for (e.g. a department mapping) and how to add it, "
        "in the caller's language; a waiting task is not attempted and spends no attempts. Null otherwise.",
    )
    username = serializers.CharField(allow_blank=True, help_text="Once created: the account's user name.")
    email = serializers.CharField(allow_blank=True, help_text="Once created: the mailbox address.")
    accountId = serializers.CharField(allow_blank=True, help_text="Once created: the system's account id.")
    reusedFromRequestId = serializers.CharField(
        required=False, help_text="Present when the task was created by an earlier request and reused."
    )


class AccountsSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {str(value): AccountStateSerializer(required=False) for value in registry.values()}


class PersonSerializer(serializers.Serializer):
    employeeNumber = serializers.CharField()
    employeeName = serializers.CharField()
    ready = serializers.BooleanField(help_text="Every requested system's account is created.")
    accounts = AccountsSerializer()


class RequestSummarySerializer(serializers.Serializer):
    requestId = serializers.CharField()
    originSystem = serializers.CharField()
    businessKey = serializers.CharField()
    status = serializers.ChoiceField(
        choices=RequestStatus.values,
        help_text="pending: nothing attempted yet; in_progress; completed: every task completed; failed: "
        "nothing left to do and some task failed or is blocked; cancelled.",
    )
    priority = serializers.ChoiceField(choices=["high", "normal"])
    systemList = serializers.ListField(child=serializers.CharField())
    progress = ProgressSerializer()
    createdAt = serializers.DateTimeField()
    completedAt = serializers.DateTimeField(allow_null=True, help_text="When nothing was left to do.")
    cancelledAt = serializers.DateTimeField(allow_null=True)


class RequestDetailSerializer(RequestSummarySerializer):
    people = PersonSerializer(many=True)
    errors = IntakeIssueSerializer(  # type: ignore[assignment]
        many=True, help_text="People rejected at intake, with the field at fault."
    )
    warnings = IntakeIssueSerializer(many=True)
    cancelledTasks = serializers.IntegerField(required=False, help_text="Only in the cancel answer.")
