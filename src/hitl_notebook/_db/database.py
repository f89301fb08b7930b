"""The SDK's own tables, kept in the DBOS system database, and the connection to them.

The tables hold what DBOS does not: requests to humans and their decisions, every answer that
arrived (accepted or late), the append-only status history, and which process holds which executor
identity. They live beside DBOS's tables (schema ``hitl`` on Postgres, ``hitl_*`` tables on SQLite),
so one database URL is all any process needs to read the inbox or answer it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hitl_notebook._core.errors import ConfigurationError
from hitl_notebook._db.dbos_internals import DBOS_SCHEMA, index_active_runs, index_run_states

if TYPE_CHECKING:
    from dbos import DBOSClient

__all__ = [
    "CHANGE_SHARDS",
    "Database",
    "answers",
    "changes",
    "executors",
    "fold",
    "metadata",
    "relaxed",
    "requests",
    "runs",
    "runs_own_status",
    "schedule",
    "statuses",
    "votes",
]

SCHEMA = "hitl"
metadata = sa.MetaData(schema=SCHEMA)

requests = sa.Table(
    "hitl_requests",
    metadata,
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("run_id", sa.Text, nullable=False, index=True),
    sa.Column("agent", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("title_folded", sa.Text),
    sa.Column("body", sa.Text),
    sa.Column("options", sa.JSON),
    sa.Column("proposal", sa.JSON),
    sa.Column("spec", sa.JSON, nullable=False),
    # What the inbox reads of the spec (``request_records.inbox_rules``): without the proposal's
    # schema, most of a spec's size, which 10,000 listed requests would carry each.
    sa.Column("rules", sa.JSON),
    sa.Column("assignees", sa.JSON, nullable=False),
    sa.Column("requested_at_ms", sa.BigInteger, nullable=False),
    sa.Column("deadline_ms", sa.BigInteger),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text),
    sa.Column("approved", sa.Boolean),
    sa.Column("value", sa.JSON),
    sa.Column("decided_by", sa.Text),
    sa.Column("decided_at_ms", sa.BigInteger),
    sa.Column("channel", sa.Text),
    sa.Column("comment", sa.Text),
    # The run's own status (``hitl_runs.agent_status``, ``agent_detail``), kept here while the
    # request is open, so that the inbox reads its rows without a join per request.
    sa.Column("agent_status", sa.Text),
    sa.Column("agent_detail", sa.Text),
    # The inbox in its usual order (time asked, then id) read from this index alone, unsorted.
    sa.Index("hitl_requests_open_order", "state", "requested_at_ms", "request_id"),
    sa.Index("hitl_requests_decided", "decided_at_ms"),
    # The inbox's counts read this index alone, already grouped by agent, in run order.
    sa.Index("hitl_requests_open_runs", "state", "agent", "run_id"),
)

answers = sa.Table(
    "hitl_answers",
    metadata,
    sa.Column("answer_id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("request_id", sa.Text, nullable=False, index=True),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("received_at_ms", sa.BigInteger, nullable=False),
    sa.Column("by", sa.Text),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("answer", sa.JSON, nullable=False),
    sa.Column("result", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
)
"""Every answer that arrived: ``accepted``, ``late`` (after the deadline), or ``refused`` with
its ``reason`` (an answer that came as a DBOS message, with nobody to tell it was refused)."""

statuses = sa.Table(
    "hitl_status",
    metadata,
    sa.Column("status_id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("agent", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("detail", sa.Text),
    sa.Column("progress", sa.Float),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("run_id", "key", name="hitl_status_run_key"),
    sa.Index("hitl_status_run_order", "run_id", "status_id"),
)

runs = sa.Table(
    "hitl_runs",
    metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("agent", sa.Text, nullable=False, index=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("detail", sa.Text),
    sa.Column("progress", sa.Float),
    sa.Column("started_at_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
    sa.Column("finished_at_ms", sa.BigInteger),
    sa.Column("agent_status", sa.Text),
    sa.Column("agent_detail", sa.Text),
    sa.Column("failure", sa.JSON),
    sa.Column("forked_from", sa.Text),
    sa.Column("forked_at", sa.Text),
)
"""One row per run: its current status, kept with every transition (the history is hitl_status),
and the last status the agent published itself (``agent_status``: "pending_approval", not the
SDK's "waiting"), which listings show while the run waits; a failed run's ``failure`` (its
exception's type, message and traceback, see ``_core.failures``); for a what-if fork, the run
it was forked from and the request it was forked at (``forked_from``, ``forked_at``)."""

schedule = sa.Table(
    "hitl_schedule",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("request_id", sa.Text, nullable=False, index=True),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("due_ms", sa.BigInteger, nullable=False),
    sa.Column("payload", sa.JSON),
    sa.Column("lease_owner", sa.Text),
    sa.Column("lease_until_ms", sa.BigInteger),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("done_ms", sa.BigInteger),
    sa.Column("result", sa.Text),
    sa.Column("receipt", sa.Text),
    sa.Column("error", sa.Text),
    sa.UniqueConstraint("key", "channel", name="hitl_schedule_key_channel"),
    sa.Index(
        "hitl_schedule_due",
        "due_ms",
        postgresql_where=sa.text("done_ms IS NULL"),
        sqlite_where=sa.text("done_ms IS NULL"),
    ),
    sa.Index(  # the inbox reads which channels gave up: rare rows of a table that only grows
        "hitl_schedule_failed",
        "request_id",
        "channel",
        postgresql_where=sa.text("result = 'failed'"),
        sqlite_where=sa.text("result = 'failed'"),
    ),
)
"""The durable schedule of what is done for a request while it waits, one row per action and
channel: ``notify``, ``remind``, ``decided``, ``timed_out`` (sends, ``channel`` their channel's name),
``escalate`` and ``deadline`` (changes to the request, ``channel`` empty). ``key`` is
``<request id>:<action>:<n>``. A row is claimed by setting its lease (``lease_owner``,
``lease_until_ms``, ``attempts``) and completed by setting ``done_ms`` and ``result`` (``sent``,
``done``, ``skipped``: the request was decided first, ``cancelled``, ``failed``)."""

votes = sa.Table(
    "hitl_votes",
    metadata,
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("voter", sa.Text, primary_key=True),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("approve", sa.Boolean, nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
)
"""One row per person's vote on a request that needs several approvals (a quorum)."""

changes = sa.Table(
    "hitl_changes",
    metadata,
    sa.Column("shard", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("n", sa.BigInteger, nullable=False),
)
"""The inbox's change counter, in ``CHANGE_SHARDS`` rows (see ``_db.changes``)."""
CHANGE_SHARDS = 16

executors = sa.Table(
    "hitl_executors",
    metadata,
    sa.Column("executor_id", sa.Text, primary_key=True),
    sa.Column("host", sa.Text, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("claimed_at_ms", sa.BigInteger, nullable=False),
    sa.Column("heartbeat_at_ms", sa.BigInteger, nullable=False),
    sa.Column("released", sa.Boolean, nullable=False),
)


def normalize_url(url: str) -> str:
    """A SQLAlchemy URL for a system database URL (Postgres goes through psycopg 3, as in DBOS)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if parsed.get_backend_name() == "sqlite":
        return url
    raise ConfigurationError(
        f"Unsupported database URL {parsed.render_as_string()!r}: use sqlite:///path/to/file.sqlite "
        "or postgresql://user:password@host:5432/dbname."
    )


class Database:
    """One system database: an engine for the SDK's tables and a DBOS client for its messages."""

    def __init__(self, url: str, *, create: bool = False) -> None:
        self.url = url
        parsed = sa.make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if not self.is_sqlite:
            _ensure_postgres_database(normalize_url(url), create=create)
        elif not create and not os.path.exists(parsed.database or ""):
            raise ConfigurationError(
                f"There is no database file at {parsed.database}; launch hitl_notebook on it "
                "once (hitl.launch(url)) or point --db / $HITL_DATABASE_URL at the right one."
            )
        self.engine = _create_engine(normalize_url(url), self.is_sqlite)
        self.autocommit = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        """The engine for reads and for writes of one statement. On Postgres each statement is
        its own transaction (one round trip instead of BEGIN, the statement and COMMIT or
        ROLLBACK); under READ COMMITTED each statement sees its own snapshot anyway. On SQLite it
        is ``engine`` (a read begins nothing there): write through it with ``begin()``."""
        if not create and not sa.inspect(self.engine).has_table(
            "workflow_status", schema=None if self.is_sqlite else DBOS_SCHEMA
        ):
            self.engine.dispose()
            raise ConfigurationError(
                f"{parsed.render_as_string()} holds no hitl_notebook data yet; launch "
                "hitl_notebook on it once (hitl.launch(url)) or point at the right database."
            )
        self._client: DBOSClient | None = None
        self._client_lock = threading.Lock()
        self._ensure_tables()
        if not self.is_sqlite:
            index_active_runs(self.engine)

    @property
    def client(self) -> DBOSClient:
        """A DBOS client on this database (created, and DBOS imported, on first use)."""
        from dbos import DBOSClient  # noqa: PLC0415 - reading and answering need no DBOS

        with self._client_lock:
            if self._client is None:
                self._client = DBOSClient(system_database_url=self.url)
            return self._client

    def close(self) -> None:
        """Release connections."""
        with self._client_lock:
            if self._client is not None:
                self._client.destroy()
                self._client = None
        self.engine.dispose()

    def _ensure_tables(self) -> None:
        with self.engine.begin() as conn:
            if not self.is_sqlite:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(8420017)"))
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
            metadata.create_all(conn, checkfirst=True)
            _add_missing_columns(conn)
            for index in (*requests.indexes, *schedule.indexes):  # added since created
                index.create(conn, checkfirst=True)
            _drop_replaced_indexes(conn)
            _seed_changes(conn)
            if self.is_sqlite:
                index_run_states(conn)


def relaxed(conn: sa.Connection) -> None:
    """Let the commit of ``conn``'s transaction return before Postgres has written it to disk
    (``synchronous_commit``; nothing on SQLite). Only for writes that whoever needs them writes
    again: a crash of the server may lose the last fraction of a second of such commits, never
    one that a later ordinary commit (of any process) follows, and never half of one."""
    if conn.dialect.name == "postgresql":
        conn.execute(_RELAXED)


_RELAXED = sa.text("SET LOCAL synchronous_commit TO OFF")


_REPLACED_INDEXES = {requests: ("hitl_requests_open",)}
"""Indexes of older versions that a wider one replaced, dropped from older databases on open."""


_ADDED_COLUMNS = (
    (requests, requests.c.title_folded),
    (runs, runs.c.agent_status),
    (runs, runs.c.agent_detail),
    (runs, runs.c.failure),
    (runs, runs.c.forked_from),
    (runs, runs.c.forked_at),
    (answers, answers.c.reason),
    (requests, requests.c.agent_status),  # after the runs' own: filled from them
    (requests, requests.c.agent_detail),
    (requests, requests.c.rules),
)
"""Columns added since the first release of the tables, added to older databases on open."""


def _add_missing_columns(conn: sa.Connection) -> None:
    """Bring tables made by an older version up to date (new nullable columns, then backfills)."""
    inspector = sa.inspect(conn)
    schema = None if conn.dialect.name == "sqlite" else SCHEMA
    for table, column in _ADDED_COLUMNS:
        present = {c["name"] for c in inspector.get_columns(table.name, schema=schema)}
        if column.name in present:
            continue
        kind = column.type.compile(dialect=conn.dialect)
        name = table.name if schema is None else f'"{schema}"."{table.name}"'
        conn.execute(sa.text(f'ALTER TABLE {name} ADD COLUMN "{column.name}" {kind}'))
        if column is requests.c.agent_detail:  # after agent_status: both are there
            conn.execute(
                requests.update().where(requests.c.state == "open").values(runs_own_status())
            )
        if column is requests.c.title_folded:
            titles = conn.execute(sa.select(requests.c.request_id, requests.c.title)).all()
            for request_id, title in titles:
                conn.execute(
                    requests.update()
                    .where(requests.c.request_id == request_id)
                    .values(title_folded=fold(title))
                )


def runs_own_status(run_id: sa.ColumnElement[str] | None = None) -> dict[str, Any]:
    """The values of a request's ``agent_status`` and ``agent_detail``: its run's own status,
    read from the run's row (``hitl_runs``) of ``run_id`` (default: of the request a statement
    updates)."""
    of_run = requests.c.run_id if run_id is None else run_id
    return {
        name: sa.select(runs.c[name]).where(runs.c.run_id == of_run).scalar_subquery()
        for name in ("agent_status", "agent_detail")
    }


def _drop_replaced_indexes(conn: sa.Connection) -> None:
    inspector = sa.inspect(conn)
    schema = None if conn.dialect.name == "sqlite" else SCHEMA
    for table, names in _REPLACED_INDEXES.items():
        present = {str(index["name"]) for index in inspector.get_indexes(table.name, schema=schema)}
        for name in sorted(present.intersection(names)):
            conn.execute(sa.text(f"DROP INDEX {name if schema is None else f'{schema}.{name}'}"))


def _seed_changes(conn: sa.Connection) -> None:
    """Make the change counter's rows (once; a database made by an older version has none)."""
    present = set(conn.execute(sa.select(changes.c.shard)).scalars())
    missing = [{"shard": s, "n": 0} for s in range(CHANGE_SHARDS) if s not in present]
    if missing:
        conn.execute(changes.insert(), missing)


def fold(text: str) -> str:
    """Text as searches compare it: Unicode case folding, the same on every database
    ("Ärger" finds "ÄRGER", a final sigma finds a medial one)."""
    return text.casefold()


def _ensure_postgres_database(url: str, *, create: bool) -> None:
    """Create the Postgres database if it is missing and ``create`` allows it (as DBOS does)."""
    target = sa.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            ).first()
            if exists:
                return
            if not create:
                raise ConfigurationError(
                    f"The database {target.database!r} does not exist on {target.host}; "
                    "launch hitl_notebook on it once (hitl.launch(url)) to create it."
                )
            # ProgrammingError: another process created it at the same moment.
            with contextlib.suppress(sa.exc.ProgrammingError):
                conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    except sa.exc.OperationalError as error:
        raise ConfigurationError(
            f"Cannot reach Postgres at {target.host}:{target.port}: {error.orig}"
        ) from error
    finally:
        admin.dispose()


def _lenient_text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _create_engine(url: str, is_sqlite: bool) -> sa.Engine:
    if not is_sqlite:
        return sa.create_engine(url, pool_size=5, max_overflow=10, pool_recycle=1800)
    engine = sa.create_engine(
        url, execution_options={"schema_translate_map": {SCHEMA: None, DBOS_SCHEMA: None}}
    )

    @sa.event.listens_for(engine, "connect")
    def _configure(dbapi_conn: Any, _record: Any) -> None:
        # Writers take the lock when they begin, as DBOS's own engine does, so that two
        # processes answering at once queue up instead of failing with "database is locked".
        dbapi_conn.isolation_level = "IMMEDIATE"
        # Text that is not valid UTF-8 (written by another tool) reads as U+FFFD instead of
        # failing every query that meets it.
        dbapi_conn.text_factory = _lenient_text
        dbapi_conn.execute("PRAGMA busy_timeout=30000")
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")

    return engine
