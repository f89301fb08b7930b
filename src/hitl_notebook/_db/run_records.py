"""Reading and writing runs: their status transitions, their current row, their failure, DBOS's
state of a run, and whether the process that owns a run is alive.

Plain functions on a SQLAlchemy connection, idempotent like those of ``request_records``: a
status transition is appended once per ``(run_id, key)``, so a replayed step adds nothing.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
import sqlalchemy.dialects.postgresql
import sqlalchemy.dialects.sqlite

from hitl_notebook._core.failures import Failure
from hitl_notebook._core.models import FINAL_STATUSES, WAITING_STATUSES, RequestState, StatusEvent
from hitl_notebook._core.times import from_ms, real_now_ms
from hitl_notebook._db.bulk_insert import insert_new
from hitl_notebook._db.changes import change_shard, note_change, noting_change
from hitl_notebook._db.database import answers, executors, requests, runs, statuses
from hitl_notebook._db.dbos_internals import workflow_status

STALE_AFTER_MS = 30_000
"""A process's claim on its executor id is stale (free again) when its heartbeat is older."""


def run_state(conn: sa.Connection, run_id: str) -> str | None:
    """DBOS's state of a run (PENDING, SUCCESS, ...), None for an unknown id."""
    state = conn.execute(
        sa.select(workflow_status.c.status).where(workflow_status.c.workflow_uuid == run_id)
    ).scalar_one_or_none()
    return None if state is None else str(state)


def run_states(conn: sa.Connection, run_ids: Collection[str]) -> dict[str, str]:
    """DBOS's state of each of these runs, by run id (an unknown id is not in the dict)."""
    rows = conn.execute(
        sa.select(workflow_status.c.workflow_uuid, workflow_status.c.status).where(
            workflow_status.c.workflow_uuid.in_(sa.bindparam("run_ids", expanding=True))
        ),
        {"run_ids": list(run_ids)},
    )
    return {str(run_id): str(state) for run_id, state in rows}


def decided_since(conn: sa.Connection, since_ms: int) -> list[tuple[str, str]]:
    """The requests decided (or closed by a cancel) at or after ``since_ms``, as (run id,
    request id) pairs."""
    found = conn.execute(
        sa.select(requests.c.run_id, requests.c.request_id).where(
            requests.c.decided_at_ms >= since_ms
        )
    )
    return [(str(run_id), str(request_id)) for run_id, request_id in found]


def append_status(
    conn: sa.Connection,
    *,
    run_id: str,
    key: str,
    agent: str,
    status: str,
    detail: str | None,
    progress: float | None,
    at_ms: int,
) -> None:
    """Append a status transition (once per ``(run_id, key)``, so a replay adds nothing).

    On Postgres this is one statement, so it needs no transaction of its own (see
    ``Database.autocommit``); on SQLite, two. An agent's own status, when new, is put on the
    run's open requests (the inbox reads it there) and, if it has any, noted as a change of the
    inbox, after it.
    """
    transition = status_parameters(
        run_id=run_id,
        key=key,
        agent=agent,
        status=status,
        detail=detail,
        progress=progress,
        at_ms=at_ms,
    )
    if conn.dialect.name == "postgresql":
        new = conn.execute(_APPEND_STATUS_POSTGRES, transition).first() is not None
    else:
        new = conn.execute(_ADD_STATUS_SQLITE, transition).first() is not None
        if new:
            conn.execute(
                _SET_RUN_STATUS_SQLITE,
                {**transition, "started_at_ms": at_ms, "updated_at_ms": at_ms},
            )
    if new and transition["agent_status"] is not None:  # the inbox shows the agent's own status
        _show_on_open_requests(conn, run_id, status, detail)


def status_parameters(
    *,
    run_id: str,
    key: str,
    agent: str,
    status: str,
    detail: str | None,
    progress: float | None,
    at_ms: int,
) -> dict[str, Any]:
    """The parameters of the statement that appends a status transition (``appending_status``
    on Postgres): ``append_status``'s keywords and the run's row they set."""
    return {
        "run_id": run_id,
        "agent": agent,
        "status": status,
        "detail": detail,
        "progress": progress,
        "key": key,
        "at_ms": at_ms,
        "finished_at_ms": at_ms if status in FINAL_STATUSES else None,
        # The agent's own statuses stay visible while the SDK says it waits (see ``runs``).
        "agent_status": None if status in WAITING_STATUSES else status,
        "agent_detail": None if status in WAITING_STATUSES else detail,
    }


def _show_on_open_requests(
    conn: sa.Connection, run_id: str, status: str, detail: str | None
) -> None:
    """Put the agent's own status on the run's open requests, where the inbox reads it, and
    count a change of the inbox if it has any (on Postgres in one statement)."""
    shown = {"of_run": run_id, "shown_status": status, "shown_detail": detail}
    if conn.dialect.name == "postgresql":
        conn.execute(_SHOW_AND_NOTE_POSTGRES, shown | {"in_shard": change_shard(run_id)})
    elif conn.execute(_SHOW_ON_OPEN_REQUESTS, shown).rowcount:
        note_change(conn, run_id)


def append_new_statuses(conn: sa.Connection, transitions: Sequence[dict[str, Any]]) -> None:
    """``append_status`` for many transitions of the SDK's own waiting statuses (``answered``)
    whose keys are new (written in the transaction that decides their request), in two
    statements: ``transitions`` hold ``append_status``'s keywords."""
    if not transitions:
        return
    assert all(t["status"] in WAITING_STATUSES for t in transitions)
    insert_new(conn, statuses, transitions, key=["run_id", "key"])
    last = {t["run_id"]: t for t in transitions}  # one row per run: a run's row is set once
    current = [
        {
            "run_id": t["run_id"],
            "agent": t["agent"],
            "status": t["status"],
            "detail": t["detail"],
            "progress": t["progress"],
            "started_at_ms": t["at_ms"],
            "updated_at_ms": t["at_ms"],
            "finished_at_ms": None,
            "agent_status": None,
            "agent_detail": None,
        }
        for t in last.values()
    ]
    insert_new(conn, runs, current, key=["run_id"], on_conflict=_updating_current)


_RUN_CURRENT = ("status", "detail", "progress", "updated_at_ms", "finished_at_ms")
"""The columns of a run's row that each status transition updates."""


_AGENT_CURRENT = ("agent_status", "agent_detail")
"""The columns of a run's row that only the agent's own transitions update."""


def _updating_current(run: Any) -> Any:
    """An INSERT into hitl_runs that updates the run's current status if its row exists, and
    the agent's own status when the transition is one (its ``agent_status`` is not NULL)."""
    agents_own = run.excluded.agent_status.is_not(None)
    return run.on_conflict_do_update(
        index_elements=[runs.c.run_id],
        set_={column: run.excluded[column] for column in _RUN_CURRENT}
        | {
            column: sa.case((agents_own, run.excluded[column]), else_=runs.c[column])
            for column in _AGENT_CURRENT
        },
    )


_ADD_STATUS_SQLITE = (
    sa.dialects.sqlite.insert(statuses)
    .on_conflict_do_nothing(index_elements=[statuses.c.run_id, statuses.c.key])
    .returning(statuses.c.status_id)
)


_SET_RUN_STATUS_SQLITE = _updating_current(sa.dialects.sqlite.insert(runs))


_SHOW_ON_OPEN_REQUESTS = (
    requests.update()
    .where(
        requests.c.run_id == sa.bindparam("of_run"),
        requests.c.state == RequestState.OPEN.value,
    )
    .values(agent_status=sa.bindparam("shown_status"), agent_detail=sa.bindparam("shown_detail"))
)
"""The agent's own status, on the run's open requests."""


def _build_show_and_note_postgres() -> Any:
    """``_SHOW_ON_OPEN_REQUESTS`` and, if it changed a request, ``note_change``: one statement."""
    shown = _SHOW_ON_OPEN_REQUESTS.returning(requests.c.request_id).cte("shown")
    return noting_change(sa.exists(sa.select(shown.c.request_id))).add_cte(shown)


_SHOW_AND_NOTE_POSTGRES = _build_show_and_note_postgres()


def appending_status(when: sa.ColumnElement[bool], *, prefix: str = "") -> Any:
    """``append_status`` as one Postgres statement, or a part of a larger one (a CTE), that
    appends only ``when`` holds: the transition, then (if it was new) the run's row. Its
    parameters are the keys ``status_parameters`` gives, each after ``prefix`` (so that none is
    taken for a column that an UPDATE in the larger statement should set)."""

    def parameter(column: sa.Column[Any]) -> sa.BindParameter[Any]:
        return sa.bindparam(prefix + column.name, type_=column.type)

    transition = {
        column: parameter(statuses.c[column])
        for column in ("run_id", "key", "agent", "status", "detail", "progress", "at_ms")
    }
    appended = (
        sa.dialects.postgresql.insert(statuses)
        .from_select(list(transition), sa.select(*transition.values()).where(when))
        .on_conflict_do_nothing(index_elements=[statuses.c.run_id, statuses.c.key])
        .returning(statuses.c.run_id)
        .cte("appended")
    )
    run = sa.dialects.postgresql.insert(runs).from_select(
        [
            "run_id",
            "agent",
            *_RUN_CURRENT[:3],
            "started_at_ms",
            "updated_at_ms",
            "finished_at_ms",
            *_AGENT_CURRENT,
        ],
        sa.select(
            appended.c.run_id,
            transition["agent"],
            transition["status"],
            transition["detail"],
            transition["progress"],
            transition["at_ms"],
            transition["at_ms"],
            parameter(runs.c.finished_at_ms),
            *(parameter(runs.c[column]) for column in _AGENT_CURRENT),
        ),
    )
    return _updating_current(run).add_cte(appended)


_APPEND_STATUS_POSTGRES = appending_status(sa.true()).returning(runs.c.run_id)
"""``append_status`` on Postgres, returning the run's id if the transition was new."""


def append_first_statuses(
    conn: sa.Connection,
    run_ids: Sequence[str],
    *,
    key: str,
    agent: str,
    status: str,
    detail: str | None,
    at_ms: int,
) -> None:
    """``append_status`` for many new runs at once (their first transition, one of the agent's
    own statuses, not a final one): two statements.

    A run that has a row already keeps it (its transition is appended once, as always).
    """
    if not run_ids:
        return
    transitions = [
        {
            "run_id": run_id,
            "key": key,
            "agent": agent,
            "status": status,
            "detail": detail,
            "progress": None,
            "at_ms": at_ms,
        }
        for run_id in run_ids
    ]
    insert_new(conn, statuses, transitions, key=["run_id", "key"])
    current = [
        {
            "run_id": run_id,
            "agent": agent,
            "status": status,
            "detail": detail,
            "progress": None,
            "started_at_ms": at_ms,
            "updated_at_ms": at_ms,
            "finished_at_ms": None,
            "agent_status": status,
            "agent_detail": detail,
        }
        for run_id in run_ids
    ]
    insert_new(conn, runs, current, key=["run_id"])


def append_event(
    conn: sa.Connection, *, run_id: str, key: str, agent: str, event: str, detail: str, at_ms: int
) -> None:
    """Add a line to a run's history (once per ``key``) without changing its current status:
    what happened around the run while it waited (a reminder sent, an escalation)."""
    conn.execute(
        _ADD_EVENT[conn.dialect.name],
        {
            "run_id": run_id,
            "key": key,
            "agent": agent,
            "status": event,
            "detail": detail,
            "progress": None,
            "at_ms": at_ms,
        },
    )


_ADD_EVENT = {
    "postgresql": sa.dialects.postgresql.insert(statuses).on_conflict_do_nothing(
        index_elements=[statuses.c.run_id, statuses.c.key]
    ),
    "sqlite": sa.dialects.sqlite.insert(statuses).on_conflict_do_nothing(
        index_elements=[statuses.c.run_id, statuses.c.key]
    ),
}


def record_failure(conn: sa.Connection, run_id: str, failure: Failure) -> None:
    """Keep what a failed run's exception was (its status says "failed")."""
    conn.execute(runs.update().where(runs.c.run_id == run_id).values(failure=failure))


def link_fork(conn: sa.Connection, run_id: str, *, forked_from: str, forked_at: str) -> None:
    """Record that the run (its row written already) is a what-if fork of ``forked_from`` at
    its request ``forked_at``."""
    conn.execute(
        runs.update()
        .where(runs.c.run_id == run_id)
        .values(forked_from=forked_from, forked_at=forked_at)
    )


def fork_origin(conn: sa.Connection, run_id: str) -> tuple[str, str] | None:
    """The run and the request a what-if fork was forked from and at; None for any other run."""
    row = conn.execute(
        sa.select(runs.c.forked_from, runs.c.forked_at).where(runs.c.run_id == run_id)
    ).first()
    if row is None or row.forked_from is None:
        return None
    return str(row.forked_from), str(row.forked_at)


def forget_run(conn: sa.Connection, run_id: str) -> None:
    """Remove what the SDK stored of a run that never started (a fork DBOS refused)."""
    for table in (requests, answers, statuses, runs):
        conn.execute(table.delete().where(table.c.run_id == run_id))


def run_version(conn: sa.Connection, run_id: str) -> str | None:
    """The application version a run executes under (None for an unknown run)."""
    version = conn.execute(
        sa.select(workflow_status.c.application_version).where(
            workflow_status.c.workflow_uuid == run_id
        )
    ).scalar_one_or_none()
    return None if version is None else str(version)


def load_failure(conn: sa.Connection, run_id: str) -> Failure | None:
    """What a failed run's exception was, if the run recorded it."""
    failure: Failure | None = conn.execute(
        sa.select(runs.c.failure).where(runs.c.run_id == run_id)
    ).scalar_one_or_none()
    return failure


def history(conn: sa.Connection, run_id: str) -> list[StatusEvent]:
    """A run's status transitions, in order."""
    rows = conn.execute(
        sa.select(statuses).where(statuses.c.run_id == run_id).order_by(statuses.c.status_id)
    ).all()
    return [_status_event(row) for row in rows]


def latest_status(conn: sa.Connection, run_id: str) -> StatusEvent | None:
    """A run's current status."""
    row = conn.execute(
        sa.select(statuses)
        .where(statuses.c.run_id == run_id)
        .order_by(statuses.c.status_id.desc())
        .limit(1)
    ).first()
    return _status_event(row) if row else None


def _status_event(row: sa.Row[Any]) -> StatusEvent:
    return StatusEvent(
        run_id=row.run_id,
        agent=row.agent,
        status=row.status,
        detail=row.detail,
        progress=row.progress,
        at=from_ms(row.at_ms),
    )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_running(conn: sa.Connection, executor_id: str) -> bool:
    """Whether a live process holds ``executor_id`` (a fresh heartbeat and, on this host, a pid)."""
    row = conn.execute(sa.select(executors).where(executors.c.executor_id == executor_id)).first()
    if row is None or row.released or real_now_ms() - int(row.heartbeat_at_ms) > STALE_AFTER_MS:
        return False
    return row.host != socket.gethostname() or pid_alive(int(row.pid))
