"""History as pandas: runs, status transitions, decisions and the inbox as tidy DataFrames.

Every frame has its documented columns with proper dtypes (tz-aware UTC datetimes, categoricals,
nullable integers, floats and booleans), also when it is empty. Each reads through the store, so
any process that reaches the database can analyse it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from hitl_notebook._analysis import Rows
from hitl_notebook._inbox import Inbox, InboxItem
from hitl_notebook._models import FINAL_STATUSES
from hitl_notebook._store import Store, store

__all__ = [
    "AGENT_COLUMNS",
    "DECISION_COLUMNS",
    "HISTORY_COLUMNS",
    "INBOX_COLUMNS",
    "agents",
    "decisions",
    "history",
    "inbox_frame",
]

_TIME = "datetime64[ms, UTC]"

AGENT_COLUMNS: dict[str, str] = {
    "run_id": "string",
    "agent": "category",
    "status": "category",
    "detail": "string",
    "progress": "Float64",
    "started": _TIME,
    "updated": _TIME,
    "finished": _TIME,
    "waiting_since": _TIME,
    "open_requests": "Int64",
    "outcome": "category",
    "run_state": "category",
}
"""``agents()``: one row per run. ``outcome`` is how the run ended (finished, failed,
cancelled; <NA> while it runs); ``run_state`` is DBOS's state (PENDING, SUCCESS, ...)."""

HISTORY_COLUMNS: dict[str, str] = {
    "run_id": "string",
    "agent": "category",
    "seq": "Int64",
    "status": "category",
    "detail": "string",
    "progress": "Float64",
    "at": _TIME,
}
"""``history()``: one row per status transition, in order within each run (``seq`` from 1)."""

DECISION_COLUMNS: dict[str, str] = {
    "request_id": "string",
    "run_id": "string",
    "agent": "category",
    "kind": "category",
    "title": "string",
    "outcome": "category",
    "approved": "boolean",
    "value": "object",
    "proposal": "object",
    "by": "string",
    "channel": "category",
    "comment": "string",
    "requested_at": _TIME,
    "answered_at": _TIME,
    "deadline": _TIME,
    "wait": "timedelta64[ms]",
    "timed_out": "bool",
    "late_answers": "Int64",
}
"""``decisions()``: one row per decided request. ``by`` is <NA> and ``timed_out`` True when the
deadline decided; ``wait`` is answered_at - requested_at; ``late_answers`` counts answers refused
after the deadline; ``value`` is what went ahead and ``proposal`` what the agent proposed."""

INBOX_COLUMNS: dict[str, str] = {
    "request_id": "string",
    "run_id": "string",
    "agent": "category",
    "kind": "category",
    "title": "string",
    "body": "string",
    "options": "object",
    "proposal": "object",
    "assignees": "object",
    "requested_at": _TIME,
    "deadline": _TIME,
    "time_left": "timedelta64[ms]",
    "overdue": "bool",
    "agent_status": "category",
    "status_detail": "string",
    "run_state": "category",
}
"""``inbox_frame()``: one row per waiting request."""


def agents(*, agent: str | None = None, via: Store | None = None) -> pd.DataFrame:
    """One row per run, with its current status (see AGENT_COLUMNS)."""
    rows = (via or store()).run_rows(agent=agent)
    raw = _frame(rows)
    frame = pd.DataFrame(
        {
            "run_id": raw["run_id"],
            "agent": raw["agent"],
            "status": raw["status"],
            "detail": raw["detail"],
            "progress": raw["progress"],
            "started": _times(raw["started_at_ms"]),
            "updated": _times(raw["updated_at_ms"]),
            "finished": _times(raw["finished_at_ms"]),
            "waiting_since": _times(raw["waiting_since_ms"]),
            "open_requests": raw["open_requests"].fillna(0),
            "outcome": raw["status"].where(raw["status"].isin([str(s) for s in FINAL_STATUSES])),
            "run_state": raw["run_state"],
        }
    )
    return _typed(frame, AGENT_COLUMNS)


def history(run_id: str | None = None, *, via: Store | None = None) -> pd.DataFrame:
    """Every status transition, of one run or of all (see HISTORY_COLUMNS)."""
    raw = _frame((via or store()).history_rows(run_id))
    frame = pd.DataFrame(
        {
            "run_id": raw["run_id"],
            "agent": raw["agent"],
            "seq": raw.groupby("run_id", sort=False).cumcount() + 1 if len(raw) else raw["run_id"],
            "status": raw["status"],
            "detail": raw["detail"],
            "progress": raw["progress"],
            "at": _times(raw["at_ms"]),
        }
    )
    return _typed(frame, HISTORY_COLUMNS)


def decisions(run_id: str | None = None, *, via: Store | None = None) -> pd.DataFrame:
    """Every human (or deadline) decision (see DECISION_COLUMNS)."""
    raw = _frame((via or store()).decision_rows(run_id))
    requested, answered = _times(raw["requested_at_ms"]), _times(raw["decided_at_ms"])
    frame = pd.DataFrame(
        {
            "request_id": raw["request_id"],
            "run_id": raw["run_id"],
            "agent": raw["agent"],
            "kind": raw["kind"],
            "title": raw["title"],
            "outcome": raw["outcome"],
            "approved": raw["approved"],
            "value": raw["value"],
            "proposal": raw["proposal"],
            "by": raw["decided_by"],
            "channel": raw["channel"],
            "comment": raw["comment"],
            "requested_at": requested,
            "answered_at": answered,
            "deadline": _times(raw["deadline_ms"]),
            "wait": answered - requested,
            "timed_out": raw["outcome"] == "timed_out",
            "late_answers": raw["late_answers"].fillna(0),
        }
    )
    return _typed(frame, DECISION_COLUMNS)


def inbox_frame(inbox: Inbox) -> pd.DataFrame:
    """An inbox read as a DataFrame (see INBOX_COLUMNS)."""
    raw = pd.DataFrame(list(inbox), columns=list(InboxItem._fields))
    as_of = pd.to_numeric(raw["as_of_ms"])
    frame = raw.assign(
        options=pd.Series([item.options for item in inbox], dtype=object),
        proposal=pd.Series([item.proposal for item in inbox], dtype=object),
        assignees=pd.Series([item.assignees for item in inbox], dtype=object),
        requested_at=_times(raw["requested_at_ms"]),
        deadline=_times(raw["deadline_ms"]),
        time_left=pd.to_timedelta(pd.to_numeric(raw["deadline_ms"]) - as_of, unit="ms"),
        overdue=pd.to_numeric(raw["deadline_ms"]).lt(as_of).fillna(False),
    )
    return _typed(frame, INBOX_COLUMNS)


def _frame(rows: Rows) -> pd.DataFrame:
    return pd.DataFrame.from_records(list(rows.rows), columns=list(rows.columns))


def _times(values: pd.Series[Any]) -> pd.Series[Any]:
    return pd.to_datetime(pd.to_numeric(values, errors="coerce"), unit="ms", utc=True)


def _typed(frame: pd.DataFrame, dtypes: dict[str, str]) -> pd.DataFrame:
    typed = frame.reindex(columns=list(dtypes))
    for name, dtype in dtypes.items():
        column = typed[name]
        if dtype == "object":
            typed[name] = column.astype(object).where(column.notna(), None)
        elif dtype == "category":
            typed[name] = column.astype(object).astype("category")
        else:
            typed[name] = column.astype(pd.api.types.pandas_dtype(dtype))
    return typed.reset_index(drop=True)
