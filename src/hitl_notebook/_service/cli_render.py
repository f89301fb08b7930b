"""How the ``hitl`` command shows things: tables for people, CSV and JSON for scripts.

Tables fit the terminal (see ``_cli_table``) and speak people's words (run states as "waiting",
"parked", never DBOS's). JSON is plain: datetimes as ISO 8601 UTC strings ending in Z (as
pydantic writes decisions), durations in seconds, missing values as null, JSON fields (options,
proposal, assignees, values) as JSON. CSV has the frame's columns: datetimes in ISO 8601 UTC,
durations in seconds, JSON fields as JSON text (``json.loads`` reads each cell back), missing
values empty.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table
from rich.text import Text

from hitl_notebook._core.models import Decision, Request, run_state_word
from hitl_notebook._frames import JSON_COLUMNS, valid_text
from hitl_notebook._service.cli_table import Column, fitted_table
from hitl_notebook._store.inbox import Inbox
from hitl_notebook._store.store import BulkResult

__all__ = [
    "AGENTS_TABLE",
    "DECISIONS_TABLE",
    "HISTORY_TABLE",
    "RUN_HISTORY_TABLE",
    "bulk_json",
    "bulk_lines",
    "describe",
    "frame_csv",
    "frame_json",
    "frame_table",
    "inbox_table",
    "requests_table",
    "span",
    "when",
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
_INBOX_TABLE = [
    Column("request", "id", keep=100),
    Column("agent", "short", keep=70),
    Column("kind", "short", keep=80),
    Column("title", "text", keep=90),
    Column("state", "short", keep=75),
    Column("status", "text", keep=55),
    Column("asked", "short", keep=50, right=True),
    Column("time left", "short", keep=85, right=True),
    Column("requested", "time", keep=30),
    Column("deadline", "time", keep=40),
]


def describe(decision: Decision) -> str:
    """One line for a decision: outcome, value, who and when."""
    who = decision.who
    value = "" if decision.value is None else f" {json.dumps(decision.value, default=str)}"
    return f"{decision.outcome.value}{value} by {who} at {when(decision.at)}"


def span(value: timedelta) -> str:
    """A duration for people: ``45s``, ``12m05s``, ``3h20m``, ``2d04h``; ``overdue`` when negative."""
    seconds = int(value.total_seconds())
    sign, seconds = ("overdue ", -seconds) if seconds < 0 else ("", seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d{hours:02d}h"
    if hours:
        return f"{sign}{hours}h{minutes:02d}m"
    return f"{sign}{minutes}m{secs:02d}s" if minutes else f"{sign}{secs}s"


def when(at: datetime) -> str:
    """An instant for people, in UTC to the second."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


# -- the inbox ---------------------------------------------------------------------------------


def inbox_table(inbox: Inbox, width: int) -> tuple[Table, list[str]]:
    """The waiting requests as a table at most ``width`` wide (overdue ones in red), and the
    columns left out at that width."""
    rows, styles = [], []
    for item in inbox:
        left = "" if item.time_left is None else span(item.time_left)
        state = run_state_word(item.run_state, waiting=True)
        own = "" if item.agent_status in {None, state} else item.agent_status  # the agent's words
        rows.append(
            [
                Text(item.request_id),
                Text(item.agent),
                Text(item.kind),
                Text(item.title),
                Text(state),
                Text(own or ""),
                Text(f"{span(inbox.as_of - item.requested_at)} ago"),
                Text(left, style="bold" if item.overdue else ""),
                Text(when(item.requested_at)),
                Text("" if item.deadline is None else when(item.deadline)),
            ]
        )
        styles.append("red" if item.overdue else None)
    return fitted_table(_INBOX_TABLE, rows, width, styles)


def requests_table(requests: Sequence[Request], width: int) -> tuple[Table, list[str]]:
    """A run's requests, one a row: id, kind, title and what became of it."""
    columns = [
        Column("request", "id", keep=100),
        Column("kind", "short", keep=60),
        Column("title", "text", keep=80),
        Column("state", "text", keep=90),
    ]
    rows = [
        [Text(r.request_id), Text(r.kind.value), Text(r.title), Text(_request_state(r))]
        for r in requests
    ]
    return fitted_table(columns, rows, width)


def _request_state(request: Request) -> str:
    decision = request.decision
    if decision is None:
        return request.state.value
    return f"{decision.outcome.value} by {decision.by or 'the deadline'}"


# -- bulk answers ------------------------------------------------------------------------------


def bulk_lines(
    targets: Sequence[str], result: BulkResult, words: Callable[[str], str] = str
) -> list[str]:
    """One line per target, in the order given: its decision or why it was refused
    (``words`` turns an error message into the reader's words)."""
    lines = []
    for target in dict.fromkeys(targets):
        if target in result.decided:
            lines.append(f"{target}: {describe(result.decided[target])}")
        else:
            error = result.failed[target]
            lines.append(f"{target}: error: {type(error).__name__}: {words(str(error))}")
    return lines


def bulk_json(result: BulkResult) -> str:
    """``{"decided": {target: decision}, "failed": {target: {"error", "message"}}}``."""
    return json.dumps(
        {
            "decided": {t: d.model_dump(mode="json") for t, d in result.decided.items()},
            "failed": {
                t: {"error": type(e).__name__, "message": str(e)} for t, e in result.failed.items()
            },
        },
        indent=2,
    )


# -- frames ------------------------------------------------------------------------------------


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
