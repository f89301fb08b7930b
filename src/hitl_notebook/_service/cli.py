"""The ``hitl`` command: the inbox, a request or run in full, answers (one or many), cancelling,
runs, history and decisions, a demo; and the service side: ``serve`` (the HTTP API), ``worker``
(runs agents), ``recover``.

The database comes from the same places as ``launch()`` (``--db``, ``$HITL_DATABASE_URL``,
dbos-config.yaml, the embedded default). Every command but ``worker`` reads and answers through
the store and the pandas frames, so it needs no agent code. Tables are for people and fit the
terminal; ``--json`` and ``--csv`` are for scripts. Every error is one line on stderr (see
``_service.cli_edge``): exit status 2 for a wrong command line, 1 for everything else.

The commands live by what they do: ``_service.cli_read`` (inbox, show, status, history, agents,
decisions), ``_service.cli_answer`` (respond, vote, cancel), ``_service.cli_service`` (serve,
worker, recover, db, demo). Help is plain text (no rich markup: ``[service]`` stays, options
show their metavar).
"""

from __future__ import annotations

import typer

from hitl_notebook._service import cli_answer as answer
from hitl_notebook._service import cli_read as read
from hitl_notebook._service import cli_service as service
from hitl_notebook._service.cli_edge import Command, Edge

__all__ = ["app", "main"]

app = typer.Typer(
    name="hitl",
    cls=Edge,
    help="Durable human-in-the-loop agents: answer requests, inspect runs, serve, run workers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.command(cls=Command)(read.inbox)
app.command("show", cls=Command)(read.show_one)
app.command(cls=Command)(answer.respond)
app.command(cls=Command)(answer.vote)
app.command(cls=Command)(answer.cancel)
app.command(cls=Command)(read.status)
app.command(cls=Command)(read.history)
app.command(cls=Command)(read.agents)
app.command(cls=Command)(read.decisions)
app.command(cls=Command)(service.worker)
app.command(cls=Command)(service.recover)
app.command(cls=Command)(service.serve)
app.command("db", cls=Command)(service.database)
app.command(cls=Command)(service.demo)


def main() -> None:
    """Entry point of the ``hitl`` command."""
    app(prog_name="hitl")


if __name__ == "__main__":
    main()
