"""How the ``hitl`` command shows the pandas frames (history, runs, decisions, the inbox): tables
for people, CSV and JSON for scripts.

JSON is plain: datetimes as ISO 8601 UTC strings ending in Z (as pydantic writes decisions),
durations in seconds, missing values as null, JSON fields (options, proposal, assignees, values)
as JSON. CSV has the frame's columns: datetimes in ISO 8601 UTC, durations in seconds, JSON fields
as JSON text (``json.loads`` reads each cell back), missing values empty.

pandas takes a third of a second to import: the commands import this module (and ``_frames``)
when they build a frame, not when ``hitl`` starts.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Group
from rich.table import Table
from rich.text import Text

from hitl_notebook._frames import JSON_COLUMNS, valid_text
from hitl_notebook._service import cli_edge
from hitl_notebook._service.cli_render import span, when
from hitl_notebook._service.cli_table import Column, fitted_table, hidden_note

__all__ = [
    "AGENTS_TABLE",
    "DECISIONS_TABLE",
    "HISTORY_TABLE",
    "RUN_HISTORY_TABLE",
    "frame_csv",
    "frame_json",
    "frame_table",
    "print_data",
    "print_frame",
]

FrameTable = list[tuple[str, Column]]
"""The frame columns a table shows, with how (all of them are in the CSV and JSON forms)."""

HISTORY_TABLE: FrameTable = [
    ("run_id", Column("run", "id", keep=100)),
    ("seq", Column("seq", "short", keep=50, right=True)),
    ("agent", Column("agent", "short", keep=40)),
    ("status", Column("status", "text", keep=90)),
    ("detail", Column("detail", "text", keep=80)),
    ("progress", Column("progress", "short", keep=20, right=True)),
    ("at", Column("at", "time", keep=95)),
]
RUN_HISTORY_TABLE: FrameTable = [
    (name, column) for name, column in HISTORY_TABLE if name not in {"run_id", "agent"}
]
"""The history of one run (its id and agent are said above the table)."""
AGENTS_TABLE: FrameTable = [
    ("run_id", Column("run", "id", keep=100)),
    ("agent", Column("agent", "short", keep=85)),
    ("status", Column("status", "text", keep=90)),
    ("detail", Column("detail", "text", keep=70)),
    ("progress", Column("progress", "short", keep=20, right=True)),
    ("open_requests", Column("open", "short", keep=50, right=True)),
    ("run_state", Column("state", "short", keep=95)),
    ("started", Column("started", "time", keep=30)),
    ("updated", Column("updated", "time", keep=60)),
]
DECISIONS_TABLE: FrameTable = [
    ("request_id", Column("request", "id", keep=100)),
    ("agent", Column("agent", "short", keep=50)),
    ("title", Column("title", "text", keep=85)),
    ("outcome", Column("outcome", "short", keep=95)),
    ("value", Column("value", "text", keep=80)),
    ("by", Column("by", "text", keep=90)),
    ("channel", Column("channel", "short", keep=40)),
    ("wait", Column("waited", "short", keep=60, right=True)),
    ("answered_at", Column("answered", "time", keep=70)),
]


def print_data(frame: pd.DataFrame, as_csv: bool) -> None:
    """The whole frame as CSV, or as JSON."""
    if as_csv:
        sys.stdout.write(frame_csv(frame))
    else:
        print(frame_json(frame))


def print_frame(
    frame: pd.DataFrame, what: str, shown: FrameTable, as_csv: bool, as_json: bool
) -> None:
    """All columns as CSV or JSON, or the ``shown`` columns as a table."""
    if as_csv or as_json:
        print_data(frame, as_csv)
    elif frame.empty:
        print(f"No {what}s.")
    else:
        print(cli_edge.plural(len(frame), what))
        table, hidden = frame_table(frame, shown, cli_edge.width())
        cli_edge.show(Group(table, *hidden_note(hidden, "--json or --csv")))


def frame_table(frame: pd.DataFrame, shown: FrameTable, width: int) -> tuple[Table, list[str]]:
    """Some columns of a frame as a table at most ``width`` wide, and the columns left out."""
    names = [name for name, _ in shown]
    rows = [
        [Text(_cell(name, value)) for name, value in zip(names, row, strict=True)]
        for row in frame[names].itertuples(index=False)
    ]
    return fitted_table([column for _, column in shown], rows, width)


def frame_csv(frame: pd.DataFrame) -> str:
    """The frame as CSV: datetimes in ISO 8601 UTC, durations in seconds, JSON fields as JSON."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if pd.api.types.is_timedelta64_dtype(column):
            out[name] = column.dt.total_seconds()
        elif isinstance(column.dtype, pd.DatetimeTZDtype):
            out[name] = column.map(_iso, na_action="ignore").astype("string")
    text: str = out.to_csv(index=False)
    return text


def frame_json(frame: pd.DataFrame) -> str:
    """The frame as a JSON array of objects, one per row (JSON fields as JSON, not text)."""
    records = [
        {
            name: json.loads(value)
            if name in JSON_COLUMNS and isinstance(value, str)
            else _jsonable(value)
            for name, value in zip(frame.columns, row, strict=True)
        }
        for row in frame.itertuples(index=False)
    ]
    return json.dumps(records, indent=2)


def _cell(name: str, value: Any) -> str:
    plain = _jsonable(value)
    if plain is None:
        return ""
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, timedelta):
        return span(value)
    if name == "progress" and isinstance(plain, float):
        return f"{plain:.0%}"
    if name in JSON_COLUMNS and isinstance(plain, str):
        parsed = json.loads(plain)
        return valid_text(parsed) if isinstance(parsed, str) else plain
    return str(plain)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _jsonable(value: Any) -> Any:
    """A cell or field as plain JSON: None for every kind of missing, ISO datetimes, seconds."""
    if isinstance(value, np.generic):
        value = value.item()
    plain: Any
    if value is None or value is pd.NA or value is pd.NaT:
        plain = None
    elif isinstance(value, datetime):  # pd.Timestamp too; UTC written "Z" as pydantic does
        plain = _iso(value)
    elif isinstance(value, timedelta):  # pd.Timedelta too
        plain = value.total_seconds()
    elif isinstance(value, float) and math.isnan(value):
        plain = None
    elif isinstance(value, dict):
        plain = {str(k): _jsonable(v) for k, v in value.items()}
    elif isinstance(value, list | tuple):
        plain = [_jsonable(v) for v in value]
    else:
        plain = value
    return plain
