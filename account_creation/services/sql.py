"""A lean UPDATE for the engine's per-task writes.

``QuerySet.filter(...).update(...)`` spends more time compiling the query than the database
spends running it (measured: 0.56 ms vs 0.15 ms per fenced update on SQLite, 1.4 ms vs
0.4 ms on PostgreSQL). The engine writes two or three rows per task, so on the hot path it
builds the same statement directly — values still go through each field's own database
preparation, so JSON, datetimes and time zones are stored exactly as the ORM stores them.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, models


def update_rows(model: type[models.Model], *, values: dict[str, Any], where: dict[str, Any]) -> int:
    """``UPDATE model SET values WHERE where``; a list or tuple in ``where`` means IN.

    Returns the number of rows updated (0 when a fence did not match).
    """
    opts = model._meta
    quote = connection.ops.quote_name
    assignments, params = [], []
    for name, value in values.items():
        field: Any = opts.get_field(name)
        assignments.append(f"{quote(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection=connection))
    conditions = []
    for name, value in where.items():
        field = opts.get_field(name)
        column = quote(field.column)
        if isinstance(value, list | tuple):
            if not value:
                return 0
            conditions.append(f"{column} IN ({', '.join(['%s'] * len(value))})")
            params.extend(field.get_db_prep_value(item, connection) for item in value)
        else:
            conditions.append(f"{column} = %s")
            params.append(field.get_db_prep_value(value, connection))
    # Only column and table names from the model go into the text; every value is a parameter.
    sql = f"UPDATE {quote(opts.db_table)} SET {', '.join(assignments)} WHERE {' AND '.join(conditions)}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
