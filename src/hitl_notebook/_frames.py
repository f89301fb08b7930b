"""History as pandas: runs, status transitions, decisions and the inbox as tidy DataFrames.

Every frame has its documented columns with proper dtypes (tz-aware UTC datetimes, durations,
nullable strings, integers, floats and booleans), also when it is empty, and survives
``to_parquet``/``read_parquet`` and CSV unchanged, whatever its rows:

- JSON values (a decision's ``value``, a ``proposal``, ``options``, ``assignees``) are JSON text:
  ``json.loads(cell)`` gives the value back, so rows of different kinds or proposal models never
  share one column of Python objects (which parquet cannot write, or writes with each other's keys).
- Words from a fixed list (``kind``, ``outcome``, ``run_state``) are ``string`` columns, like the
  open-ended ones (agent names, the statuses agents publish, channels): a ``category`` column of an
  empty frame comes back from parquet without its categories. The lists are in the column docs;
  ``df["kind"].astype("category")`` makes a categorical where that helps.
- Whatever text is stored builds a frame: a lone surrogate inside a JSON value (which JSON can
  carry, and an old version or another tool may have stored) stays as its ``\\uXXXX`` escape, so
  nothing is lost; bytes that are not UTF-8 in a SQLite text column read as U+FFFD (see
  ``_db.database``); Postgres holds only valid text.

Each reads through the store, so any process that reaches the database can analyse it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from hitl_notebook._core.models import FINAL_STATUSES, Outcome, run_state_word
from hitl_notebook._store.analysis import Rows
from hitl_notebook._store.default import store
from hitl_notebook._store.inbox import Inbox, InboxItem
from hitl_notebook._store.store import Store

__all__ = [
    "AGENT_COLUMNS",
    "DECISION_COLUMNS",
    "HISTORY_COLUMNS",
    "INBOX_COLUMNS",
    "JSON_COLUMNS",
    "agents",
    "decisions",
    "history",
    "inbox_frame",
    "json_text",
    "valid_text",
]

_TIME = "datetime64[ms, UTC]"
_SPAN = "timedelta64[ms]"
_JSON = "string"
_RUN_OUTCOMES = [str(status) for status in FINAL_STATUSES]

JSON_COLUMNS = frozenset({"value", "proposal", "options", "assignees"})
"""The columns that hold JSON text (``json.loads`` reads a cell; <NA> when there is none)."""

AGENT_COLUMNS: dict[str, str] = {
    "run_id": "string",
    "agent": "string",
    "status": "string",
    "detail": "string",
    "progress": "Float64",
    "started": _TIME,
    "updated": _TIME,
    "finished": _TIME,
    "waiting_since": _TIME,
    "open_requests": "Int64",
    "outcome": "string",
    "run_state": "string",
    "forked_from": "string",
    "forked_at": "string",
}
"""``agents()``: one row per run. ``status`` is the run's latest status (the SDK's words or the
agent's own); ``outcome`` is how the run ended (finished, failed, cancelled; <NA> while it runs);
``run_state`` is what the engine is doing with it, in people's words: waiting (for a human),
running, parked (waiting at no cost until an answer or its deadline), resuming, done, failed,
cancelled, gave up (after too many restarts); for a what-if fork (``RunHandle.fork``),
``forked_from`` is the run it was forked from and ``forked_at`` the request it answers otherwise
(<NA> for other runs)."""

HISTORY_COLUMNS: dict[str, str] = {
    "run_id": "string",
    "agent": "string",
    "seq": "Int64",
    "status": "string",
    "detail": "string",
    "progress": "Float64",
    "at": _TIME,
}
"""``history()``: one row per status transition, in time order; ``seq`` numbers each run's
transitions from 1."""

DECISION_COLUMNS: dict[str, str] = {
    "request_id": "string",
    "run_id": "string",
    "agent": "string",
    "kind": "string",
    "title": "string",
    "outcome": "string",
    "approved": "boolean",
    "value": _JSON,
    "proposal": _JSON,
    "by": "string",
    "channel": "string",
    "comment": "string",
    "tool": "string",
    "digest": "string",
    "requested_at": _TIME,
    "answered_at": _TIME,
    "deadline": _TIME,
    "wait": _SPAN,
    "timed_out": "bool",
    "late_answers": "Int64",
    "forked_from": "string",
}
"""``decisions()``: one row per decided request. ``kind`` is approval, choice, text, edit or input;
``outcome`` approved, rejected, edited, answered, chose or timed_out; ``by`` is <NA> and
``timed_out`` True when the deadline decided; ``channel`` is python, cli, widget, http,
timeout...; ``wait`` is answered_at - requested_at; ``late_answers`` counts answers refused
after the deadline; ``value`` (what went ahead: the option, a list of options for a multiple
choice, the text, the possibly edited proposal, an input request's filled form) and
``proposal`` (what the agent proposed) are JSON text, <NA> when there is none.
For a tool call, ``tool`` is the tool's name and ``digest`` the call's digest (``proposal`` the
arguments the call was made with, ``value`` those it ran with, edited or not); ``by`` is "policy"
when a policy decided it, with its reason as ``comment``. In a what-if fork (``RunHandle.fork``),
``forked_from`` is the original's request that a row stands for: decided before the fork point
(copied as it was) or the one answered otherwise (``channel`` "what-if"); <NA> for every other
decision, so ``df[df["forked_from"].isna()]`` keeps the decisions people took."""

INBOX_COLUMNS: dict[str, str] = {
    "request_id": "string",
    "run_id": "string",
    "agent": "string",
    "kind": "string",
    "title": "string",
    "body": "string",
    "options": _JSON,
    "proposal": _JSON,
    "assignees": _JSON,
    "requested_at": _TIME,
    "deadline": _TIME,
    "time_left": _SPAN,
    "overdue": "bool",
    "agent_status": "string",
    "status_detail": "string",
    "run_state": "string",
    "tool": "string",
    "digest": "string",
    "not_notified": "string",
}
"""``inbox_frame()``: one row per waiting request. ``kind`` as in ``decisions()``; ``options``,
``proposal`` and ``assignees`` (``[]``: anyone may answer) are JSON text; ``time_left`` is
negative when ``overdue``; ``run_state`` is waiting (a process waits for the answer), parked or
resuming. For a tool call, ``tool`` is the tool's name and ``digest`` the call's digest (what an
answer may carry back, ``hitl respond --digest``), ``proposal`` its arguments. ``not_notified``
names the channels that gave up telling people about it (``email, webhook``), <NA> when none did."""


def agents(*, agent: str | None = None, via: Store | None = None) -> pd.DataFrame:
    """One row per run, with its current status (see AGENT_COLUMNS)."""
    raw = _frame((via or store()).run_rows(agent=agent))
    open_requests = raw["open_requests"].fillna(0)
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
            "open_requests": open_requests,
            "outcome": raw["status"].where(raw["status"].isin(_RUN_OUTCOMES)),
            "run_state": [
                run_state_word(state, waiting=count > 0)
                for state, count in zip(raw["run_state"], open_requests, strict=True)
            ],
            "forked_from": raw["forked_from"],
            "forked_at": raw["forked_at"],
        }
    )
    return _typed(frame, AGENT_COLUMNS)


def history(run_id: str | None = None, *, via: Store | None = None) -> pd.DataFrame:
    """Every status transition, of one run or of all, in time order (see HISTORY_COLUMNS)."""
    raw = _frame((via or store()).history_rows(run_id))
    # In time order, ties as recorded: processes' clocks may disagree by a little, so a
    # transition can be written after one that happened later (a stable sort, cheaper than SQL's).
    raw = raw.sort_values("at_ms", kind="stable", ignore_index=True)
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
            "value": _json_column(raw["value"]),
            "proposal": _json_column(raw["proposal"]),
            "by": raw["decided_by"],
            "channel": raw["channel"],
            "comment": raw["comment"],
            "tool": [_tool_field(spec, "name") for spec in raw["spec"]],
            "digest": [_tool_field(spec, "digest") for spec in raw["spec"]],
            "requested_at": requested,
            "answered_at": answered,
            "deadline": _times(raw["deadline_ms"]),
            "wait": answered - requested,
            "timed_out": raw["outcome"] == Outcome.TIMED_OUT.value,
            "late_answers": raw["late_answers"].fillna(0),
            "forked_from": [(spec or {}).get("forked_from") for spec in raw["spec"]],
        }
    )
    return _typed(frame, DECISION_COLUMNS)


def _tool_field(spec: dict[str, Any] | None, name: str) -> str | None:
    tool = (spec or {}).get("tool")
    return tool.get(name) if tool else None


def inbox_frame(inbox: Inbox) -> pd.DataFrame:
    """An inbox read as a DataFrame (see INBOX_COLUMNS)."""
    raw = pd.DataFrame(list(inbox), columns=list(InboxItem._fields), dtype=object)
    specs = [item.rules for item in inbox]
    as_of = pd.to_numeric(raw["as_of_ms"])
    frame = raw.assign(
        options=_json_column(item.options for item in inbox),
        proposal=_json_column(item.proposal for item in inbox),
        assignees=_json_column(item.assignees for item in inbox),
        requested_at=_times(raw["requested_at_ms"]),
        deadline=_times(raw["deadline_ms"]),
        time_left=pd.to_timedelta(pd.to_numeric(raw["deadline_ms"]) - as_of, unit="ms"),
        overdue=pd.to_numeric(raw["deadline_ms"]).lt(as_of).fillna(False),
        run_state=[run_state_word(item.run_state, waiting=True) for item in inbox],
        tool=pd.Series([_tool_field(rules, "name") for rules in specs], dtype=object),
        digest=pd.Series([_tool_field(rules, "digest") for rules in specs], dtype=object),
        not_notified=pd.Series(
            [", ".join(item.not_notified) or None for item in inbox], dtype=object
        ),
    )
    return _typed(frame, INBOX_COLUMNS)


_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(value: Any) -> str | None:
    """A JSON value as JSON text for a frame cell (None stays None): readable (not ASCII-escaped),
    and valid Unicode (a lone surrogate inside a string is written as its escape)."""
    if value is None:
        return None
    text = json.dumps(value, ensure_ascii=False)
    return _SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def valid_text(text: str) -> str:
    """``text`` with U+FFFD in place of what is not valid Unicode (lone surrogates)."""
    return _SURROGATE.sub("\ufffd", text)


def _json_column(values: Iterable[Any]) -> pd.Series[Any]:
    return pd.Series([json_text(value) for value in values], dtype=object)


def _frame(rows: Rows) -> pd.DataFrame:
    """The rows as they are (objects): pandas would make a column of texts Arrow strings, which
    refuse a lone surrogate in a JSON value before ``json_text`` escapes it."""
    return pd.DataFrame(list(rows.rows), columns=list(rows.columns), dtype=object)


def _times(values: pd.Series[Any]) -> pd.Series[Any]:
    return pd.to_datetime(pd.to_numeric(values, errors="coerce"), unit="ms", utc=True)


def _typed(frame: pd.DataFrame, dtypes: Mapping[str, str]) -> pd.DataFrame:
    typed = frame.reindex(columns=list(dtypes))
    for name, dtype in dtypes.items():
        typed[name] = typed[name].astype(pd.api.types.pandas_dtype(dtype))
    return typed.reset_index(drop=True)
