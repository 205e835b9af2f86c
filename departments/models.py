"""Department and employee-type mappings (field names kept from the system this replaces)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from departments.validators import validate_ou


class DepartmentMapping(models.Model):
    idata_departmentcode = models.CharField(
        _("OA/HR department code"),
        max_length=64,
        unique=True,
        help_text=_("The code the OA system sends as departmentCode."),
    )
    idaas_departmentcode = models.CharField(
        _("IDaaS/WeLink department code"),
        max_length=64,
        help_text=_("Sent to WeLink as the corp department code (corpDeptCodes)."),
    )
    department_name = models.CharField(_("department name"), max_length=200, blank=True)
    ou = models.CharField(
        _("AD OU"),
        max_length=500,
        validators=[validate_ou],
        help_text=_(
            "Distinguished name sent to IDaaS, e.g. OU=研发部,DC=example,DC=com: in the domain "
            "IDAAS_DC1/IDAAS_DC2, outside AD's built-in containers (Domain Controllers, Users, …)."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # Who changed what and when (the API client's service user, or the admin's staff user).
    # The history model's names are given: simple_history would otherwise evaluate the lazy
    # verbose_name at import time, before translations can be loaded.
    history = HistoricalRecords(
        verbose_name=_("historical department mapping"),
        verbose_name_plural=_("historical department mappings"),
    )

    class Meta:
        ordering = ["idata_departmentcode"]
        verbose_name = _("department mapping")
        verbose_name_plural = _("department mappings")

    def __str__(self) -> str:
        return f"{self.idata_departmentcode} {self.department_name}".strip()


class EmployeeTypeMapping(models.Model):
    employee_type = models.CharField(
        _("employee type"),
        max_length=32,
        unique=True,
        help_text=_("The code the OA system sends as employeeType."),
    )
    description = models.CharField(_("description"), max_length=100, blank=True)
    idaas_user_type = models.CharField(_("IDaaS user type"), max_length=32, help_text=_("IDaaS userType."))
    welink_person_type = models.CharField(
        _("WeLink person type"), max_length=32, help_text=_("WeLink personType.")
    )
    email_domain = models.CharField(
        _("email domain"),
        max_length=100,
        blank=True,
        help_text=_("Mailbox domain for this type, e.g. @partner.example.com; empty uses EMAIL_DOMAIN."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords(
        verbose_name=_("historical employee type mapping"),
        verbose_name_plural=_("historical employee type mappings"),
    )

    class Meta:
        ordering = ["employee_type"]
        verbose_name = _("employee type mapping")
        verbose_name_plural = _("employee type mappings")

    def __str__(self) -> str:
        return f"{self.employee_type} ({self.description})"


class AccountCategoryMapping(models.Model):
    """What a request's ``accountType`` means here, so another system's values work unchanged.

    The system this replaces sends categories such as ``供应商`` (supplier). A mapped value is
    stored as ``category``; when ``employee_type`` is set, that employee type (its IDaaS
    userType, WeLink personType and mailbox domain) applies instead of the request's
    ``employeeType`` — a supplier's account is a supplier's, whatever employment code came with
    it. An unmapped ``accountType`` is kept as it was sent.
    """

    account_type = models.CharField(
        _("account type"),
        max_length=32,
        unique=True,
        help_text=_("The value the OA system sends as accountType, e.g. 供应商."),
    )
    category = models.CharField(
        _("account category"),
        max_length=32,
        help_text=_("The account category stored on the request and its tasks, e.g. supplier."),
    )
    employee_type = models.CharField(
        _("employee type"),
        max_length=32,
        blank=True,
        help_text=_("When set, this employee type applies instead of the request's employeeType (e.g. S)."),
    )
    description = models.CharField(_("description"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords(
        verbose_name=_("historical account type mapping"),
        verbose_name_plural=_("historical account type mappings"),
    )

    class Meta:
        ordering = ["account_type"]
        verbose_name = _("account type mapping")
        verbose_name_plural = _("account type mappings")

    def __str__(self) -> str:
        return f"{self.account_type} → {self.category}"
