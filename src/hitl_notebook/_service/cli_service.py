"""The ``hitl`` commands of the service side: ``serve`` (the HTTP API), ``worker`` (runs agents),
``recover`` (a dead worker's runs), ``db`` and ``demo``.

Each imports what it runs (DBOS, the agents, FastAPI) when it runs: ``hitl --help`` loads none.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from hitl_notebook._runtime.defaults import (
    DEFAULT_APP_VERSION,
    DEFAULT_CONCURRENCY,
    DEFAULT_PARK_AFTER,
)
from hitl_notebook._service.auth import TokenAuth
from hitl_notebook._service.cli_edge import Db, connect, fail, out, plural

__all__ = ["database", "demo", "recover", "serve", "worker"]


def worker(
    module: Annotated[
        str,
        typer.Argument(
            metavar="MODULE", help="The module defining the agents: a dotted name or a .py file."
        ),
    ],
    concurrency: Annotated[
        int,
        typer.Option(
            metavar="N", min=1, help="Runs at once in this worker (hot waiting runs count)."
        ),
    ] = DEFAULT_CONCURRENCY,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            metavar="NAME",
            help="Identity label (default: the module); a restart reuses it.",
        ),
    ] = None,
    app_version: Annotated[
        str, typer.Option("--app-version", metavar="VERSION", help="Pinned application version.")
    ] = DEFAULT_APP_VERSION,
    park_after: Annotated[
        str,
        typer.Option(
            "--park-after",
            metavar="DURATION",
            help="How long a waiting run stays hot (30s, 5m; 'never').",
        ),
    ] = DEFAULT_PARK_AFTER,
    db: Db = None,
) -> None:
    """Run agents headless: take queued runs (Agent.enqueue, POST /agents) until stopped."""
    from hitl_notebook._service.worker import (  # noqa: PLC0415 - DBOS: see the docstring
        serve_until_stopped,
        start_worker,
    )

    try:
        runtime = start_worker(
            module,
            database=db,
            name=name,
            concurrency=concurrency,
            app_version=app_version,
            park_after=None if park_after == "never" else park_after,
        )
        serve_until_stopped(runtime)
    except ValueError as error:
        fail(f"{type(error).__name__}: {error}")


def recover(
    executor: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="EXECUTOR",
            help="The executor id of the dead worker (without: list the workers).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Even if its claim looks alive (the process is gone).")
    ] = False,
    db: Db = None,
) -> None:
    """Hand a dead worker's pending runs to the live workers (DBOS recovery)."""
    from hitl_notebook._service.worker import recover_runs, worker_holdings  # noqa: PLC0415 - DBOS

    store = connect(db)
    if executor is not None:
        recovered = recover_runs(store, executor, force=force)
        print(
            f"{plural(len(recovered), 'run')} of {executor} returned to the queue for the live workers."
        )
        return
    holdings = worker_holdings(store)
    if not holdings:
        print("No worker holds a pending run.")
    for worker_id, (count, alive) in holdings.items():
        state = "alive" if alive else "gone: hitl recover --from " + worker_id
        print(f"{worker_id}  {plural(count, 'pending run')}  ({state})")


def serve(
    tokens: Annotated[
        str | None,
        typer.Option(
            "--tokens",
            metavar="FILE",
            help="File of identity:token lines (default: $HITL_API_TOKENS).",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(metavar="HOST", help="Interface to listen on.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.")] = 8000,
    agent: Annotated[
        list[str] | None,
        typer.Option(
            "--agent", metavar="NAME", help="Only these agents may be started (repeatable)."
        ),
    ] = None,
    anonymous_reads: Annotated[
        bool, typer.Option("--anonymous-reads", help="Let reads through without a token.")
    ] = False,
    link_keys: Annotated[
        str | None,
        typer.Option(
            "--link-keys",
            metavar="FILE",
            help="Serve answer links: kid:secret lines, newest first (default: $HITL_LINK_KEYS).",
        ),
    ] = None,
    slack_secret_file: Annotated[
        str | None,
        typer.Option(
            "--slack-secret-file",
            metavar="FILE",
            help="Take Slack button clicks: the app's signing secret "
            "(default: $HITL_SLACK_SIGNING_SECRET).",
        ),
    ] = None,
    directory: Annotated[
        str | None,
        typer.Option(
            "--directory",
            metavar="FILE",
            help="Who is who on Slack, JSON {person: {slack: id}} (default: $HITL_DIRECTORY).",
        ),
    ] = None,
    db: Db = None,
) -> None:
    """Serve the API and /inbox (needs hitl-notebook[service])."""
    try:
        import uvicorn  # noqa: PLC0415 - an optional extra, needed only here

        from hitl_notebook._service.http import create_app  # noqa: PLC0415 - same
        from hitl_notebook._service.http_links import HideLinkTokens  # noqa: PLC0415 - same
        from hitl_notebook._service.serve_config import serve_options  # noqa: PLC0415 - same
    except ImportError as error:
        fail(f"{error}: install the service extra, pip install 'hitl-notebook[service]'.")
    auth = TokenAuth.from_file(tokens) if tokens else TokenAuth.from_env()
    options = serve_options(link_keys, slack_secret_file, directory)
    api = create_app(
        connect(db),
        auth,
        agents=agent,
        anonymous_reads=anonymous_reads,
        link_keys=options.link_keys,
        slack_signing_secret=options.slack_signing_secret,
        directory=options.directory,
    )
    config = uvicorn.Config(api, host=host, port=port)  # configures logging: filter after it
    logging.getLogger("uvicorn.access").addFilter(HideLinkTokens())
    uvicorn.Server(config).run()


def database(db: Db = None) -> None:
    """Print the database URL hitl uses here (e.g. for `dbos workflow list -s ...`)."""
    from hitl_notebook._db.config import resolve_database_url  # noqa: PLC0415 - DBOS

    print(resolve_database_url(db))


def demo(
    agents: Annotated[
        int, typer.Option(metavar="N", min=1, help="How many demo agents to start.")
    ] = 3,
    db: Db = None,
) -> None:
    """Start demo agents, answer them from here, and show what they decided."""
    from hitl_notebook._service.demo import run_demo  # noqa: PLC0415 - DBOS: see the docstring

    run_demo(agents, db, out)
