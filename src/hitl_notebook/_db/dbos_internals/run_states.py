"""A run's DBOS state read fast: our indexes on ``workflow_status`` and the predicates that use
them (a run is active, a run lives)."""

from __future__ import annotations

import sqlalchemy as sa

from hitl_notebook._db.dbos_internals.tables import ACTIVE_STATES, DBOS_SCHEMA, workflow_status

RUN_STATES_INDEX = "hitl_run_states"
"""Our index on ``workflow_status`` (SQLite only): each run's state by its id."""


def index_run_states(conn: sa.Connection) -> None:
    """On SQLite, index each run's state by its id (``RUN_STATES_INDEX``), once DBOS has made its
    table. SQLite joins row by row, and reading DBOS's wide rows for their state costs most of a
    count of 10,000 waiting requests; with the index it reads the index alone. (Postgres hashes
    the join: see ``index_active_runs``.)"""
    if sa.inspect(conn).has_table(workflow_status.name):
        conn.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {RUN_STATES_INDEX}"
            f" ON {workflow_status.name} (workflow_uuid, status)"
        )


ACTIVE_RUNS_INDEX = "hitl_active_runs"
"""Our index on ``workflow_status`` (Postgres only): the active runs' states by their id."""
_ACTIVE_RUNS_BUILDER = 8420018
"""The advisory lock a process holds while it builds ``ACTIVE_RUNS_INDEX``."""
_ACTIVE_RUNS_INDEX_VALID = sa.text(
    "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    f" WHERE c.relname = '{ACTIVE_RUNS_INDEX}' AND n.nspname = '{DBOS_SCHEMA}'"
)


def index_active_runs(engine: sa.Engine) -> None:
    """On Postgres, index the active runs' states by their id (``ACTIVE_RUNS_INDEX``: only runs
    in ``ACTIVE_STATES``), once DBOS has made its table. The inbox and its counts join the open
    requests with their runs' states; with the index Postgres reads the active runs from it
    alone, not every run ever started (a table that only grows). It is built CONCURRENTLY (DBOS
    goes on writing meanwhile) by one process at a time; a build that failed halfway (an
    invalid index) is dropped and made again."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if conn.execute(_ACTIVE_RUNS_INDEX_VALID).scalar() or not sa.inspect(conn).has_table(
            workflow_status.name, schema=DBOS_SCHEMA
        ):
            return
        if not conn.execute(
            sa.text(f"SELECT pg_try_advisory_lock({_ACTIVE_RUNS_BUILDER})")
        ).scalar():
            return  # another process builds it
        try:
            valid = conn.execute(_ACTIVE_RUNS_INDEX_VALID).scalar()
            name = f"{DBOS_SCHEMA}.{ACTIVE_RUNS_INDEX}"
            if valid is False:
                conn.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            if not valid:
                states = ", ".join(f"'{state}'" for state in ACTIVE_STATES)
                conn.exec_driver_sql(
                    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {ACTIVE_RUNS_INDEX}"
                    f" ON {DBOS_SCHEMA}.{workflow_status.name} (workflow_uuid) INCLUDE (status)"
                    f" WHERE status IN ({states})"
                )
        finally:
            conn.execute(sa.text(f"SELECT pg_advisory_unlock({_ACTIVE_RUNS_BUILDER})"))


def run_is_active(status: sa.ColumnElement[str], dialect: str) -> sa.ColumnElement[bool]:
    """``status`` (``workflow_status.status``) is one of ``ACTIVE_STATES``. On SQLite, put so that
    it is checked in ``RUN_STATES_INDEX`` with one seek a run: the range the active states sort
    in is the seek, the list is checked on the entry found (``|| ''`` keeps the list from being
    three seeks)."""
    if dialect != "sqlite":
        return status.in_(ACTIVE_STATES)
    return sa.and_(
        status.between(min(ACTIVE_STATES), max(ACTIVE_STATES)),
        status.concat("").in_(ACTIVE_STATES),
    )


def run_lives(run_id: sa.ColumnElement[str]) -> sa.Exists:
    """Whether the run ``run_id`` exists and can still wait for a human (``ACTIVE_STATES``)."""
    active = sa.or_(*(workflow_status.c.status == state for state in ACTIVE_STATES))
    return (
        sa.select(workflow_status.c.workflow_uuid)
        .where(workflow_status.c.workflow_uuid == run_id, active)
        .exists()
    )
