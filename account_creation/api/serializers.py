"""Serializers: validate and shape. They never write."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from account_creation.account_types import registry
from account_creation.countries import COUNTRIES, country_name, iso_country_code, resolve_country
from account_creation.messages import message
from account_creation.models import (
    PRIORITY_NAMES,
    AccountCreationLog,
    AccountCreationTask,
    TaskStatus,
)
from account_creation.reserved import person_reserved_names
from account_creation.selectors import task_last_error, zoned_details
from accountsync.messages import render_stored
from accountsync.redaction import mask_phone
from departments.selectors import account_category_of, employee_type_exists, employee_types_described


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of converting them."""

    default_error_messages = {
        "invalid": _("Must be a string."),
        "control": _("Must not contain control characters."),
    }

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        # NUL and lone surrogates are refused by CharField's own validators.
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in data):
            self.fail("control")
        return super().to_internal_value(data)


EMPLOYEE_NUMBER_MAX = 19  # the IDaaS userName (initial + number) must fit AD's 20 characters
employee_number_validator = RegexValidator(
    r"^[A-Za-z0-9_-]+$",
    _("Use only letters, digits, '-' and '_' (it becomes part of the AD account name)."),
)
origin_system_validator = RegexValidator(
    r"^[A-Za-z0-9_.:-]+$", _("Use only letters, digits, '.', ':', '-' and '_' (e.g. oa).")
)
phone_validator = RegexValidator(
    r"^\+?[0-9][0-9 \-]{4,22}[0-9]$",
    _("Give the mobile number as digits, optionally with a leading + and '-' or spaces."),
)


NAME_PUNCTUATION = frozenset(" .·・'-")


class AccountUserSerializer(serializers.Serializer):
    """One person in userList."""

    employeeNumber = StrictCharField(
        max_length=EMPLOYEE_NUMBER_MAX, validators=[employee_number_validator]
    )
    employeeName = StrictCharField(max_length=50)
    departmentCode = StrictCharField(max_length=64)
    phoneNumber = StrictCharField(max_length=32, validators=[phone_validator])
    partnerCompany = StrictCharField(
        max_length=200, required=False, allow_blank=True, allow_null=True, default=""
    )
    # A code (cn, CN, CHN) or a name (China, 中国, 中华人民共和国), stored as our code.
    country = StrictCharField(max_length=64, required=False, default="cn")

    def validate_country(self, value: str) -> str:
        code = resolve_country(value)
        if code is not None:
            return code
        iso = iso_country_code(value)
        if iso is None:
            raise serializers.ValidationError(str(message("intake.country_unknown", value=value.strip())))
        raise serializers.ValidationError(
            str(
                message(
                    "intake.country_unsupported",
                    value=value.strip(),
                    name=country_name(iso, chinese=(get_language() or "").startswith("zh")),
                    code=iso,
                    supported=", ".join(sorted(COUNTRIES)),
                )
            )
        )

    def validate_employeeName(self, value: str) -> str:  # noqa: N802 - wire name
        # The name becomes the directory display name and, via pinyin, the account and
        # mailbox names: letters of any script, combining marks, spaces and the few
        # punctuation marks names use (O'Neil, Anne-Marie, 阿卜杜·热合曼).
        if not all(
            ch.isalpha() or ch in NAME_PUNCTUATION or unicodedata.category(ch).startswith("M")
            for ch in value
        ):
            raise serializers.ValidationError(_("Use only letters, spaces and . · ' - in a name."))
        return value.strip()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A reserved account name (administrator, krbtgt, postmaster …) is never created:
        # reject the person, naming the field that produces it (account_creation/reserved.py).
        reserved = person_reserved_names(attrs["employeeNumber"], attrs["employeeName"])
        if reserved:
            raise serializers.ValidationError({issue.field: [issue.message] for issue in reserved})
        return attrs


class RawItemField(serializers.Field):
    """Any JSON value, passed through unchanged. (JSONField would re-encode every user to
    check it is JSON, which the parser already guaranteed.)"""

    def to_internal_value(self, data: Any) -> Any:
        return data

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field(AccountUserSerializer(many=True))
class UserListField(serializers.ListField):
    """Users are validated one by one later (a bad user rejects that user, not the request);
    the schema still documents each item as an AccountUser."""


class AccountTypeField(serializers.ChoiceField):
    """A registered account type; follows the registry (a type added later is accepted)."""

    default_error_messages = {"invalid_choice": _('Unknown system "{input}"; use {known}.')}

    def __init__(self, **kwargs: Any):
        super().__init__(choices=registry.choices(), **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if list(self.choices) != registry.values():
            self.choices = registry.choices()
        try:
            return self.choice_strings_to_values[str(data)]
        except KeyError:
            self.fail("invalid_choice", input=data, known=", ".join(registry.values()))


@extend_schema_field({"type": "string", "format": "date-time", "example": "2026-12-01T08:00:00+08:00"})
class MomentField(serializers.Field):
    """A moment as an ISO 8601 datetime (with or without offset: TIME_ZONE then) or a bare date,
    which means that day's midnight in TIME_ZONE."""

    default_error_messages = {
        "invalid": _("Use an ISO 8601 date or datetime, e.g. 2026-12-01 or 2026-12-01T08:00:00+08:00."),
    }

    def to_internal_value(self, data: Any) -> datetime:
        text = str(data).strip()
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                moment = datetime(day.year, day.month, day.day)  # noqa: DTZ001 - made aware below
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            aware = timezone.make_aware(moment) if timezone.is_naive(moment) else moment
            # In UTC for the database: PostgreSQL refuses offsets beyond ±15:59 (e.g. -16:45),
            # which ISO 8601 parsing accepts.
            return aware.astimezone(UTC)
        except (ValueError, OverflowError):
            self.fail("invalid")

    def to_representation(self, value: Any) -> Any:
        return value


class ListFilterFields(serializers.Serializer):
    """The filters the task list and the request list share: a time range and free text."""

    created_after = MomentField(required=False, help_text="Created at or after (a date: from its midnight).")
    created_before = MomentField(required=False, help_text="Created before (a date: before its midnight).")
    q = StrictCharField(
        max_length=100, required=False,
        help_text="Free text: name (contains), employee number or businessKey (starts with).",
    )


class TaskFilterSerializer(ListFilterFields):
    """Query parameters of the task list; a bad value is a 400, never a database error."""

    status = serializers.ChoiceField(choices=TaskStatus.choices, required=False)
    account_type = AccountTypeField(
        required=False, error_messages={"invalid_choice": _('"{input}" is not a valid choice.')}
    )
    employee_number = StrictCharField(max_length=64, required=False)
    business_key = StrictCharField(max_length=128, required=False)
    origin_system = StrictCharField(max_length=64, required=False)
    department_code = StrictCharField(max_length=64, required=False)


class CreateAccountsRequestSerializer(serializers.Serializer):
    """The request envelope the OA system sends (camelCase)."""

    originSystem = StrictCharField(
        max_length=64, validators=[origin_system_validator], help_text="Sending system, e.g. oa."
    )
    businessKey = StrictCharField(
        max_length=128, help_text="The approval's id; the same key again is a replay."
    )
    accountType = StrictCharField(max_length=32, help_text="Account category, e.g. personal.")
    employeeType = StrictCharField(
        max_length=32, help_text="Employee type code, mapped to IDaaS userType/WeLink personType."
    )
    systemList = serializers.ListField(
        child=AccountTypeField(),
        allow_empty=False,
        help_text="Systems to create accounts in (registered account types): " + ", ".join(registry.values()) + ".",
    )
    userList = UserListField(
        child=RawItemField(),
        allow_empty=False,
        help_text="People to create accounts for (see AccountUser).",
    )
    priority = serializers.ChoiceField(
        choices=["high", "normal"],
        required=False,
        help_text="high: claimed before every due normal task (an urgent hire); default normal.",
    )

    def validate_userList(self, value: list[Any]) -> list[Any]:  # noqa: N802 - wire name
        limit = settings.ACCOUNT_CREATION_MAX_USERS_PER_REQUEST
        if len(value) > limit:
            raise serializers.ValidationError(
                _(
                    "At most %(limit)s users per request; this one has %(count)s. "
                    "Split it into several requests with different businessKeys."
                )
                % {"limit": limit, "count": len(value)}
            )
        return value

    def validate_employeeType(self, value: str) -> str:  # noqa: N802 - wire name
        # An accountType mapped to a person type (供应商 -> S) decides instead (departments'
        # AccountCategoryMapping); the check is field-level so it is reported with every other error.
        account_type = self.initial_data.get("accountType") if isinstance(self.initial_data, dict) else None
        # accountType is read unvalidated here: look it up only when it could be a valid one (a NUL
        # byte or an overlong value would reach the database, which PostgreSQL refuses).
        imposed = ""
        if isinstance(account_type, str) and len(account_type) <= 32 and account_type.isprintable():
            imposed = account_category_of(account_type=account_type).employee_type
        effective = imposed or value
        if not employee_type_exists(employee_type=effective):
            raise serializers.ValidationError(
                str(message("intake.employee_type_unknown", value=effective, known=employee_types_described()))
            )
        return value

    def validate_systemList(self, value: list[str]) -> list[str]:  # noqa: N802 - wire name
        seen: list[str] = []
        for system in value:
            if system not in seen:
                seen.append(system)
        return seen


class IntakeIssueSerializer(serializers.Serializer):
    """One entry of ``errors`` (a rejected user) or ``warnings`` (an accepted one)."""

    index = serializers.IntegerField(allow_null=True, help_text="Position in userList, or null.")
    employeeNumber = serializers.CharField(allow_null=True)
    field = serializers.CharField()
    message = serializers.CharField()


class TaskSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_type = serializers.CharField()
    employee_number = serializers.CharField()
    status = serializers.CharField()
    created = serializers.BooleanField(help_text="False when an existing task was reused.")


class CreateAccountsResponseSerializer(serializers.Serializer):
    requestId = serializers.CharField(
        required=False,
        help_text="The request's id (also in the Location header): GET /account-creation/requests/{requestId}/. "
        "Absent on a 400, where nothing was accepted.",
    )
    success = serializers.BooleanField(help_text="True when no user was rejected.")
    created_tasks = serializers.IntegerField()
    replayed = serializers.BooleanField(
        help_text="True when this originSystem+businessKey was already accepted."
    )
    errors = IntakeIssueSerializer(many=True)  # type: ignore[assignment]
    warnings = IntakeIssueSerializer(many=True)
    tasks = TaskSummarySerializer(many=True)


class AccountCreationTaskSerializer(serializers.ModelSerializer):
    attempts = serializers.IntegerField(read_only=True, help_text="Attempt rows of this task.")
    attempts_left = serializers.SerializerMethodField()
    phone_number = serializers.SerializerMethodField()
    last_error = serializers.SerializerMethodField(help_text="In the caller's language (Accept-Language).")
    waiting_for = serializers.SerializerMethodField(
        help_text="What configuration the task waits for and how to add it (null when it does not wait); "
        "a waiting task is not attempted and spends no attempts."
    )

    class Meta:
        model = AccountCreationTask
        fields = [
            "id",
            "request",
            "origin_system",
            "business_key",
            "account_category",
            "account_type",
            "employee_type",
            "employee_number",
            "employee_name",
            "department_code",
            "phone_number",
            "partner_company",
            "country",
            "status",
            "priority",
            "attempts",
            "attempts_left",
            "next_attempt_at",
            "locked_by",
            "locked_until",
            "result",
            "last_error",
            "waiting_for",
            "created_at",
            "updated_at",
            "started_at",
            "completed_at",
        ]
        read_only_fields = fields

    priority = serializers.SerializerMethodField()

    def get_priority(self, task: AccountCreationTask) -> str:
        return PRIORITY_NAMES.get(task.priority, "normal")

    def get_last_error(self, task: AccountCreationTask) -> str:
        return task_last_error(task)

    def get_phone_number(self, task: AccountCreationTask) -> str:
        return mask_phone(task.phone_number)

    def get_waiting_for(self, task: AccountCreationTask) -> str | None:
        from account_creation.services.waiting import waiting_for_text

        return waiting_for_text(task.waiting_for) or None

    def get_attempts_left(self, task: AccountCreationTask) -> int:
        attempts = getattr(task, "attempts", 0) or 0
        return max(0, settings.ACCOUNT_CREATION_MAX_RETRIES - (attempts - task.attempt_base))


class AccountCreationLogSerializer(serializers.ModelSerializer):
    error_message = serializers.SerializerMethodField(help_text="In the caller's language (Accept-Language).")
    error_details = serializers.SerializerMethodField()

    def get_error_message(self, log: AccountCreationLog) -> str:
        return render_stored(log.error_data, log.error_message)

    def get_error_details(self, log: AccountCreationLog) -> Any:
        return zoned_details(log.error_details)

    class Meta:
        model = AccountCreationLog
        fields = [
            "id",
            "task",
            "execution_attempt",
            "outcome",
            "runner",
            "error_message",
            "error_details",
            "execution_context",
            "traceback",
            "created_at",
            "finished_at",
            "duration_ms",
        ]
        read_only_fields = fields


class _StatusCountsSerializer(serializers.Serializer):
    """``total_tasks`` and ``<status>_tasks`` for every task status (task_stats' buckets)."""

    total_tasks = serializers.IntegerField()

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for status in TaskStatus.values:
            fields.setdefault(f"{status}_tasks", serializers.IntegerField())
        return fields


class TypeStatsSerializer(_StatusCountsSerializer):
    completion_rate = serializers.FloatField()


class TaskStatsSerializer(_StatusCountsSerializer):
    overall_completion_rate = serializers.FloatField(help_text="completed / total, in percent.")
    stats_by_type = serializers.DictField(child=TypeStatsSerializer())


class DownstreamSystemSerializer(serializers.Serializer):
    """One downstream system's health (GET /account-creation/systems/)."""

    name = serializers.CharField()
    state = serializers.ChoiceField(choices=["ok", "quarantined"])
    reason = serializers.CharField(
        allow_blank=True, help_text="Why it is quarantined, in the caller's Accept-Language; empty when ok."
    )
    since = serializers.DateTimeField(allow_null=True, help_text="When the quarantine began.")
    nextProbeAt = serializers.DateTimeField(  # noqa: N815 - wire name
        source="next_probe_at", allow_null=True, help_text="When one task will try the system again."
    )
    waitingTasks = serializers.IntegerField(  # noqa: N815 - wire name
        source="waiting_tasks", help_text="This client's pending tasks the quarantine holds back."
    )
    rateLimit = serializers.FloatField(  # noqa: N815 - wire name
        source="rate_limit", allow_null=True, help_text="Calls per second configured (null: no fixed limit)."
    )
    rateLimitedAnswers = serializers.IntegerField(source="rate_limited")  # noqa: N815 - wire name
    action = serializers.CharField(allow_blank=True, help_text="What to do about it.")
