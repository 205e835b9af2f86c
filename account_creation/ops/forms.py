"""The staff grid's filter form: status, system, department and free text, as query parameters."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from account_creation.account_types import registry
from account_creation.models import TaskStatus
from account_creation.ops.selectors import GridFilters


class GridFilterForm(forms.Form):
    """``?status=&system=&department=&q=`` of /admin/status/request/; an unknown status or system
    is a form error shown above the grid (and that filter is not applied)."""

    status = forms.ChoiceField(label=_("status"), required=False)
    system = forms.ChoiceField(label=_("system"), required=False)
    department = forms.CharField(label=_("department code"), required=False, max_length=64)
    q = forms.CharField(label=_("name or employee number"), required=False, max_length=100)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        everything: list[tuple[str, Any]] = [("", _("all"))]
        # The registry's systems as they are now (a type may be registered after import).
        for name, choices in (("status", TaskStatus.choices), ("system", registry.choices())):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)  # noqa: S101 - declared above
            field.choices = everything + list(choices)
        self.fields["department"].widget.attrs.update(size=10)
        self.fields["q"].widget.attrs.update(size=16)

    def filters(self) -> GridFilters:
        """The valid filters (an invalid field is left out; ``errors`` says why)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return GridFilters(
            status=data.get("status") or "",
            system=data.get("system") or "",
            department=(data.get("department") or "").strip(),
            q=(data.get("q") or "").strip(),
        )
