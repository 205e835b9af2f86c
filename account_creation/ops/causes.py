"""A failure's *cause*: a short key that does not depend on any language, to group and filter by.

Messages are stored as a code and parameters (``accountsync/messages.py``), and the engine's
messages wrap the reason they are about: ``task.gave_up`` -> ``welink.lookup_failed_too`` ->
``http.server_error``. The cause of a task's ``last_error_data`` or an attempt's ``error_data`` is
the code of the innermost reason (``http.server_error``): what an operator fixes, whether the
task gave up on it, failed at once or failed a look-up too. The parameters (a person, an attempt
count, a time, an HTTP status) are left out, so people who failed for one reason are one row. A
text that is not ours to translate (a downstream system's own words, code ``text``) keeps its first
characters after ``~``, and a row stored before messages had codes is ``-~`` and the first
characters of its English text: that text is all it has.

The dashboard's tables and the attention panel group by these columns; the admin's ``cause``
filter (``?cause=<key>``) selects the same rows again, so a row's count is what its link lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.db.models import Case, CharField, Count, Max, Q, QuerySet, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Substr
from django.http import HttpRequest
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from accountsync.messages import TEXT, render_stored

TEXT_CHARS = 100
NO_CODE = "-"
COLUMNS = ("cause_code", "cause_text")
# How deep reasons are looked for (task.gave_up -> welink.lookup_failed_too -> http.server_error
# is two); a deeper one counts as the reason that holds it.
MAX_DEPTH = 3


@dataclass(frozen=True)
class Source:
    """Where a model keeps its message: the stored code+parameters and the stored text."""

    data: str
    text: str


TASK = Source("last_error_data", "last_error")
ATTEMPT = Source("error_data", "error_message")


def _levels(data: str) -> list[str]:
    """The paths of the message and its nested reasons, deepest first."""
    return [data + "__params__reason" * depth for depth in range(MAX_DEPTH, -1, -1)]


def cause_expressions(source: Source) -> dict[str, Any]:
    """The cause columns as expressions (annotate them to group, alias them to filter)."""
    levels = _levels(source.data)
    text_cases = [When(Q(**{f"{source.data}__isnull": True}), then=Substr(source.text, 1, TEXT_CHARS))]
    for level in levels:
        # The deepest message there is decides: its text when it is a plain text, else none.
        text_cases.append(When(Q(**{f"{level}__code": TEXT}), then=Substr(KT(f"{level}__params__{TEXT}"), 1,
                                                                           TEXT_CHARS)))
        text_cases.append(When(Q(**{f"{level}__code__isnull": False}), then=Value("")))
    return {
        "cause_code": Coalesce(*(KT(f"{level}__code") for level in levels), Value(""), output_field=CharField()),
        "cause_text": Case(*text_cases, default=Value(""), output_field=CharField()),
    }


def cause_key(code: str | None, text: str | None) -> str:
    """The columns as one key for a URL: ``code[~text]`` (``-`` for no code)."""
    return (code or NO_CODE) + (f"~{text}" if text else "")


def parse_cause(key: str) -> tuple[str, str]:
    code, _sep, text = key.partition("~")
    return ("" if code == NO_CODE else code), text


def with_cause(queryset: QuerySet[Any], source: Source, key: str) -> QuerySet[Any]:
    """The rows whose cause is ``key``."""
    code, text = parse_cause(key)
    return queryset.alias(**cause_expressions(source)).filter(cause_code=code, cause_text=text)


def cause_of(data: dict[str, Any] | None, text: str = "") -> str:
    """The key of one stored message (as the database computes it, in Python)."""
    if not data or "code" not in data:
        return cause_key("", text[:TEXT_CHARS])
    leaf = data
    for _depth in range(MAX_DEPTH):
        reason = (leaf.get("params") or {}).get("reason")
        if not (isinstance(reason, dict) and "code" in reason):
            break
        leaf = reason
    code = str(leaf["code"])
    shown = str((leaf.get("params") or {}).get(TEXT, "")) if code == TEXT else ""
    return cause_key(code, shown[:TEXT_CHARS])


@dataclass
class Cause:
    """One cause among ``rows``: its key, how many rows, and one of them to show (rendered)."""

    group: tuple[Any, ...]  # the grouping values before the cause columns (a system, …)
    key: str
    count: int
    sample_id: int


def top_causes(
    queryset: QuerySet[Any], source: Source, *, by: tuple[str, ...] = (), count: Any = None, limit: int = 10
) -> list[Cause]:
    """The most common causes of ``queryset`` (one grouped query), per ``by`` columns too."""
    rows = (
        queryset.order_by()
        .annotate(**cause_expressions(source))
        .values_list(*by, *COLUMNS)
        .annotate(n=count if count is not None else Count("id"), sample=Max("id"))
        .order_by("-n", *by, *COLUMNS)[:limit]
    )
    return [
        Cause(group=tuple(row[: len(by)]), key=cause_key(*row[len(by): len(by) + 2]), count=row[-2], sample_id=row[-1])
        for row in rows
    ]


def sample_texts(model: Any, source: Source, ids: list[int]) -> dict[int, str]:
    """Each sample row's message in the reader's language (one query)."""
    rows = model.objects.filter(pk__in=ids).values_list("pk", source.data, source.text)
    return {pk: render_stored(data, text) for pk, data, text in rows}


class CauseFilter(admin.SimpleListFilter):
    """The admin's ``?cause=<key>`` filter: the rows of one cause, as the dashboard groups them.

    The side bar offers the commonest causes of failed rows (``failed_rows``), each named by one of
    its messages in the reader's language; any other key given in the URL filters too."""

    title = _("cause")
    parameter_name = "cause"
    source: Source = TASK
    choices_shown = 12

    def failed_rows(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        model = model_admin.model
        causes = top_causes(self.failed_rows(model.objects.all()), self.source, limit=self.choices_shown)
        texts = sample_texts(model, self.source, [cause.sample_id for cause in causes])
        choices = [
            (cause.key, Truncator(texts.get(cause.sample_id, "") or cause.key).chars(70)) for cause in causes
        ]
        chosen = self.value()
        if chosen and chosen not in {key for key, _label in choices}:
            choices.append((chosen, Truncator(chosen).chars(70)))
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        return with_cause(queryset, self.source, value) if value else queryset
