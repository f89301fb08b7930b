"""Reading many rows fast: the driver's own tuples, without a SQLAlchemy ``Row`` per row.

Listing 10,000 waiting requests is mostly turning cells into Python objects, so this path skips
what it can. On SQLite text is first decoded by the driver's own strict UTF-8 decoder (in C; the
lenient decoder the engine sets is a Python call per cell, about a quarter of such a read); when
a cell is not valid UTF-8 (written by another tool) the statement is read again with the lenient
one, which shows such bytes as U+FFFD as every other read does.
"""

from __future__ import annotations

import sqlite3
from typing import Any, cast

import sqlalchemy as sa

__all__ = ["read_tuples"]


def read_tuples(conn: sa.Connection, statement: sa.Executable) -> list[tuple[Any, ...]]:
    """Every row of ``statement`` on ``conn``, as plain tuples (no type processing: select
    columns that need none)."""
    if conn.dialect.name != "sqlite":
        return _fetch(conn, statement)
    driver = conn.connection.driver_connection
    lenient = driver.text_factory  # type: ignore[union-attr]
    driver.text_factory = str  # type: ignore[union-attr]
    try:
        return _fetch(conn, statement)
    except (sqlite3.OperationalError, sa.exc.OperationalError) as failed:
        if "Could not decode to UTF-8" not in str(failed):
            raise
    finally:
        driver.text_factory = lenient  # type: ignore[union-attr]
    return _fetch(conn, statement)


def _fetch(conn: sa.Connection, statement: sa.Executable) -> list[tuple[Any, ...]]:
    result = conn.execute(statement)
    try:
        rows = cast("list[tuple[Any, ...]]", result.cursor.fetchall())
    finally:
        result.close()
    return rows
