"""Page-number pagination that stays fast on millions of tasks.

DRF's ``PageNumberPagination`` runs an exact ``COUNT(*)`` of the filtered set on every
page; over a million tasks (no filter, ``status=completed``, a busy origin system) that
count is an index scan of the whole set, ~100 ms, and grows with the table. Here:

* the page is fetched with one extra row, so ``next`` is known without any count;
* a page that ends the set gives the exact count for free (offset + rows on it);
* otherwise the count is exact up to ``EXACT_COUNT_LIMIT`` rows (a ``COUNT(*)`` over a
  ``LIMIT``-ed subquery: bounded work) and, beyond that, on PostgreSQL, the planner's
  estimate of the filtered set — never less than what is known to exist.

The body keeps exactly the contract's ``{count, next, previous, results}``; the header
``X-Count-Exact: false`` says ``count`` is an estimate. ``?page=last`` counts exactly.
"""

from __future__ import annotations

import json
from typing import Any, cast

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connections
from django.db.models import QuerySet
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

# Counting this many index entries takes a few milliseconds; past it, an estimate.
EXACT_COUNT_LIMIT = 100_000
MAX_OFFSET = 2**62


class _KnownPage(Page):
    """A page that knows whether another follows without asking the paginator's count."""

    def __init__(self, object_list: Any, number: int, paginator: Paginator, more: bool):
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self) -> bool:
        return self.more

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1


class CappedCountPaginator(Paginator):
    exact_count_limit = EXACT_COUNT_LIMIT

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.count_exact = True
        self._known_count: int | None = None
        self._at_least = 0

    def page(self, number: Any) -> _KnownPage:
        try:
            number = int(number)
        except (TypeError, ValueError) as exc:
            raise PageNotAnInteger("That page number is not an integer") from exc
        if number < 1:
            raise EmptyPage("That page number is less than 1")
        bottom = (number - 1) * self.per_page
        # No page starts beyond a 63-bit offset: the database would refuse the OFFSET with an
        # error (SQLite "datatype mismatch", PostgreSQL "bigint out of range") -> a 500.
        if bottom >= MAX_OFFSET:
            raise EmptyPage("That page contains no results")
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if number > 1 and not rows:
            raise EmptyPage("That page contains no results")
        more = len(rows) > self.per_page
        if more:
            self._at_least = bottom + len(rows)
        else:
            self._known_count = bottom + len(rows)
        return _KnownPage(rows[: self.per_page], number, self, more)

    @property
    def count(self) -> int:  # type: ignore[override]
        if self._known_count is None:
            self._known_count = self._count()
        return self._known_count

    def _pks(self) -> QuerySet[Any]:
        # values("pk"): without the list's per-row annotations (the attempts subquery).
        return cast("QuerySet[Any]", self.object_list).order_by().values("pk")

    def exact_count(self) -> int:
        self._known_count, self.count_exact = self._pks().count(), True
        return self._known_count

    def _count(self) -> int:
        queryset = self._pks()
        bounded = queryset[: self.exact_count_limit + 1].count()
        if bounded <= self.exact_count_limit:
            return bounded
        if connections[queryset.db].vendor != "postgresql":
            return int(queryset.count())
        self.count_exact = False
        plan = json.loads(queryset.explain(format="json"))
        estimate = int(plan[0]["Plan"]["Plan Rows"])
        return max(estimate, bounded, self._at_least)


class TaskPagination(PageNumberPagination):
    django_paginator_class = CappedCountPaginator

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        page_number = request.query_params.get(self.page_query_param) or 1
        if page_number in self.last_page_strings:
            return max(1, -(-paginator.exact_count() // paginator.per_page))
        return page_number

    def get_paginated_response(self, data: Any) -> Response:
        paginator = cast(CappedCountPaginator, cast(Page, self.page).paginator)
        count = paginator.count
        body = {"count": count, "next": self.get_next_link(), "previous": self.get_previous_link(), "results": data}
        return Response(body, headers={"X-Count-Exact": "true" if paginator.count_exact else "false"})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        answer = super().get_paginated_response_schema(schema)
        answer["properties"]["count"]["description"] = (
            f"Number of matching items: exact up to {EXACT_COUNT_LIMIT:,}; beyond that on PostgreSQL "
            "the planner's estimate, and the response header X-Count-Exact is false. The pages and "
            "next/previous links are exact either way."
        )
        return answer
