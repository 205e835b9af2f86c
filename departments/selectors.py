"""Reads of the mappings that intake consults: employee types and account types."""

from __future__ import annotations

from dataclasses import dataclass

from departments.models import AccountCategoryMapping, EmployeeTypeMapping


@dataclass(frozen=True)
class AccountCategory:
    """What a request's accountType means: the stored category and the employee type it imposes."""

    category: str
    employee_type: str  # "" when the request's employeeType applies


def account_category_of(*, account_type: str) -> AccountCategory:
    """The mapping of ``account_type``; an unmapped value is kept as it was sent."""
    mapping = AccountCategoryMapping.objects.filter(account_type=account_type).first()
    if mapping is None:
        return AccountCategory(category=account_type, employee_type="")
    return AccountCategory(category=mapping.category, employee_type=mapping.employee_type)


def employee_type_exists(*, employee_type: str) -> bool:
    return EmployeeTypeMapping.objects.filter(employee_type=employee_type).exists()


def employee_types_described() -> str:
    """Every known type with its meaning: "W — 正式员工 / regular employee; O — …"."""
    rows = EmployeeTypeMapping.objects.order_by("employee_type").values_list("employee_type", "description")
    return "; ".join(f"{code} — {description}" if description else code for code, description in rows)
