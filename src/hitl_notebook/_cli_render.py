"""How the ``hitl`` command shows things: rich tables for people, CSV and JSON for scripts.

JSON is plain: datetimes as ISO 8601 UTC strings ending in Z (as pydantic writes decisions),
durations as seconds, missing values as null, JSON fields (options, proposal, assignees, values)
as JSON. CSV is the DataFrame as pandas writes it, except that object columns (values, proposals,
options) are written as JSON text, so ``json.loads`` reads each cell back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table
from rich.text import Text

from hitl_notebook._frames import HISTORY_COLUMNS
from hitl_notebook._inbox import Inbox, InboxItem
from hitl_notebook._models import Decision
from hitl_notebook._store import BulkResult

__all__ = [
    "AGENTS_TABLE",
    "DECISIONS_TABLE",
    "HISTORY_TABLE",
    "bulk_json",
    "bulk_lines",
    "describe",
    "frame_csv",
    "frame_json",
    "frame_table",
    "inbox_json",
    "inbox_table",
    "span",
    "when",
]

# The columns the tables show (CSV and JSON have all of them).
HISTORY_TABLE = list(HISTORY_COLUMNS)
AGENTS_TABLE = ["run_id", "agent", "status", "detail", "progress", "started", "updated"]
AGENTS_TABLE += ["open_requests", "run_state"]
DECISIONS_TABLE = ["request_id", "agent", "title", "outcome", "value", "by", "channel"]
DECISIONS_TABLE += ["answered_at", "wait"]


def describe(decision: Decision) -> str:
    """One line for a decision: outcome, value, who and when."""
    who = decision.by or "the deadline"
    value = "" if decision.value is None else f" {json.dumps(decision.value, default=str)}"
    return (
        f"{decision.outcome.value}{value} by {who} at {decision.at.isoformat(timespec='seconds')}"
    )


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


# -- the inbox ---------------------------------------------------------------------------------


def inbox_table(inbox: Inbox) -> Table:
    """The waiting requests as a table; overdue ones stand out."""
    table = Table()
    table.add_column("request", no_wrap=True)
    table.add_column("agent")
    table.add_column("kind")
    table.add_column("title")
    table.add_column("requested", no_wrap=True)
    table.add_column("deadline", no_wrap=True)
    table.add_column("time left", no_wrap=True, justify="right")
    table.add_column("status")
    for item in inbox:
        late = item.overdue
        left = "" if item.time_left is None else span(item.time_left)
        cells = [
            item.request_id,
            item.agent,
            item.kind,
            item.title,
            when(item.requested_at),
            "" if item.deadline is None else when(item.deadline),
        ]
        table.add_row(
            *map(Text, cells),
            Text(left, style="bold red" if late else ""),
            Text(_status(item)),
            style="red" if late else None,
        )
    return table


def _status(item: InboxItem) -> str:
    """The agent's status, with DBOS's state unless PENDING (ENQUEUED: recovering, DELAYED)."""
    status = item.agent_status or ""
    return status if item.run_state == "PENDING" else f"{status} ({item.run_state})"


def inbox_json(inbox: Inbox) -> str:
    """The waiting requests as a JSON array of objects with the InboxItem fields."""
    return json.dumps([_item_record(item) for item in inbox], indent=2)


def _item_record(item: InboxItem) -> dict[str, Any]:
    return {name: _jsonable(value) for name, value in item.to_dict().items()}


# -- bulk answers ------------------------------------------------------------------------------


def bulk_lines(targets: Sequence[str], result: BulkResult) -> list[str]:
    """One line per target, in the order given: its decision or why it was refused."""
    lines = []
    for target in dict.fromkeys(targets):
        if target in result.decided:
            lines.append(f"{target}: {describe(result.decided[target])}")
        else:
            error = result.failed[target]
            lines.append(f"{target}: error: {type(error).__name__}: {error}")
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


def frame_table(frame: pd.DataFrame, columns: Sequence[str]) -> Table:
    """Some columns of a frame as a table (all of them are in the CSV and JSON forms)."""
    table = Table()
    for name in columns:
        numeric = pd.api.types.is_numeric_dtype(frame[name]) and frame[name].dtype != bool
        table.add_column(
            name,
            no_wrap=name.endswith("_id") or name in {"at", "started", "updated", "answered_at"},
            justify="right" if numeric else "left",
        )
    for row in frame[list(columns)].itertuples(index=False):
        table.add_row(*(Text(_cell(n, value)) for n, value in zip(columns, row, strict=True)))
    return table


def frame_csv(frame: pd.DataFrame) -> str:
    """The frame as CSV, with object columns (values, proposals) written as JSON."""
    out = frame.copy()
    for name in out.columns:
        if out[name].dtype == object:
            out[name] = out[name].map(lambda v: None if v is None else json.dumps(_jsonable(v)))
    text: str = out.to_csv(index=False)
    return text


def frame_json(frame: pd.DataFrame) -> str:
    """The frame as a JSON array of objects, one per row."""
    records = [
        {name: _jsonable(value) for name, value in zip(frame.columns, row, strict=True)}
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
    if isinstance(plain, dict | list):
        return json.dumps(plain)
    return str(plain)


def when(at: datetime) -> str:
    """An instant for people, in UTC to the second."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _jsonable(value: Any) -> Any:
    """A cell or field as plain JSON: None for every kind of missing, ISO datetimes, seconds."""
    if isinstance(value, np.generic):
        value = value.item()
    plain: Any
    if value is None or value is pd.NA or value is pd.NaT:
        plain = None
    elif isinstance(value, datetime):  # pd.Timestamp too; UTC written "Z" as pydantic does
        plain = value.isoformat().replace("+00:00", "Z")
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
