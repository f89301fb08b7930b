"""Parking and waking runs: a run that waits long becomes a DELAYED row on DBOS's internal queue
(``park``), and an answer (``wake``, ``waking``), a sweep of answered runs (``sweep``) or a moved
clock (``shift_parked``) makes it ENQUEUED again, for DBOS's queue to dispatch. The park/answer
race is settled here: ``wake`` and ``waking`` lock the run's row first."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, NamedTuple

import sqlalchemy as sa

from hitl_notebook._db.dbos_internals.tables import INTERNAL_QUEUE, PARKED_STATE, workflow_status


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
