"""Statements for answering many requests at once (``_store.answering_many``): their rows and
their runs' states read in one query, the rows locked in one, the decisions written in one.

Each writes what its one-request twin in ``request_records`` writes (``decide_open`` and
``decide``), for requests whose rows the transaction has locked and found open.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa

from hitl_notebook._core.models import Decision
from hitl_notebook._db.database import requests
from hitl_notebook._db.dbos_internals import workflow_status
from hitl_notebook._db.request_records import deciding, decision_parameters

__all__ = [
    "decide_open",
    "load_requests_and_run_states",
    "lock_requests",
    "requests_of_runs",
]


def load_requests_and_run_states(
    conn: sa.Connection, request_ids: Collection[str]
) -> dict[str, tuple[sa.Row[Any], str | None]]:
    """Many requests' rows and their runs' DBOS states, by request id, in one query (an id that
    names no request is not in the dict)."""
    rows = conn.execute(
        sa.select(requests, workflow_status.c.status.label("run_state"))
        .outerjoin(workflow_status, workflow_status.c.workflow_uuid == requests.c.run_id)
        .where(requests.c.request_id.in_(sa.bindparam("request_ids", expanding=True))),
        {"request_ids": list(request_ids)},
    ).all()
    return {row.request_id: (row, row.run_state) for row in rows}


def requests_of_runs(conn: sa.Connection, run_ids: Collection[str]) -> dict[str, list[sa.Row[Any]]]:
    """Every request of each of these runs, oldest first, by run id (none: not in the dict)."""
    found: dict[str, list[sa.Row[Any]]] = {}
    rows = conn.execute(
        sa.select(requests)
        .where(requests.c.run_id.in_(sa.bindparam("run_ids", expanding=True)))
        .order_by(requests.c.requested_at_ms, requests.c.request_id),
        {"run_ids": list(run_ids)},
    )
    for row in rows:
        found.setdefault(row.run_id, []).append(row)
    return found


def lock_requests(conn: sa.Connection, request_ids: Collection[str]) -> dict[str, Any]:
    """Where these requests stand (``request_id``, ``state``, ``deadline_ms``), their rows locked
    until the transaction ends (in the order of their ids, so two transactions that lock some of
    the same rows never wait for each other in a circle; SQLite writers hold the database's lock
    from their BEGIN)."""
    rows = conn.execute(
        sa.select(requests.c.request_id, requests.c.state, requests.c.deadline_ms)
        .where(requests.c.request_id.in_(sa.bindparam("request_ids", expanding=True)))
        .order_by(requests.c.request_id)
        .with_for_update(),
        {"request_ids": sorted(request_ids)},
    ).all()
    return {row.request_id: row for row in rows}


def decide_open(conn: sa.Connection, decisions: Sequence[Decision]) -> None:
    """Decide many open requests whose rows this transaction locked (``lock_requests``) and
    found open and before their deadline: one statement, run once per decision. The caller
    settles their schedules and notes the change."""
    if decisions:
        conn.execute(_DECIDE_OPEN, [decision_parameters(d) for d in decisions])


_DECIDE_OPEN = deciding()
