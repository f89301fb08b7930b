"""The ``hitl`` command: the inbox, answers (one or many), runs, history and decisions, a demo;
and the service side: ``serve`` (the HTTP API), ``worker`` (runs agents), ``recover``.

The database comes from the same places as ``launch()`` (``--db``, ``$HITL_DATABASE_URL``,
dbos-config.yaml, the embedded default). Every command but ``worker`` reads and answers through
the store and the pandas frames, so it needs no agent code. Tables are for people; ``--json``
and ``--csv`` are for scripts. Errors print their typed message and exit with status 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, NoReturn

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from hitl_notebook import _cli_render as render
from hitl_notebook import _frames as frames
from hitl_notebook._config import resolve_database_url
from hitl_notebook._demo import run_demo
from hitl_notebook._errors import HitlError
from hitl_notebook._inbox import SortKey
from hitl_notebook._models import RequestKind
from hitl_notebook._runtime import DEFAULT_APP_VERSION, DEFAULT_PARK_AFTER
from hitl_notebook._store import Store, connect
from hitl_notebook._time import parse_duration
from hitl_notebook._worker import (
    DEFAULT_CONCURRENCY,
    recover_runs,
    run_worker,
    worker_holdings,
)

app = typer.Typer(
    name="hitl",
    help="Durable human-in-the-loop agents: answer requests, inspect runs, serve, run workers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_out = Console()
_err = Console(stderr=True)
_PIPE_WIDTH = 1000
"""Tables written to a pipe or a file are not wrapped at 80 columns (ids stay whole for grep)."""

Db = Annotated[
    str | None,
    typer.Option("--db", help="Database URL or SQLite path (default: as hitl.launch() finds it)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (one array of objects).")]
AsCsv = Annotated[bool, typer.Option("--csv", help="Print CSV with every column.")]
RunId = Annotated[str | None, typer.Argument(help="One run (default: every run).")]


@app.command()
def inbox(
    agent: Annotated[
        list[str] | None, typer.Option("--agent", help="Only this agent (repeatable).")
    ] = None,
    kind: Annotated[
        list[RequestKind] | None, typer.Option("--kind", help="Only this kind (repeatable).")
    ] = None,
    assignee: Annotated[
        str | None, typer.Option("--assignee", help="Only requests naming this person.")
    ] = None,
    overdue: Annotated[
        bool | None,
        typer.Option("--overdue/--not-overdue", help="Only past (or not past) their deadline."),
    ] = None,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Asked at least this long ago: 30m, 1h, 2d.")
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", help="Words that must all be in the title.")
    ] = None,
    sort: Annotated[SortKey, typer.Option("--sort", help="Sort key.")] = "requested_at",
    desc: Annotated[bool, typer.Option("--desc", help="Sort in descending order.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=0, help="At most this many.")] = None,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip this many first.")] = 0,
    as_json: AsJson = False,
    db: Db = None,
) -> None:
    """List the requests waiting for a human, across every process on the database."""
    age = None
    if older_than is not None:
        try:
            age = parse_duration(older_than)
        except ValueError as error:
            _fail(f"--older-than: {error}")
    try:
        waiting = connect(db).inbox(
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
    except HitlError as error:
        _fail(f"{type(error).__name__}: {error}")
    if as_json:
        print(render.inbox_json(waiting))
    elif not waiting:
        print(f"No request is waiting (as of {render.when(waiting.as_of)}).")
    else:
        print(f"{len(waiting)} waiting (as of {render.when(waiting.as_of)})")
        _show(render.inbox_table(waiting))


@app.command()
def respond(
    targets: Annotated[
        list[str],
        typer.Argument(
            metavar="ID",
            help="Request ids, or ids of runs waiting for one request. Several: the same answer "
            "for each, each on its own.",
        ),
    ],
    approve: Annotated[bool, typer.Option("--approve", help="Approve.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Reject.")] = False,
    choose: Annotated[str | None, typer.Option("--choose", help="Pick this option.")] = None,
    answer: Annotated[str | None, typer.Option("--answer", help="Free-text answer.")] = None,
    edit_json: Annotated[
        str | None, typer.Option("--edit-json", help="Approve with this edited proposal (JSON).")
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who answers (default: $HITL_USER or login).")
    ] = None,
    comment: Annotated[
        str | None, typer.Option("--comment", help="A comment for the record.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision(s) as JSON.")] = False,
    db: Db = None,
) -> None:
    """Answer waiting requests; with several targets, exit 1 if any was refused."""
    fields = _answer(approve, reject, choose, answer, edit_json)
    try:
        if len(targets) == 1:
            decision = connect(db).respond(
                targets[0], by=by, comment=comment, channel="cli", **fields
            )
        else:
            result = connect(db).respond_many(
                targets, by=by, comment=comment, channel="cli", **fields
            )
    except HitlError as error:
        _fail(f"{type(error).__name__}: {error}")
    if len(targets) == 1:
        print(decision.model_dump_json() if as_json else render.describe(decision))
        return
    if as_json:
        print(render.bulk_json(result))
    else:
        for line in render.bulk_lines(targets, result):
            print(line)
    if not result.ok:
        total = len(result.failed) + len(result.decided)
        _fail(f"{len(result.failed)} of {total} answers were refused.")


@app.command()
def history(
    run_id: RunId = None, as_csv: AsCsv = False, as_json: AsJson = False, db: Db = None
) -> None:
    """Every status transition, of one run or of all (hitl.history() in Python)."""
    frame = _read(lambda store: frames.history(run_id, via=store), db, run_id, as_csv, as_json)
    _print_frame(frame, "status transitions", render.HISTORY_TABLE, as_csv, as_json)


@app.command()
def agents(
    agent: Annotated[str | None, typer.Option("--agent", help="Only runs of this agent.")] = None,
    as_csv: AsCsv = False,
    as_json: AsJson = False,
    db: Db = None,
) -> None:
    """One row per run with its current status (hitl.agents() in Python)."""
    frame = _read(lambda store: frames.agents(agent=agent, via=store), db, None, as_csv, as_json)
    _print_frame(frame, "runs", render.AGENTS_TABLE, as_csv, as_json)


@app.command()
def decisions(
    run_id: RunId = None, as_csv: AsCsv = False, as_json: AsJson = False, db: Db = None
) -> None:
    """Every decision, by a human or a deadline, of one run or of all (hitl.decisions() in Python)."""
    frame = _read(lambda store: frames.decisions(run_id, via=store), db, run_id, as_csv, as_json)
    _print_frame(frame, "decisions", render.DECISIONS_TABLE, as_csv, as_json)


@app.command()
def status(
    run_id: Annotated[str, typer.Argument(help="The run id.")],
    db: Db = None,
) -> None:
    """Show a run's status history and its requests."""
    try:
        store = connect(db)
        state = store.run_state(run_id)
        events = store.history(run_id)
        requests = store.requests(run_id)
    except HitlError as error:
        _fail(f"{type(error).__name__}: {error}")
    table = Table(title=Text(f"run {run_id} ({state})"))
    for column in ("at", "status", "detail", "progress"):
        table.add_column(column)
    for event in events:
        progress = "" if event.progress is None else f"{event.progress:.0%}"
        cells = [event.at.isoformat(timespec="seconds"), event.status, event.detail or "", progress]
        table.add_row(*map(Text, cells))
    _show(table)
    for request in requests:
        decided = render.describe(request.decision) if request.decision else "open"
        print(f"  {request.request_id}  [{request.kind.value}] {request.title}: {decided}")


@app.command()
def worker(
    module: Annotated[
        str, typer.Argument(help="The module defining the agents: a dotted name or a .py file.")
    ],
    concurrency: Annotated[
        int,
        typer.Option(min=1, help="Runs at once in this worker (hot waiting runs count)."),
    ] = DEFAULT_CONCURRENCY,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Identity label (default: the module); a restart reuses it."),
    ] = None,
    app_version: Annotated[
        str, typer.Option("--app-version", help="Pinned application version.")
    ] = DEFAULT_APP_VERSION,
    park_after: Annotated[
        str,
        typer.Option("--park-after", help="How long a waiting run stays hot (30s, 5m; 'never')."),
    ] = DEFAULT_PARK_AFTER,
    db: Db = None,
) -> None:
    """Run agents headless: take queued runs (Agent.enqueue, POST /agents) until stopped."""
    try:
        run_worker(
            module,
            database=db,
            name=name,
            concurrency=concurrency,
            app_version=app_version,
            park_after=None if park_after == "never" else park_after,
        )
    except (HitlError, ValueError) as error:
        _fail(f"{type(error).__name__}: {error}")


@app.command()
def recover(
    executor: Annotated[
        str | None,
        typer.Option(
            "--from", help="The executor id of the dead worker (without: list the workers)."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Even if its claim looks alive (the process is gone).")
    ] = False,
    db: Db = None,
) -> None:
    """Hand a dead worker's pending runs to the live workers (DBOS recovery)."""
    try:
        store = connect(db)
        if executor is None:
            holdings = worker_holdings(store)
        else:
            recovered = recover_runs(store, executor, force=force)
    except HitlError as error:
        _fail(f"{type(error).__name__}: {error}")
    if executor is not None:
        print(f"{len(recovered)} runs of {executor} returned to the queue for the live workers.")
        return
    if not holdings:
        print("No worker holds a pending run.")
    for worker_id, (count, alive) in holdings.items():
        state = "alive" if alive else "gone: hitl recover --from " + worker_id
        print(f"{worker_id}  {count} pending runs  ({state})")


@app.command()
def serve(
    tokens: Annotated[
        str | None,
        typer.Option("--tokens", help="File of identity:token lines (default: $HITL_API_TOKENS)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    agent: Annotated[
        list[str] | None,
        typer.Option("--agent", help="Only these agents may be started (repeatable)."),
    ] = None,
    anonymous_reads: Annotated[
        bool, typer.Option("--anonymous-reads", help="Let reads through without a token.")
    ] = False,
    db: Db = None,
) -> None:
    """Serve the HTTP API (needs hitl-notebook[service]); runs are queued for the workers."""
    try:
        import uvicorn  # noqa: PLC0415 - an optional extra, needed only here

        from hitl_notebook.http import TokenAuth, create_app  # noqa: PLC0415 - same
    except ImportError as error:
        _fail(f"{error}: install the service extra, pip install 'hitl-notebook[service]'.")
    try:
        auth = TokenAuth.from_file(tokens) if tokens else TokenAuth.from_env()
        api = create_app(connect(db), auth, agents=agent, anonymous_reads=anonymous_reads)
    except HitlError as error:
        _fail(f"{type(error).__name__}: {error}")
    uvicorn.run(api, host=host, port=port)


@app.command("db")
def database(db: Db = None) -> None:
    """Print the database URL hitl uses here (e.g. for `dbos workflow list -s ...`)."""
    print(resolve_database_url(db))


@app.command()
def demo(
    agents: Annotated[int, typer.Option(help="How many demo agents to start.")] = 3,
    db: Db = None,
) -> None:
    """Start demo agents, answer them from here, and show what they decided."""
    try:
        run_demo(agents, db, _out)
    except HitlError as error:
        _fail(f"{type(error).__name__}: {error}")


def _answer(
    approve: bool, reject: bool, choose: str | None, answer: str | None, edit_json: str | None
) -> dict[str, Any]:
    """The answer fields of exactly one of --approve, --reject, --choose, --answer, --edit-json."""
    chosen = [approve, reject, choose is not None, answer is not None, edit_json is not None]
    if sum(chosen) != 1:
        _fail("Give exactly one of --approve, --reject, --choose, --answer, --edit-json.")
    if approve or reject:
        return {"approve": approve}
    if choose is not None:
        return {"choice": choose}
    if answer is not None:
        return {"text": answer}
    try:
        return {"approve": True, "value": json.loads(edit_json or "")}
    except json.JSONDecodeError as error:
        _fail(f"--edit-json is not valid JSON: {error}")


def _read(
    read: Callable[[Store], pd.DataFrame],
    db: str | None,
    run_id: str | None,
    as_csv: bool,
    as_json: bool,
) -> pd.DataFrame:
    """Read a frame; a run id that names no run is a NotFoundError, not an empty frame."""
    if as_csv and as_json:
        _fail("Give at most one of --csv, --json.")
    try:
        store = connect(db)
        frame = read(store)
        if run_id is not None and frame.empty:
            store.run_state(run_id)  # raises NotFoundError for an unknown run
    except HitlError as error:
        _fail(f"{type(error).__name__}: {error}")
    return frame


def _print_frame(
    frame: pd.DataFrame, what: str, shown: list[str], as_csv: bool, as_json: bool
) -> None:
    """All columns as CSV or JSON, or the ``shown`` columns as a table."""
    if as_csv:
        sys.stdout.write(render.frame_csv(frame))
    elif as_json:
        print(render.frame_json(frame))
    elif frame.empty:
        print(f"No {what}.")
    else:
        print(f"{len(frame)} {what}")
        _show(render.frame_table(frame, shown))


def _show(table: Table) -> None:
    console = _out if _out.is_terminal else Console(width=_PIPE_WIDTH)
    console.print(table)


def _fail(message: str) -> NoReturn:
    _err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)


def main() -> None:
    """Entry point of the ``hitl`` command."""
    app(prog_name="hitl")


if __name__ == "__main__":
    main()
