"""Taking decisions: what a waiting run collects when it looks at its requests.

A request is decided by an answer (``Store.respond``) or, once its deadline passes, by the run
itself: it is then decided as timed out, with the request's declared default if it has one. Each
decision taken is published in the run's status history ("resumed", or "timed_out"), once.

A run that finds its requests closed by a cancel (``Store.cancel``), or its DBOS row cancelled
(``dbos workflow cancel``), stops waiting at once: ``Cancelled`` unwinds its code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

import sqlalchemy as sa

from hitl_notebook._core.answers import at_deadline, decision_for
from hitl_notebook._core.models import Decision, Sender, Status
from hitl_notebook._core.times import now_ms
from hitl_notebook._db.changes import note_change
from hitl_notebook._db.database import Database, relaxed, requests
from hitl_notebook._db.dbos_internals import Cancelled
from hitl_notebook._db.request_records import (
    CANCELLED,
    DECIDED,
    close_for_cancel,
    decide,
    load_request,
    load_requests,
    request_from_row,
    taken_status,
)
from hitl_notebook._db.run_records import append_status

__all__ = ["collect", "stop_cancelled"]


def collect(database: Database, request_ids: Sequence[str]) -> dict[str, Decision]:
    """The decisions taken so far; a request past its deadline is decided as timed out.

    One query, and writes (the timeouts, the "resumed" statuses) only when there is news. Each
    write stands on its own (a look that fails halfway is simply made again), so on Postgres
    each is its own transaction: one round trip. The statuses that say a decision was taken
    are written again by a run that replays its look, so on Postgres their commit does not
    wait for the disk (``relaxed``): a crash of the database server that loses one also loses
    what the run did after it, which it then does again.
    """
    at = now_ms()
    taken: list[tuple[Decision, sa.Row[Any]]] = []
    with database.autocommit.begin() as conn:
        rows = {row.request_id: row for row in _look(conn, request_ids)}
        if any(row.state == CANCELLED for row in rows.values()):
            raise Cancelled(next(iter(rows.values())).run_id)
        for request_id in request_ids:
            row = rows.get(request_id)
            assert row is not None, f"request {request_id} vanished"
            decided = _decision_or_timeout(conn, row, at)
            if decided is not None:
                taken.append(decided)
        if taken and database.is_sqlite:  # SQLite: in the look's transaction
            _append_decided_statuses(conn, taken, at)
    if taken and not database.is_sqlite:
        with database.engine.begin() as conn:
            relaxed(conn)
            _append_decided_statuses(conn, taken, at)
    return {decision.request_id: decision for decision, _ in taken}


def _look(conn: sa.Connection, request_ids: Sequence[str]) -> Sequence[sa.Row[Any]]:
    if len(request_ids) == 1:  # the usual wait: one request, read by its key
        return conn.execute(_LOOK_ONE, {"looked_id": request_ids[0]}).all()
    return load_requests(conn, request_ids)


_LOOK_ONE = sa.select(requests).where(requests.c.request_id == sa.bindparam("looked_id"))


def stop_cancelled(database: Database, run_id: str, request_ids: Sequence[str]) -> NoReturn:
    """End the wait of a run whose DBOS row was cancelled: close its open requests, publish
    "cancelled" (once), and unwind its code."""
    at = now_ms()
    with database.engine.begin() as conn:
        close_for_cancel(conn, run_id, by=None, channel="cancel", at_ms=at)
        agent = conn.execute(
            sa.select(requests.c.agent).where(requests.c.request_id.in_(list(request_ids)))
        ).scalar()
        append_status(
            conn,
            run_id=run_id,
            key=Status.CANCELLED.value,
            agent=agent or "",
            status=Status.CANCELLED.value,
            detail="cancelled",
            progress=None,
            at_ms=at,
        )
        note_change(conn, run_id)
    raise Cancelled(run_id)


def _decision_or_timeout(
    conn: sa.Connection, row: sa.Row[Any], at: int
) -> tuple[Decision, sa.Row[Any]] | None:
    """The request's decision (with its row), deciding it as timed out if it is past its
    deadline; None while it is open."""
    request_id = row.request_id
    if row.state != DECIDED and row.deadline_ms is not None and at >= row.deadline_ms:
        request = request_from_row(row)
        timeout = decision_for(request, at_deadline(request), Sender.deadline(at))
        timed_out = decide(conn, timeout, before_deadline=False)
        if timed_out is not None:
            note_change(conn, row.run_id)
        reread = timed_out or load_request(conn, request_id)
        assert reread is not None
        row = reread
    if row.state != DECIDED:
        return None
    decision = request_from_row(row).decision
    assert decision is not None
    return decision, row


def _append_decided_statuses(
    conn: sa.Connection, taken: Sequence[tuple[Decision, sa.Row[Any]]], at_ms: int
) -> None:
    for decision, row in taken:
        status = taken_status(decision, agent=row.agent, title=row.title, at_ms=at_ms)
        append_status(conn, **status)
