"""Inserting many new rows in one statement, skipping those whose key exists already.

Postgres gets each column as one array and unnests them (``INSERT ... SELECT unnest(...)``), a
column with one value in every row as that value: one statement and one round trip however many
rows, where an executemany sends a statement per row (psycopg's pipeline) and a multi-row VALUES
costs psycopg a parse of its long text. SQLite gets an
executemany, which runs in C.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["insert_new"]


def insert_new(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Sequence[str],
) -> None:
    """Insert ``rows`` (each with the same columns) into ``table``; a row whose ``key`` columns
    match an existing row's is left out."""
    if not rows:
        return
    columns = list(rows[0])
    if conn.dialect.name != "postgresql":
        conn.execute(sqlite.insert(table).on_conflict_do_nothing(index_elements=key), rows)
        return
    values: list[sa.ColumnElement[Any]] = []
    for i, column in enumerate(columns):
        kind = table.c[column].type
        each = [row[column] for row in rows]
        if all(value == each[0] for value in each):  # the same in every row: sent once
            # (rows that are all alike are one row, which the key would keep once anyway)
            values.append(sa.cast(sa.bindparam(f"column_{i}", each[0]), kind))
        else:
            array = sa.cast(sa.bindparam(f"column_{i}", each), postgresql.ARRAY(kind))
            values.append(sa.func.unnest(array))
    conn.execute(
        postgresql.insert(table)
        .from_select(columns, sa.select(*values))
        .on_conflict_do_nothing(index_elements=key)
    )
