"""How the ``hitl`` command shows things: decisions, the inbox, a run's requests, bulk answers.

Tables fit the terminal (see ``_service.cli_table``) and speak people's words (run states as "waiting",
"parked", never DBOS's). JSON is plain: datetimes as ISO 8601 UTC strings ending in Z (as
pydantic writes decisions). The pandas frames are shown by ``cli_frames``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from hitl_notebook._core.answers import pick_rule
from hitl_notebook._core.models import Decision, Request, RequestKind, Vote, run_state_word
from hitl_notebook._service.cli_table import Column, fitted_table

if TYPE_CHECKING:
    from hitl_notebook._store.inbox import Inbox, InboxItem
    from hitl_notebook._store.store import BulkResult

__all__ = [
    "bulk_json",
    "bulk_lines",
    "describe",
    "inbox_table",
    "requests_table",
    "span",
    "vote_json",
    "when",
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
    total = value.total_seconds()
    sign = "overdue " if total < 0 else ""  # also less than a second past: "overdue 0s"
    seconds = int(abs(total))
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
    columns left out at that width. A tool call's kind is ``tool: <name>``, its title starts
    with "tool call:"."""
    rows, styles = [], []
    for item in inbox:
        left = "" if item.time_left is None else span(item.time_left)
        state = run_state_word(item.run_state, waiting=True)
        own = "" if item.agent_status in {None, state} else item.agent_status  # the agent's words
        tool = item.rules.get("tool")
        rows.append(
            [
                Text(item.request_id),
                Text(item.agent),
                Text(_kind(item.kind, tool, _picks(item))),
                _title(item.title, tool, item.not_notified_warning),
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


def _picks(asked: InboxItem | Request) -> str | None:
    """A multiple choice's count rule (None for any other request)."""
    return None if asked.picks is None else pick_rule(*asked.picks)


_TOOL_NAME_WIDTH = 20
"""The longest tool name the kind column shows whole (a longer one is cut with "…")."""


def _kind(kind: str, tool: dict[str, object] | None, picks: str | None = None) -> str:
    """``approval``, ``choice (pick 1 to 2)`` for a multiple choice (``picks``), ``input (a
    form)``, or ``tool: refund`` for a tool call (``hitl show`` has the rest)."""
    if picks is not None:
        return f"{kind} ({picks})"
    if kind == RequestKind.INPUT:
        return f"{kind} (a form)"
    if not tool:
        return kind
    name = str(tool.get("name", ""))
    if len(name) > _TOOL_NAME_WIDTH:
        name = name[: _TOOL_NAME_WIDTH - 1] + "…"
    return f"tool: {name}"


def _title(title: str, tool: dict[str, object] | None, warning: str | None = None) -> Text:
    """The title; a tool call's starts with "tool call:", and a request that channels gave up
    telling people about has a line "! not notified: webhook" (the title column is the one shown
    at any width, the kind and status columns not)."""
    text = Text.assemble(("tool call: ", "bold"), title) if tool else Text(title)
    if warning:
        text.append(f"\n! {warning}", style="yellow")
    return text


def requests_table(requests: Sequence[Request], width: int) -> tuple[Table, list[str]]:
    """A run's requests, one a row: id, kind, title and what became of it."""
    columns = [
        Column("request", "id", keep=100),
        Column("kind", "short", keep=60),
        Column("title", "text", keep=80),
        Column("state", "text", keep=90),
    ]
    rows = [
        [
            Text(r.request_id),
            Text(
                _kind(
                    r.kind.value,
                    None if r.tool is None else {"name": r.tool.name},
                    _picks(r),
                )
            ),
            Text(r.title),
            Text(_request_state(r)),
        ]
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


def vote_json(vote: Vote) -> str:
    """``{"vote": {...}, "progress": "1 of 2 approvals", "decision": {...} or null}``."""
    return json.dumps(
        {
            "vote": vote.ballot.model_dump(mode="json"),
            "progress": vote.tally.progress,
            "decision": None if vote.decision is None else vote.decision.model_dump(mode="json"),
        },
        indent=2,
    )


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
