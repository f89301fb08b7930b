"""Everything the SDK relies on inside DBOS 3.4 that is not public API, in one place.

- **Tables read with SQL.** DBOS has no public query that joins a workflow's state with other rows,
  and the inbox and the answer path need exactly that in one round trip.
- **Parking.** A run that waits long for a human is parked: its ``workflow_status`` row becomes
  ``DELAYED`` on DBOS's internal queue until its deadline, and its code unwinds with ``Parked``, a
  ``BaseException`` (DBOS records an outcome only for ``Exception``), so it holds no thread, no
  task and no poll. DBOS's own background job turns the row into ``ENQUEUED`` at the deadline; an
  answer does it at once (``wake``). Either way DBOS's queue dispatches it again in the process of
  the application that owns it, which replays it from its checkpoints.
- **An index of ours on ``workflow_status``** (SQLite only, ``index_run_states``): each run's
  state by its id, so that the inbox's counts read no DBOS row (``run_is_active``).
- **Moving parked runs' wake-ups** when a test moves the process's clock (``shift_parked``).
- **The internal queue's polling interval**, which bounds how fast a parked run resumes.
- **Starting many runs at once** (``claim_here``, ``execute_claimed``): the rows DBOS's own batch
  enqueue (``SystemDatabase.init_workflows``, which its Kafka consumer uses) writes, as its queue
  leaves them once it claimed them for this process, inserted in the caller's transaction with one
  statement per table (DBOS's builds a statement with every row's values, ~1 ms a row); then each
  run's task, made on DBOS's event loop as DBOS makes it for a run it claimed, all in one callback
  (DBOS's queue thread hands the loop one run at a time and waits for each).
- **The error DBOS raises** when a caller awaits the result of a cancelled workflow.
- **How many steps the executing run has taken** (``steps_taken``): DBOS numbers a run's steps
  in its context; a request records the count, so a what-if fork at it reuses those steps.
- **Recovery of another executor's runs** (``requeue_for_recovery``): the step DBOS's own recovery
  takes for each pending run, used to hand a dead worker's runs to the live ones.
- **The default database file** DBOS and its CLI use for a ``dbos-config.yaml`` without a URL.
- **Messages** (``DBOS.send``, ``DBOSClient.send``): the ``notifications`` table they land in, the
  topic DBOS stores for "no topic", the channel Postgres announces them on, and how a message's
  value is read back; a message to a waiting run is taken as an answer (``_store.dbos_messages``).

``tests/test_dbos_contract.py`` fails loudly if a DBOS upgrade changes any of this, and
pyproject.toml pins DBOS to the tested minor release.

DBOS takes a third of a second to import (its Postgres driver with it), and a process that only
reads or answers with a URL (the CLI, a web server) needs none of it: DBOS is imported inside the
functions that call it, and the names it keeps as private constants are copied here (the
contract test compares them with DBOS's own).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import sqlalchemy as sa

from hitl_notebook._db.bulk_insert import insert_new

if TYPE_CHECKING:
    from dbos import DBOSClient
    from dbos._sys_db import WorkflowStatusInternal

__all__ = [
    "ACTIVE_RUNS_INDEX",
    "ACTIVE_STATES",
    "DBOS_SCHEMA",
    "INTERNAL_QUEUE",
    "MESSAGES_CHANNEL",
    "NULL_TOPIC",
    "PARKED_STATE",
    "RUN_STATES_INDEX",
    "Cancelled",
    "Claimed",
    "Message",
    "Parked",
    "Stopped",
    "Woken",
    "awaited_a_cancelled_run",
    "claim_here",
    "consume_message",
    "dbos_default_database",
    "execute_claimed",
    "index_active_runs",
    "index_run_states",
    "messages_to",
    "park",
    "parking",
    "requeue_for_recovery",
    "run_is_active",
    "run_lives",
    "set_internal_queue_polling",
    "shift_parked",
    "steps_taken",
    "sweep",
    "wake",
    "wake_many",
    "waking",
    "workflow_status",
]

DBOS_SCHEMA = "dbos"
"""DBOS's schema on Postgres (SQLite has none; the SDK's SQLite engine maps it away)."""

PARKED_STATE = "DELAYED"
ACTIVE_STATES = ("PENDING", "ENQUEUED", PARKED_STATE)
"""Workflow states of a run that can still wait for a human (ENQUEUED while being dispatched,
DELAYED while parked)."""
INTERNAL_QUEUE = "_dbos_internal_queue"
"""DBOS's internal queue (``dbos._utils.INTERNAL_QUEUE_NAME``): parked runs wait on it."""

_dbos_metadata = sa.MetaData(schema=DBOS_SCHEMA)

workflow_status = sa.Table(
    "workflow_status",
    _dbos_metadata,
    sa.Column("workflow_uuid", sa.Text, primary_key=True),
    sa.Column("status", sa.Text),
    sa.Column("name", sa.Text),
    sa.Column("executor_id", sa.Text),
    sa.Column("application_version", sa.Text),
    sa.Column("application_name", sa.Text),
    sa.Column("created_at", sa.BigInteger),
    sa.Column("updated_at", sa.BigInteger),
    sa.Column("recovery_attempts", sa.BigInteger),
    sa.Column("queue_name", sa.Text),
    sa.Column("delay_until_epoch_ms", sa.BigInteger),
    sa.Column("owner_xid", sa.Text),
    sa.Column("started_at_epoch_ms", sa.BigInteger),
    sa.Column("class_name", sa.Text),
    sa.Column("config_name", sa.Text),
    sa.Column("application_id", sa.Text),
    sa.Column("authenticated_user", sa.Text),
    sa.Column("authenticated_roles", sa.Text),
    sa.Column("assumed_role", sa.Text),
    sa.Column("workflow_timeout_ms", sa.BigInteger),
    sa.Column("workflow_deadline_epoch_ms", sa.BigInteger),
    sa.Column("deduplication_id", sa.Text),
    sa.Column("priority", sa.Integer),
    sa.Column("serialization", sa.Text),
    sa.Column("queue_partition_key", sa.Text),
    sa.Column("parent_workflow_id", sa.Text),
    sa.Column("creator_xid", sa.Text),
    sa.Column("schedule_name", sa.Text),
)

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


workflow_input = sa.Table(
    "workflow_input",
    _dbos_metadata,
    sa.Column("workflow_uuid", sa.Text, primary_key=True),
    sa.Column("inputs", sa.Text),
    sa.Column("retention_timestamp", sa.BigInteger),
)


notifications = sa.Table(
    "notifications",
    _dbos_metadata,
    sa.Column("message_uuid", sa.Text, primary_key=True),
    sa.Column("destination_uuid", sa.Text),
    sa.Column("topic", sa.Text),
    sa.Column("message", sa.Text),
    sa.Column("serialization", sa.Text),
    sa.Column("created_at_epoch_ms", sa.BigInteger),
    sa.Column("consumed", sa.Boolean),
)

MESSAGES_CHANNEL = "dbos_notifications_channel"
"""The Postgres channel on which DBOS announces each message (payload ``<run id>::<topic>``;
``dbos._sys_db._dbos_notifications_channel``)."""
NULL_TOPIC = "__null__topic__"
"""The topic DBOS stores for a message sent without one (``dbos._sys_db._dbos_null_topic``)."""


class Message(NamedTuple):
    """A DBOS message to a run, not consumed yet."""

    message_id: str
    run_id: str
    topic: str | None
    """None when it was sent without a topic."""
    value: Any
    """What was sent (read back as DBOS does), or the error that stopped reading it back."""
    readable: bool


def messages_to(
    conn: sa.Connection,
    waiting: Callable[[sa.ColumnElement[str]], sa.ColumnElement[bool]],
    *,
    run_ids: Collection[str] | None,
    limit: int,
) -> list[Message]:
    """The unconsumed messages, oldest first, to runs (``run_ids``, or any) that are
    ``waiting(run_id)``."""
    to = notifications.c.destination_uuid
    chosen = waiting(to) if run_ids is None else sa.and_(to.in_(list(run_ids)), waiting(to))
    rows = conn.execute(
        sa.select(
            notifications.c.message_uuid,
            notifications.c.destination_uuid,
            notifications.c.topic,
            notifications.c.message,
            notifications.c.serialization,
        )
        .where(notifications.c.consumed == sa.false(), chosen)
        .order_by(notifications.c.created_at_epoch_ms, notifications.c.message_uuid)
        .limit(limit)
    ).all()
    from dbos._serialization import DefaultSerializer, deserialize_value  # noqa: PLC0415

    found = []
    for message_id, run_id, topic, raw, serialization in rows:
        try:
            value, readable = deserialize_value(raw, serialization, DefaultSerializer()), True
        except Exception as error:  # a message no process here can read is refused, not fatal
            value, readable = f"{type(error).__name__}: {error}", False
        named = None if topic == NULL_TOPIC else topic
        found.append(Message(message_id, run_id, named, value, readable))
    return found


def consume_message(conn: sa.Connection, message_id: str) -> bool:
    """Mark a message consumed; False if another process consumed it first."""
    taken = conn.execute(
        sa.update(notifications)
        .where(notifications.c.message_uuid == message_id, notifications.c.consumed == sa.false())
        .values(consumed=True)
    )
    return taken.rowcount == 1


class Parked(BaseException):
    """Unwinds a parked run's code. A BaseException, so neither DBOS nor agent code that catches
    ``Exception`` records it as a failure; the run's row stays DELAYED."""


class Cancelled(BaseException):
    """Unwinds a run that was cancelled while it waited for a human. A BaseException, so neither
    DBOS nor agent code that catches ``Exception`` records it: the row stays CANCELLED."""


class Stopped(BaseException):
    """Unwinds a run that waits hot when the runtime shuts down. Raised inside a step, a
    BaseException is not recorded by DBOS either: the run stays PENDING and resumes at the next
    launch."""


def parking(unless: sa.ColumnElement[bool]) -> sa.Update:
    """The UPDATE that parks a run (``park``), refused while ``unless`` holds; build it once.

    Its parameters: ``run_id``, ``until_ms``, ``now_ms`` and those of ``unless``.
    """
    return (
        sa.update(workflow_status)
        .where(
            workflow_status.c.workflow_uuid == sa.bindparam("run_id"),
            workflow_status.c.status == "PENDING",
            ~unless,
        )
        .values(
            status=PARKED_STATE,
            queue_name=INTERNAL_QUEUE,
            delay_until_epoch_ms=sa.bindparam("until_ms"),
            owner_xid=None,
            started_at_epoch_ms=None,
            recovery_attempts=0,
            updated_at=sa.bindparam("now_ms"),
        )
    )


def park(
    conn: sa.Connection,
    statement: sa.Update,
    *,
    run_id: str,
    until_ms: int,
    now_ms: int,
    **unless_parameters: Any,
) -> bool:
    """Turn the executing run into a DELAYED row until ``until_ms``, unless ``statement``'s
    condition (see ``parking``) holds.

    Resets the recovery attempts: a run that parks has made progress, and each dispatch counts one.
    """
    parameters = {"run_id": run_id, "until_ms": until_ms, "now_ms": now_ms, **unless_parameters}
    return conn.execute(statement, parameters).rowcount == 1


class Woken(NamedTuple):
    """What ``wake`` found: the run's state before, and who owns it."""

    state: str
    executor_id: str
    application: str


def wake(
    conn: sa.Connection, run_id: str, *, now_ms: int, announce_on: str | None = None
) -> Woken | None:
    """Enqueue the run if it is parked; returns its state before and its owner, if it exists.

    The row is locked first, so a run that is parking at this moment either is seen parked here
    or, once parked, sees this transaction's answer (``park``'s caller looks again after it).
    On Postgres, ``announce_on`` names a channel on which the run's id is announced at commit
    (NOTIFY), in the same statement.
    """
    announce = announce_on is not None and conn.dialect.name == "postgresql"
    row = conn.execute(
        _LOCK_AND_ANNOUNCE if announce else _LOCK,
        {"run_id": run_id, "channel": announce_on} if announce else {"run_id": run_id},
    ).first()
    if row is None:
        return None
    if row.status == PARKED_STATE:
        conn.execute(_ENQUEUE_PARKED, {"run_id": run_id, "now_ms": now_ms})
    return Woken(str(row.status), str(row.executor_id), str(row.application_name))


def wake_many(
    conn: sa.Connection, run_ids: Collection[str], *, now_ms: int, announce_on: str | None = None
) -> dict[str, Woken]:
    """``wake`` for many runs in two statements (their rows locked in the order of their ids);
    returns what was found of each run that exists, by run id."""
    if not run_ids:
        return {}
    announce = announce_on is not None and conn.dialect.name == "postgresql"
    found = conn.execute(
        _LOCK_MANY_AND_ANNOUNCE if announce else _LOCK_MANY,
        {"run_ids": sorted(run_ids), "channel": announce_on}
        if announce
        else {"run_ids": sorted(run_ids)},
    ).all()
    woken = {
        str(row.workflow_uuid): Woken(
            str(row.status), str(row.executor_id), str(row.application_name)
        )
        for row in found
    }
    parked = [run_id for run_id, run in woken.items() if run.state == PARKED_STATE]
    if parked:
        conn.execute(_ENQUEUE_PARKED_MANY, {"run_ids": parked, "now_ms": now_ms})
    return woken


def run_lives(run_id: sa.ColumnElement[str]) -> sa.Exists:
    """Whether the run ``run_id`` exists and can still wait for a human (``ACTIVE_STATES``)."""
    active = sa.or_(*(workflow_status.c.status == state for state in ACTIVE_STATES))
    return (
        sa.select(workflow_status.c.workflow_uuid)
        .where(workflow_status.c.workflow_uuid == run_id, active)
        .exists()
    )


def waking(
    run_id: sa.ColumnElement[str], *, when: sa.ColumnElement[bool], announce: bool = True
) -> tuple[sa.Select[Any], sa.Update]:
    """``wake`` with an announcement, as two parts of one Postgres statement (CTEs) that act
    only ``when`` holds: the run's row locked (its ``status`` before, ``executor_id``,
    ``application_name``) and, if ``announce``, announced on the channel ``channel``, and the
    update that enqueues it if parked (its parameter ``now_ms``). The lock goes before the
    update in the statement.

    A run that parks while the statement runs: the lock waits for the park's commit and reads
    the parked row, but the statement's snapshot still holds the row as executing. So the update
    matches an executing row too, and decides what to write from the row as it is when it writes
    (Postgres re-reads a row that changed since the snapshot): parked, it is enqueued; still
    executing, it is written unchanged."""
    lock = _locking(sa.and_(workflow_status.c.workflow_uuid == run_id, when))
    if announce:
        lock = _announcing(lock)
    parked = workflow_status.c.status == PARKED_STATE
    enqueue = (
        sa.update(workflow_status)
        .where(
            workflow_status.c.workflow_uuid == run_id,
            # Equalities, not IN: a list is rendered anew for each execution, and a statement
            # that keeps its text is parsed once by the driver.
            sa.or_(workflow_status.c.status == "PENDING", workflow_status.c.status == PARKED_STATE),
            when,
        )
        .values(
            status=sa.case((parked, "ENQUEUED"), else_=workflow_status.c.status),
            updated_at=sa.case(
                (parked, sa.bindparam("now_ms", type_=sa.BigInteger)),
                else_=workflow_status.c.updated_at,
            ),
        )
    )
    return lock, enqueue


def _locking(which: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return (
        sa.select(
            workflow_status.c.status,
            workflow_status.c.executor_id,
            workflow_status.c.application_name,
            workflow_status.c.workflow_uuid,
        )
        .where(which)
        .order_by(workflow_status.c.workflow_uuid)
        .with_for_update(key_share=True)
    )


def _announcing(lock: sa.Select[Any]) -> sa.Select[Any]:
    return lock.add_columns(
        sa.func.pg_notify(sa.bindparam("channel", type_=sa.Text), workflow_status.c.workflow_uuid)
    )


_LOCK = _locking(workflow_status.c.workflow_uuid == sa.bindparam("run_id"))
_LOCK_AND_ANNOUNCE = _announcing(_LOCK)
_LOCK_MANY = _locking(workflow_status.c.workflow_uuid.in_(sa.bindparam("run_ids", expanding=True)))
_LOCK_MANY_AND_ANNOUNCE = _announcing(_LOCK_MANY)
_ENQUEUE_PARKED = (
    sa.update(workflow_status)
    .where(
        workflow_status.c.workflow_uuid == sa.bindparam("run_id"),
        workflow_status.c.status == PARKED_STATE,
    )
    .values(status="ENQUEUED", updated_at=sa.bindparam("now_ms"))
)


_ENQUEUE_PARKED_MANY = (
    sa.update(workflow_status)
    .where(
        workflow_status.c.workflow_uuid.in_(sa.bindparam("run_ids", expanding=True)),
        workflow_status.c.status == PARKED_STATE,
    )
    .values(status="ENQUEUED", updated_at=sa.bindparam("now_ms"))
)


class Claimed(NamedTuple):
    """Runs that ``claim_here`` inserted, for ``execute_claimed`` once their transaction committed."""

    owner: str
    """The token DBOS checks before it records a claimed run's outcome."""
    runs: list[tuple[dict[str, Any], tuple[Any, ...]]]
    """Each run's DBOS status (as DBOS reads it back) and its positional arguments."""


def claim_here(
    conn: sa.Connection,
    workflow: Callable[..., Any],
    runs: Sequence[tuple[str, tuple[Any, ...]]],
    *,
    owner: str,
    authenticated_user: str | None,
    now_ms: int,
) -> Claimed:
    """Insert runs of the registered async ``workflow`` (``(run id, positional arguments)``
    each) as DBOS's queue leaves a run it has claimed for this process: PENDING on the internal
    queue, this executor's and version's, under the token ``owner`` (a new uuid). An id that
    exists already is left as it is; returns the runs inserted now, and those an earlier attempt
    with the same ``owner`` inserted (its commit reached the database, but not its answer), which
    ``execute_claimed`` runs after the commit.

    The rows are those of ``SystemDatabase.init_workflows`` (DBOS's batch enqueue, with the
    shared columns from DBOS's own ``prepare_enqueued_workflow``) as its queue's claim
    (``start_queued_workflows``) updates them. A run claimed here that this process does not
    execute (it dies first) is PENDING on this executor: DBOS's recovery runs it, as it runs
    any workflow started directly. Call inside a launched DBOS.
    """
    if not runs:
        return Claimed(owner, [])
    from dbos._core import prepare_enqueued_workflow  # noqa: PLC0415 - see the docstring
    from dbos._dbos import _get_dbos_instance  # noqa: PLC0415
    from dbos._serialization import serialize_args  # noqa: PLC0415

    dbos = _get_dbos_instance()
    first_id, first_args = runs[0]
    shared: dict[str, Any] = dict(
        prepare_enqueued_workflow(
            dbos, workflow, first_args, {}, queue_name=INTERNAL_QUEUE, workflow_id=first_id
        )
    )
    assert shared["attributes"] is None  # no tracing context: no attributes column written
    shared.update(
        status="PENDING",
        authenticated_user=authenticated_user,
        authenticated_roles=None,
        recovery_attempts=1,
        started_at_epoch_ms=now_ms,
        created_at=now_ms,
        updated_at=now_ms,
    )
    row = {
        "status": shared["status"],
        "name": shared["name"],
        "class_name": shared["class_name"],
        "config_name": shared["config_name"],
        "executor_id": shared["executor_id"],
        "application_version": shared["app_version"],
        "application_id": shared["app_id"],
        "authenticated_user": authenticated_user,
        "authenticated_roles": None,
        "assumed_role": shared["assumed_role"],
        "queue_name": INTERNAL_QUEUE,
        "recovery_attempts": 1,
        "workflow_timeout_ms": shared["workflow_timeout_ms"],
        "workflow_deadline_epoch_ms": shared["workflow_deadline_epoch_ms"],
        "deduplication_id": None,
        "priority": shared["priority"],
        "queue_partition_key": None,
        "parent_workflow_id": None,
        "creator_xid": None,
        "owner_xid": owner,
        "started_at_epoch_ms": now_ms,
        "delay_until_epoch_ms": None,
        "schedule_name": None,
        "application_name": shared["application_name"],
        "created_at": now_ms,
        "updated_at": now_ms,
    }
    rows, inputs, claimed = [], [], []
    for run_id, args in runs:
        serialized, serialization = serialize_args(args, {}, None, dbos._serializer)
        rows.append({**row, "workflow_uuid": run_id, "serialization": serialization})
        inputs.append(
            {"workflow_uuid": run_id, "inputs": serialized, "retention_timestamp": now_ms}
        )
        status = {
            **shared,
            "workflow_uuid": run_id,
            "inputs": serialized,
            "serialization": serialization,
        }
        claimed.append((status, args))
    inserted = set(
        insert_new(conn, workflow_status, rows, key=["workflow_uuid"], returning="workflow_uuid")
    )
    if len(inserted) < len(runs):
        inserted.update(
            conn.execute(
                sa.select(workflow_status.c.workflow_uuid).where(
                    workflow_status.c.workflow_uuid.in_([run_id for run_id, _ in runs]),
                    workflow_status.c.owner_xid == owner,
                )
            ).scalars()
        )
        inputs = [i for i in inputs if i["workflow_uuid"] in inserted]
        claimed = [
            (status, args) for status, args in claimed if status["workflow_uuid"] in inserted
        ]
    insert_new(conn, workflow_input, inputs, key=["workflow_uuid"])
    return Claimed(owner, claimed)


def execute_claimed(claimed: Claimed) -> None:
    """Begin executing the runs ``claim_here`` inserted (after its commit), on DBOS's event loop,
    as ``DBOS.start_workflow_async`` executes a workflow after inserting its row; returns at once.

    One callback creates every run's task, with the context DBOS's queue gives a run it claimed
    (``execute_dequeued_workflow``): the run's id, its requester, the owner token. It runs in a
    context of its own, so a caller inside a run does not become the runs' parent.
    """
    if not claimed.runs:
        return
    from dbos._dbos import _get_dbos_instance  # noqa: PLC0415 - see the docstring

    dbos = _get_dbos_instance()
    loop = dbos._background_event_loop.target_loop()
    assert loop is not None, "DBOS is not launched"
    loop.call_soon_threadsafe(_execute_all, dbos, claimed, context=contextvars.Context())


def _execute_all(dbos: Any, claimed: Claimed) -> None:
    from dbos._context import (  # noqa: PLC0415 - see the module's docstring
        DBOSContext,
        DBOSContextSetAuth,
        SetWorkflowID,
        get_local_dbos_context,
    )
    from dbos._core import _execute_workflow_async  # noqa: PLC0415
    from dbos._event_loop import retrieve_future_exception  # noqa: PLC0415
    from dbos._registrations import get_func_info  # noqa: PLC0415
    from dbos._serialization import WorkflowSerializationFormat  # noqa: PLC0415

    name = claimed.runs[0][0]["name"]
    registered = dbos._registry.workflow_info_map[name]
    info = get_func_info(registered)
    assert info is not None
    function = registered.__orig_func
    assert inspect.iscoroutinefunction(function), "execute_claimed runs async workflows"
    serialization = info.serialization_type or WorkflowSerializationFormat.DEFAULT
    for status, args in claimed.runs:
        with (
            DBOSContextSetAuth(status["authenticated_user"], None),
            SetWorkflowID(status["workflow_uuid"]),
        ):
            context = DBOSContext.create_start_workflow_child(get_local_dbos_context())
            context.owner_xid = claimed.owner
            context.serialization_type = serialization
            context.workflow_deadline_epoch_ms = None
            task = asyncio.create_task(
                _execute_workflow_async(
                    dbos, cast("WorkflowStatusInternal", status), function, context, args, {}
                )
            )
        dbos._workflow_tasks.add(task)
        task.add_done_callback(dbos._workflow_tasks.discard)
        task.add_done_callback(retrieve_future_exception)


def sweep(
    conn: sa.Connection,
    application_name: str,
    *,
    now_ms: int,
    answered: Callable[[sa.ColumnElement[str]], sa.ColumnElement[bool]],
) -> int:
    """Enqueue this application's parked runs that are ``answered(run_id)``."""
    woken = conn.execute(
        sa.update(workflow_status)
        .where(
            workflow_status.c.status == PARKED_STATE,
            workflow_status.c.queue_name == INTERNAL_QUEUE,
            workflow_status.c.application_name == application_name,
            answered(workflow_status.c.workflow_uuid),
        )
        .values(status="ENQUEUED", updated_at=now_ms)
    )
    return woken.rowcount


def shift_parked(
    conn: sa.Connection, application_name: str, *, by_ms: int, real_now_ms: int
) -> int:
    """Bring this application's parked runs ``by_ms`` closer to their wake-up (the process's
    clock moved forward: ``_core.times.shift_clock``), and enqueue those now due; returns how many.

    DBOS compares a parked run's ``delay_until_epoch_ms`` with real time, so moving the clock
    moves the delays instead."""
    parked = sa.and_(
        workflow_status.c.status == PARKED_STATE,
        workflow_status.c.queue_name == INTERNAL_QUEUE,
        workflow_status.c.application_name == application_name,
    )
    conn.execute(
        sa.update(workflow_status)
        .where(parked)
        .values(delay_until_epoch_ms=workflow_status.c.delay_until_epoch_ms - by_ms)
    )
    woken = conn.execute(
        sa.update(workflow_status)
        .where(parked, workflow_status.c.delay_until_epoch_ms <= real_now_ms)
        .values(status="ENQUEUED", updated_at=real_now_ms)
    )
    return woken.rowcount


def dbos_default_database(app_name: str) -> str:
    """The SQLite file DBOS (and its CLI) uses for an application with no database URL set."""
    from dbos._dbos_config import _app_name_to_db_name  # noqa: PLC0415 - see the docstring

    return f"{_app_name_to_db_name(app_name)}.sqlite"


def set_internal_queue_polling(seconds: float) -> None:
    """How often this process's DBOS looks for enqueued (woken) runs; call after ``DBOS(...)``."""
    from dbos._dbos import _get_dbos_instance  # noqa: PLC0415 - see the docstring

    queue = _get_dbos_instance()._registry.get_internal_queue()
    queue._polling_interval_sec = seconds


def steps_taken() -> int:
    """How many step ids the run executing here has used so far (0 outside a run): the steps
    numbered up to it are recorded, and ``fork_workflow`` from the next one reuses them."""
    from dbos._context import get_local_dbos_context  # noqa: PLC0415 - see the docstring

    context = get_local_dbos_context()
    if context is None or not context.is_within_workflow():
        return 0
    return max(context.function_id, 0)


def requeue_for_recovery(client: DBOSClient, run_id: str, dead_executor: str) -> bool:
    """Return a PENDING run of ``dead_executor`` to its queue, as DBOS's recovery does.

    The same call as ``dbos._recovery._recover_workflow``; guarded by the executor id, so a run
    that a live executor took meanwhile is left alone. Returns whether the run was requeued.
    """
    requeued: bool = client._sys_db.reenqueue_for_recovery(run_id, [dead_executor], INTERNAL_QUEUE)
    return requeued


def awaited_a_cancelled_run(error: BaseException) -> bool:
    """Whether ``error`` is the one DBOS raises when a caller awaits a cancelled workflow's result."""
    from dbos._error import DBOSAwaitedWorkflowCancelledError  # noqa: PLC0415 - see the docstring

    return isinstance(error, DBOSAwaitedWorkflowCancelledError)
