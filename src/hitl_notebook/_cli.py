"""The ``hitl`` command: answer requests, look at runs, and a terminal demo.

The database comes from the same places as ``launch()`` (``--db``, ``$HITL_DATABASE_URL``,
dbos-config.yaml, the embedded default). Errors print their typed message and exit with status 1.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from hitl_notebook._config import resolve_database_url
from hitl_notebook._demo import run_demo
from hitl_notebook._errors import HitlError
from hitl_notebook._models import Decision
from hitl_notebook._store import connect

app = typer.Typer(
    name="hitl",
    help="Durable human-in-the-loop agents: answer requests, inspect runs, try the demo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_out = Console()
_err = Console(stderr=True)

Db = Annotated[
    str | None,
    typer.Option("--db", help="Database URL or SQLite path (default: as hitl.launch() finds it)."),
]


@app.command()
def respond(
    target: Annotated[
        str, typer.Argument(help="A request id, or a run id waiting for one request.")
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
    db: Db = None,
) -> None:
    """Answer a waiting request."""
    chosen = [approve, reject, choose is not None, answer is not None, edit_json is not None]
    if sum(chosen) != 1:
        _fail("Give exactly one of --approve, --reject, --choose, --answer, --edit-json.")
    fields: dict[str, Any] = {}
    if approve or reject:
        fields["approve"] = approve
    if choose is not None:
        fields["choice"] = choose
    if answer is not None:
        fields["text"] = answer
    if edit_json is not None:
        try:
            fields |= {"approve": True, "value": json.loads(edit_json)}
        except json.JSONDecodeError as error:
            _fail(f"--edit-json is not valid JSON: {error}")
    try:
        decision = connect(db).respond(target, by=by, comment=comment, channel="cli", **fields)
    except HitlError as error:
        _fail(f"{type(error).__name__}: {error}")
    if as_json:
        print(decision.model_dump_json())
    else:
        _out.print(_describe(decision))


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
    table = Table(title=f"run {run_id} ({state})")
    for column in ("at", "status", "detail", "progress"):
        table.add_column(column)
    for event in events:
        progress = "" if event.progress is None else f"{event.progress:.0%}"
        table.add_row(
            event.at.isoformat(timespec="seconds"), event.status, event.detail or "", progress
        )
    _out.print(table)
    for request in requests:
        decided = _describe(request.decision) if request.decision else "open"
        _out.print(f"  {request.request_id}  [{request.kind.value}] {request.title}: {decided}")


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


def _describe(decision: Decision) -> str:
    who = decision.by or "the deadline"
    value = "" if decision.value is None else f" {json.dumps(decision.value, default=str)}"
    return (
        f"{decision.outcome.value}{value} by {who} at {decision.at.isoformat(timespec='seconds')}"
    )


def _fail(message: str) -> NoReturn:
    _err.print(f"[red]error:[/red] {message}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code=1)


def main() -> None:
    """Entry point of the ``hitl`` command."""
    app(prog_name="hitl")


if __name__ == "__main__":
    main()
