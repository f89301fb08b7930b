"""What ``hitl show`` and ``hitl status`` print: a request in full (title, body, proposal, options,
deadline and what happens at it, who may answer, state, decision) and a run (its state, its
requests, its history), in people's words. A multiple choice says how many to pick; an input
request lists the fields of its form (what ``hitl respond --input-json`` fills in).

A tool call shows the tool, its digest (what ``hitl respond --digest`` sends back), its arguments
as a table that says which a person may change, and once approved with an edit, what changed
(argument, proposed, approved).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from hitl_notebook._core.answers import changed_fields, pick_rule
from hitl_notebook._core.models import (
    Answer,
    Decision,
    Outcome,
    Request,
    RequestKind,
    RequestState,
    ToolCall,
)
from hitl_notebook._core.quorum import count
from hitl_notebook._frames import json_text, valid_text
from hitl_notebook._service.cli_frames import RUN_HISTORY_TABLE, frame_table
from hitl_notebook._service.cli_render import span, when
from hitl_notebook._service.cli_table import hidden_note

__all__ = ["request_view", "run_line", "run_view"]

_STATE = {
    RequestState.OPEN: "open: waiting for an answer",
    RequestState.DECIDED: "decided",
    RequestState.CANCELLED: "cancelled with its run: it takes no answer",
}


_ENDED = {"done", "failed", "cancelled", "gave up"}
"""Run states (in people's words) in which a run takes no answer any more."""


def run_line(
    run_id: str, agent: str | None, state: str, forked: tuple[str, str] | None = None
) -> Text:
    """``run ID (Agent): waiting``, and for a what-if fork ``; what-if fork of RUN at REQUEST``."""
    name = f" ({agent})" if agent else ""
    line = Text.assemble(("run ", "bold"), (run_id, "bold"), f"{name}: {state}")
    if forked is not None:
        line.append(f"; what-if fork of {forked[0]} at {forked[1]}")
    return line


def run_view(
    run_id: str,
    *,
    agent: str | None,
    state: str,
    requests: Sequence[Request],
    history: pd.DataFrame,
    now: datetime,
    width: int,
    forked: tuple[str, str] | None = None,
) -> RenderableType:
    """A run: its state (and origin, for a what-if fork), each of its requests in full, then
    its history."""
    parts: list[RenderableType] = [run_line(run_id, agent, state, forked)]
    for request in requests:
        parts += [Text(), _request_block(request, state, now)]
    parts += [Text(), *_history(history, width)]
    return Group(*parts)


def request_view(
    request: Request,
    *,
    state: str,
    history: pd.DataFrame,
    now: datetime,
    width: int,
    forked: tuple[str, str] | None = None,
) -> RenderableType:
    """A request in full, then the state and history of its run."""
    return Group(
        _request_block(request, state, now),
        Text(),
        run_line(request.run_id, request.agent, state, forked),
        *_history(history, width),
    )


def _request_block(request: Request, run_state: str, now: datetime) -> RenderableType:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    rows: list[tuple[str, str | RenderableType]] = [
        ("request", request.request_id),
        ("kind", request.kind.value if request.tool is None else "tool call (approval)"),
        ("title", request.title),
    ]
    if request.tool is not None:
        rows += _tool(request.tool, request.proposal or {}, request.body)
    if request.body:
        rows.append(("body", request.body))
    if request.options is not None:
        rows.append(("options", ", ".join(request.options)))
    if request.picks is not None:
        rows.append(("pick", f"{pick_rule(*request.picks)} (--choose OPTION, repeated)"))
    if request.kind is RequestKind.INPUT and request.proposal_schema is not None:
        rows.append(("form", _form(request.proposal_schema)))
    if request.proposal is not None and request.tool is None:
        rows.append(("proposal", _fields(request.proposal)))
    asked = f"{when(request.requested_at)} ({span(now - request.requested_at)} ago)"
    rows.append(("asked", asked + (f" by {request.requester}" if request.requester else "")))
    rows += _deadline(request, now)
    rows.append(("who may answer", _who(request)))
    if request.quorum is not None:
        rows += _votes(request)
    ended = request.is_open and run_state in _ENDED
    rows.append(
        ("state", f"takes no answer: its run is {run_state}" if ended else _STATE[request.state])
    )
    if request.decision is not None:
        rows += _decision(request.decision)
        changes = _changes(request, request.decision)
        if changes is not None:
            rows.append(("changed", changes))
    for name, value in rows:
        grid.add_row(name, Text(valid_text(value)) if isinstance(value, str) else value)
    return grid


def _votes(request: Request) -> list[tuple[str, str]]:
    """A quorum request's rule, how far its votes are, and each vote (who, how, when, where)."""
    assert request.quorum is not None
    tally = count(
        request.quorum,
        request.votes,
        requester=request.requester,
        allow_requester=request.allow_requester,
    )
    lines = [tally.progress] + [
        f"{b.voter} {b.word} at {when(b.at)} ({b.channel})"
        + (f": {b.comment}" if b.comment else "")
        for b in request.votes
    ]
    return [("needs", request.quorum.rule), ("votes", "\n".join(lines))]


def _tool(
    tool: ToolCall, arguments: dict[str, Any], body: str | None
) -> list[tuple[str, str | RenderableType]]:
    """The tool, its docstring (unless the body says it), its digest and its arguments."""
    rows: list[tuple[str, str | RenderableType]] = [
        ("tool", f"{tool.name} (call {tool.call_index} of the run)")
    ]
    if tool.description and tool.description != body:
        rows.append(("description", tool.description))
    rows.append(("digest", tool.digest))
    table = _small_table("argument", "value", "editable")
    for name, value in arguments.items():
        may = tool.editable is None or name in tool.editable
        table.add_row(valid_text(name), Text(valid_text(_plain(value))), "yes" if may else "no")
    rows.append(("arguments", table))
    return rows


def _changes(request: Request, decision: Decision) -> Table | None:
    """What an edit changed, argument by argument (None: not an edit)."""
    proposed, approved = request.proposal, decision.value
    if decision.outcome is not Outcome.EDITED:
        return None
    if not isinstance(proposed, dict) or not isinstance(approved, dict):
        return None
    table = _small_table("argument" if request.tool else "field", "proposed", "approved")
    for name in changed_fields(proposed, approved):
        table.add_row(
            valid_text(name),
            Text(valid_text(_plain(proposed[name])) if name in proposed else "(none)"),
            Text(valid_text(_plain(approved[name])) if name in approved else "(none)"),
        )
    return table


def _form(schema: dict[str, Any]) -> Table:
    """An input request's form: each field, its type, and whether it is required (or its default)."""
    table = _small_table("field", "type", "")
    needed = set(schema.get("required", []))
    for name, field in (schema.get("properties") or {}).items():
        kind = " | ".join(str(v) for v in field["enum"]) if "enum" in field else field.get("type")
        rule = "required" if name in needed else f"default {_plain(field.get('default'))}"
        shown = " ".join([str(kind or "JSON"), *_bounds(field)])
        table.add_row(valid_text(name), valid_text(shown), valid_text(rule))
    return table


_BOUNDS = {
    "minimum": ">=",
    "exclusiveMinimum": ">",
    "maximum": "<=",
    "exclusiveMaximum": "<",
    "minLength": "length >=",
    "maxLength": "length <=",
}


def _bounds(field: dict[str, Any]) -> list[str]:
    """A form field's bounds: ``>=0``, ``<=99``, ``length >=1``."""
    return [f"{word}{field[key]}" for key, word in _BOUNDS.items() if key in field]


def _small_table(*headers: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def _decision(decision: Decision) -> list[tuple[str, str]]:
    """The decision a line a fact (so that the time, alone on its line, never wraps)."""
    who = f"by {decision.who}"
    rows = [
        ("decision", f"{decision.outcome.value} {who} via {decision.channel}"),
        ("decided at", f"{when(decision.at)} (after {span(decision.at - decision.requested_at)})"),
    ]
    if decision.value is not None:
        rows.append(("value", _plain(decision.value)))
    if decision.comment:
        rows.append(("comment", decision.comment))
    return rows


def _fields(proposal: dict[str, Any]) -> str:
    """A proposal one field a line: ``amount: 42.0``."""
    return "\n".join(f"{key}: {_plain(value)}" for key, value in proposal.items())


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json_text(value) or "null"


def _deadline(request: Request, now: datetime) -> list[tuple[str, str]]:
    if request.deadline is None:
        return [("deadline", "none: it waits until someone answers")]
    left = request.deadline - now
    relative = f"overdue by {span(-left)}" if left.total_seconds() < 0 else f"in {span(left)}"
    at_deadline = (
        f"{_default(request.timeout_answer)} (the request's default)"
        if request.on_timeout == "default"
        else "no default: the agent's request raises RequestTimeoutError"
    )
    return [
        ("deadline", f"{when(request.deadline)} ({relative})"),
        ("at the deadline", at_deadline),
    ]


def _default(answer: Answer | None) -> str:
    if answer is None:
        return "the default applies"
    picked = answer.choice if answer.choice is not None else answer.choices
    if picked is not None:
        return f"chooses {json.dumps(picked, ensure_ascii=False)}"
    if answer.approve is None and answer.value is not None:
        return f"fills in {json.dumps(answer.value, ensure_ascii=False)}"
    if answer.text is not None:
        return f"answers {json.dumps(answer.text, ensure_ascii=False)}"
    if answer.approve and answer.value is not None:
        return "approves an edited proposal"
    return "approves" if answer.approve else "rejects"


def _who(request: Request) -> str:
    who = ", ".join(request.assignees) if request.assignees else "anyone"
    if request.allow_requester or not request.requester:
        return who
    return f"{who}, but not {request.requester} (who started the run)"


def _history(history: pd.DataFrame, width: int) -> list[RenderableType]:
    if history.empty:
        return [Text("No status transitions yet.")]
    table, hidden = frame_table(history, RUN_HISTORY_TABLE, width)
    return [
        Text("history", style="bold"),
        table,
        *hidden_note(hidden, "hitl history RUN_ID --json"),
    ]
