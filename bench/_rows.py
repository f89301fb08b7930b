"""What the benchmarks share: building a data set by copying a real run's rows, timing, printing.

A builder runs a few agents for real, reads their rows as templates (``template_rows``), copies
them for other runs with new ids and times (``copy_row``) and bulk-inserts the copies
(``insert_chunks``). Each benchmark passes its own epoch-millisecond columns to ``copy_row``.

sqlalchemy is imported inside the functions that use it, as the benchmarks import it in their
child processes: importing this module loads nothing but the standard library.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import sqlalchemy as sa

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
CHUNK = 1_000
"""Rows per executemany."""

T = TypeVar("T")


# -- building: copies of a real run's rows -----------------------------------------------------


def swap(value: Any, swaps: Mapping[str, str]) -> Any:
    """``value`` with every occurrence of each key of ``swaps`` replaced, inside JSON too."""
    if isinstance(value, str):
        for old, new in swaps.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {key: swap(item, swaps) for key, item in value.items()}
    if isinstance(value, list):
        return [swap(item, swaps) for item in value]
    return value


def copy_row(
    row: Mapping[str, Any], swaps: Mapping[str, str], shift_ms: int, time_columns: frozenset[str]
) -> dict[str, Any]:
    """A copy of a template row for another run: ids swapped, times moved by ``shift_ms``.

    ``time_columns`` are the epoch-millisecond columns (durations such as timeout_ms are not).
    """
    return {
        column: value + shift_ms
        if column in time_columns and isinstance(value, int)
        else swap(value, swaps)
        for column, value in row.items()
    }


def template_rows(conn: sa.Connection, table: sa.Table, where: Any) -> list[dict[str, Any]]:
    """The rows of a template run, as dicts; identities and SQL NULL JSON columns left out.

    Left out, an identity numbers the copies in insertion order, and a JSON column stays NULL
    (inserting None would store JSON ``null`` instead).
    """
    import sqlalchemy as sa  # noqa: PLC0415 - see the module's docstring

    json_columns = [c for c in table.c if isinstance(c.type, sa.JSON)]
    is_null = [c.is_(None).label(f"{c.name} is null") for c in json_columns]
    rows = []
    query = sa.select(table, *is_null).where(where).order_by(*table.primary_key.columns)
    for row in conn.execute(query).mappings():
        absent = {c.name for c in json_columns if row[f"{c.name} is null"]}
        absent |= {c.name for c in table.c if c.identity is not None}
        rows.append({c.name: row[c] for c in table.c if c.name not in absent})
    return rows


def insert_chunks(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` with executemany, CHUNK at a time, in order (rows with the same columns)."""
    start = 0
    while start < len(rows):
        columns = rows[start].keys()
        end = start + 1
        while end < len(rows) and end - start < CHUNK and rows[end].keys() == columns:
            end += 1
        conn.execute(table.insert(), list(rows[start:end]))
        start = end


def recreate_postgres_database(name: str) -> None:
    """Drop the database ``name`` on PG_SERVER (closing its connections) and create it again."""
    import sqlalchemy as sa  # noqa: PLC0415 - see the module's docstring

    admin = sa.create_engine(
        f"{PG_SERVER.replace('postgresql://', 'postgresql+psycopg://')}/postgres",
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def run_child(
    script: str, phase: str, url: str, n: int, *extra: str, timeout: float
) -> dict[str, Any]:
    """Run ``script --phase PHASE --db URL --n N EXTRA...`` and return the JSON it prints last.

    Each phase runs in a child process of its own, as DBOS is one per process.
    """
    command = [sys.executable, script, "--phase", phase, "--db", url, "--n", str(n), *extra]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=timeout, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"{phase} of {n} on {url} failed (exit {done.returncode}):\n{done.stdout}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# -- measuring and printing --------------------------------------------------------------------

MIN_DELAY_S = 0.05
DELAY_SPAN_S = 0.45
DBOS_DEFAULT_POLL_S = 1.0
"""DBOS's default ``notification_listener_polling_interval_sec``: how often SQLite waits poll."""


def answer_delay(poll_s: float) -> float:
    """A random pause before an answer that lands it at a uniformly random phase of a
    ``poll_s`` polling cycle: uniform over MIN_DELAY_S..MIN_DELAY_S + DELAY_SPAN_S, widened to a
    whole cycle when the cycle is longer. A waiter woken by a poll tick is answered a fixed span
    after that tick otherwise, so a pause shorter than the cycle lands every answer in the same
    part of it (with a 1 s poll, 0.05..0.5 s after a tick: 0.5..0.95 s of latency, not 0..1 s)."""
    return MIN_DELAY_S + random.random() * max(DELAY_SPAN_S, poll_s)


def idle_cpu_pct(seconds: float) -> float:
    """CPU used by this process (all threads, user + system) over ``seconds``, in % of one core."""
    before, wall = os.times(), time.monotonic()
    time.sleep(seconds)
    after = os.times()
    cpu = (after.user - before.user) + (after.system - before.system)
    return round(100 * cpu / (time.monotonic() - wall), 2)


def timed(fn: Callable[[], T], repeats: int) -> tuple[list[float], T]:
    """Call ``fn`` ``repeats`` times; the durations in ms and the last result."""
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        durations.append(1000 * (time.perf_counter() - started))
    return durations, result


def table_row(cells: Iterable[str], widths: Iterable[int]) -> str:
    """One line of a table: the first cell left-aligned, the others right-aligned."""
    return " ".join(
        f"{cell:<{width}}" if i == 0 else f"{cell:>{width}}"
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
    )
