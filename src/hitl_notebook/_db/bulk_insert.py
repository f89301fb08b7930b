"""Inserting many new rows in one statement, skipping those whose key exists already.

Postgres gets each column as one array and unnests them (``INSERT ... SELECT unnest(...)``), a
column with one value in every row as that value: one statement and one round trip however many
rows, where an executemany sends a statement per row (psycopg's pipeline) and a multi-row VALUES
costs psycopg a parse of its long text. SQLite gets an
executemany, which runs in C.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
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
    returning: str | None = None,
    on_conflict: Callable[[Any], Any] | None = None,
) -> list[Any]:
    """Insert ``rows`` (each with the same columns) into ``table``; a row whose ``key`` columns
    match an existing row's is left out, or handed to ``on_conflict`` (which makes the insert
    of either dialect an upsert: it gets the insert and returns it with its conflict clause).
    Returns the ``returning`` column of each row inserted (in no particular order), if asked."""
    if not rows:
        return []
    columns = list(rows[0])
    postgres = conn.dialect.name == "postgresql"
    insert = postgresql.insert(table) if postgres else sqlite.insert(table)
    if postgres:
        insert = insert.from_select(columns, _unnested(table, columns, rows))
    statement = (
        insert.on_conflict_do_nothing(index_elements=key)
        if on_conflict is None
        else on_conflict(insert)
    )
    if returning is not None:
        statement = statement.returning(table.c[returning])
    result = conn.execute(statement) if postgres else conn.execute(statement, rows)
    return list(result.scalars()) if returning is not None else []


def _unnested(
    table: sa.Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> sa.Select[Any]:
    values: list[sa.ColumnElement[Any]] = []
    for i, column in enumerate(columns):
        kind = table.c[column].type
        each = [row[column] for row in rows]
        if each.count(each[0]) == len(each):  # the same in every row: sent once
            # (rows that are all alike are one row, which the key would keep once anyway)
            values.append(sa.cast(sa.bindparam(f"column_{i}", each[0], type_=kind), kind))
        elif isinstance(kind, sa.JSON):  # sent as the JSON texts (None as JSON's null)
            texts = [json.dumps(value) for value in each]
            array = sa.cast(sa.bindparam(f"column_{i}", texts), postgresql.ARRAY(sa.Text))
            values.append(sa.cast(sa.func.unnest(array), kind))
        else:
            array = sa.cast(sa.bindparam(f"column_{i}", each), postgresql.ARRAY(kind))
            values.append(sa.func.unnest(array))
    return sa.select(*values)
