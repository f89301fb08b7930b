"""The ``hitl`` commands that read: ``inbox``, ``show``, ``status``, ``history``, ``agents``,
``decisions``. They read through the store and the pandas frames, so they need no agent code.

The store (SQLAlchemy) and the frames (pandas) are imported when a command runs, not when ``hitl``
starts: ``hitl --help`` loads neither, and ``hitl inbox`` builds no frame unless asked for
``--csv`` or ``--json``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, NamedTuple

import typer
from rich.console import Group
from rich.text import Text

from hitl_notebook._core.errors import NotFoundError
from hitl_notebook._core.models import Request, RequestKind, run_state_word
from hitl_notebook._core.times import parse_duration
from hitl_notebook._service import cli_render as render
from hitl_notebook._service.cli_edge import AsCsv, AsJson, Db, connect, plural, show, usage, width
from hitl_notebook._service.cli_table import hidden_note
from hitl_notebook._store.inbox import DEFAULT_SORT, SORT_KEYS, InboxFilter, SortKey

if TYPE_CHECKING:
    import pandas as pd

    from hitl_notebook._store.store import Store

__all__ = ["agents", "decisions", "history", "inbox", "show_one", "status"]

RunId = Annotated[
    str | None, typer.Argument(metavar="RUN_ID", help="One run (default: every run).")
]


def inbox(
    agent: Annotated[
        list[str] | None,
        typer.Option("--agent", metavar="NAME", help="Only this agent (repeatable)."),
    ] = None,
    kind: Annotated[
        list[RequestKind] | None,
        typer.Option(
            "--kind",
            metavar="KIND",
            help=f"Only this kind (repeatable): {', '.join(RequestKind)}.",
        ),
    ] = None,
    assignee: Annotated[
        str | None,
        typer.Option("--assignee", metavar="NAME", help="Only requests naming this person."),
    ] = None,
    overdue: Annotated[
        bool | None,
        typer.Option("--overdue/--not-overdue", help="Only past (or not past) their deadline."),
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than", metavar="DURATION", help="Asked at least this long ago: 30m, 1h, 2d."
        ),
    ] = None,
    search: Annotated[
        str | None,
        typer.Option("--search", metavar="WORDS", help="Words that must all be in the title."),
    ] = None,
    sort: Annotated[
        SortKey,
        typer.Option(
            "--sort",
            metavar="KEY",
            help=f"Sort by {', '.join(SORT_KEYS[:-1])} or {SORT_KEYS[-1]}.",
        ),
    ] = DEFAULT_SORT,
    desc: Annotated[bool, typer.Option("--desc", help="Sort in descending order.")] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", metavar="N", min=0, help="At most this many.")
    ] = None,
    offset: Annotated[
        int, typer.Option("--offset", metavar="N", min=0, help="Skip this many first.")
    ] = 0,
    as_csv: AsCsv = False,
    as_json: AsJson = False,
    db: Db = None,
) -> None:
    """List the requests waiting for a human, across every process on the database."""
    _one_format(as_csv, as_json)
    age = None if older_than is None else _duration("--older-than", older_than)
    store = connect(db)
    waiting = store.read_inbox(
        InboxFilter(
            agent=agent or None,
            kind=[k.value for k in kind] if kind else None,
            assignee=assignee,
            overdue=overdue,
            older_than=age,
            search=search,
            sort=sort,
            descending=desc,
            limit=limit,
            offset=offset,
        )
    )
    if as_csv or as_json:
        from hitl_notebook._frames import inbox_frame  # noqa: PLC0415 - pandas: see the docstring
        from hitl_notebook._service.cli_frames import print_data  # noqa: PLC0415 - same

        print_data(inbox_frame(waiting), as_csv)
    elif not waiting:
        print(f"No request is waiting (as of {render.when(waiting.as_of)}).")
    else:
        verb = "is" if len(waiting) == 1 else "are"
        print(
            f"{plural(len(waiting), 'request')} {verb} waiting (as of {render.when(waiting.as_of)})"
        )
        table, hidden = render.inbox_table(waiting, width())
        show(Group(table, *hidden_note(hidden, "hitl inbox --json, hitl show ID")))


def show_one(
    target: Annotated[str, typer.Argument(metavar="ID", help="A request id or a run id.")],
    db: Db = None,
) -> None:
    """Show a request in full (title, body, proposal, options, deadline, who may answer, state,
    decision) and its run's history; for a run id, each of its requests."""
    from hitl_notebook._service.cli_show import request_view, run_view  # noqa: PLC0415 - pandas

    store = connect(db)
    now = datetime.now(UTC)
    try:
        request = store.request(target)
    except NotFoundError:
        run = _run(store, target)
        show(
            run_view(
                target,
                agent=run.agent,
                state=run.state,
                requests=run.requests,
                history=run.history,
                now=now,
                width=width(),
                forked=run.forked,
            )
        )
        return
    run = _run(store, request.run_id)
    show(
        request_view(
            request,
            state=run.state,
            history=run.history,
            now=now,
            width=width(),
            forked=run.forked,
        )
    )


def status(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run id.")],
    db: Db = None,
) -> None:
    """Show a run's state, its status history and its requests (hitl show for all details)."""
    from hitl_notebook._service.cli_frames import RUN_HISTORY_TABLE, frame_table  # noqa: PLC0415
    from hitl_notebook._service.cli_show import run_line  # noqa: PLC0415 - pandas

    run = _run(connect(db), run_id)
    show(run_line(run_id, run.agent, run.state, run.forked))
    if not run.history.empty:
        table, hidden = frame_table(run.history, RUN_HISTORY_TABLE, width())
        show(Group(table, *hidden_note(hidden, f"hitl history {run_id} --json")))
    if run.requests:
        table, hidden = render.requests_table(run.requests, width())
        show(Group(Text(), table, *hidden_note(hidden, f"hitl show {run_id}")))


def history(
    run_id: RunId = None, as_csv: AsCsv = False, as_json: AsJson = False, db: Db = None
) -> None:
    """Every status transition in time order, of one run or of all (hitl.history() in Python)."""
    from hitl_notebook import _frames as frames  # noqa: PLC0415 - pandas: see the docstring
    from hitl_notebook._service import cli_frames as shown  # noqa: PLC0415 - same

    frame = _read(lambda store: frames.history(run_id, via=store), db, as_csv, as_json)
    if run_id is None:
        shown.print_frame(frame, "status transition", shown.HISTORY_TABLE, as_csv, as_json)
    else:
        shown.print_frame(frame, "status transition", shown.RUN_HISTORY_TABLE, as_csv, as_json)


def agents(
    agent: Annotated[
        str | None, typer.Option("--agent", metavar="NAME", help="Only runs of this agent.")
    ] = None,
    as_csv: AsCsv = False,
    as_json: AsJson = False,
    db: Db = None,
) -> None:
    """One row per run with its current status (hitl.agents() in Python)."""
    from hitl_notebook import _frames as frames  # noqa: PLC0415 - pandas: see the docstring
    from hitl_notebook._service import cli_frames as shown  # noqa: PLC0415 - same

    frame = _read(lambda store: frames.agents(agent=agent, via=store), db, as_csv, as_json)
    shown.print_frame(frame, "run", shown.AGENTS_TABLE, as_csv, as_json)


def decisions(
    run_id: RunId = None, as_csv: AsCsv = False, as_json: AsJson = False, db: Db = None
) -> None:
    """Every decision, by a human or a deadline, of one run or of all (hitl.decisions() in Python)."""
    from hitl_notebook import _frames as frames  # noqa: PLC0415 - pandas: see the docstring
    from hitl_notebook._service import cli_frames as shown  # noqa: PLC0415 - same

    frame = _read(lambda store: frames.decisions(run_id, via=store), db, as_csv, as_json)
    shown.print_frame(frame, "decision", shown.DECISIONS_TABLE, as_csv, as_json)


def _duration(option: str, text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as error:
        usage(f"{option}: {error}")


class _Run(NamedTuple):
    """What the views of a run show."""

    agent: str | None
    state: str
    requests: list[Request]
    history: pd.DataFrame
    forked: tuple[str, str] | None
    """For a what-if fork: the run and the request it was forked from and at."""


def _run(store: Store, run_id: str) -> _Run:
    """A run's agent, state (in people's words), requests and history; NotFoundError (saying
    where to look) for an id that names nothing."""
    from hitl_notebook._frames import history as history_frame  # noqa: PLC0415 - pandas

    requests = store.requests(run_id)
    try:
        state = store.run_state(run_id)
    except NotFoundError:
        if requests:
            raise
        raise NotFoundError(
            f"No run or request has the id {run_id!r}; list waiting requests with `hitl inbox`."
        ) from None
    history = history_frame(run_id, via=store)
    agent = requests[0].agent if requests else None
    if agent is None and not history.empty:
        agent = str(history["agent"].iloc[-1])
    return _Run(agent, _state(state, requests), requests, history, store.fork_origin(run_id))


def _state(state: str, requests: list[Request]) -> str:
    return run_state_word(state, waiting=any(r.is_open for r in requests))


def _one_format(as_csv: bool, as_json: bool) -> None:
    if as_csv and as_json:
        usage("Give at most one of --csv, --json.")


def _read(
    read: Callable[[Store], pd.DataFrame], db: str | None, as_csv: bool, as_json: bool
) -> pd.DataFrame:
    _one_format(as_csv, as_json)
    return read(connect(db))
