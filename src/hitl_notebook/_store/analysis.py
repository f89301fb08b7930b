"""Bulk reads for analysis: every run, every status transition, every decision, as plain rows.

Each function is one query whose rows come back as tuples in a fixed column order, ready for a
column-oriented consumer (the pandas frames); nothing per row is built in Python here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hitl_notebook._db.database import answers, requests, runs, statuses
from hitl_notebook._db.dbos_internals import ACTIVE_STATES, workflow_status
from hitl_notebook._db.request_records import DECIDED, OPEN

__all__ = ["Rows", "decision_rows", "history_rows", "run_rows"]


@dataclass(frozen=True)
class Rows:
    """Rows of one bulk read: column names and tuples in that order."""

    columns: tuple[str, ...]
    rows: Sequence[tuple[Any, ...]]


def run_rows(
    conn: sa.Connection,
    agent: str | None = None,
    *,
    waiting: bool | None = None,
    run_id: str | None = None,
) -> Rows:
    """One row per run: current status, the agent's own status, times, open requests (of runs
    that can still be answered), DBOS state, and for a what-if fork its origin. ``waiting``:
    only runs waiting for a human (True) or only the others (False); ``run_id``: only that run."""
    open_requests = (
        sa.select(
            requests.c.run_id,
            sa.func.count().label("open_requests"),
            sa.func.min(requests.c.requested_at_ms).label("waiting_since_ms"),
        )
        .where(requests.c.state == OPEN)
        .group_by(requests.c.run_id)
        .subquery()
    )
    active = workflow_status.c.status.in_(ACTIVE_STATES)
    query = (
        sa.select(
            runs.c.run_id,
            runs.c.agent,
            runs.c.status,
            runs.c.detail,
            runs.c.progress,
            runs.c.started_at_ms,
            runs.c.updated_at_ms,
            runs.c.finished_at_ms,
            sa.case((active, open_requests.c.waiting_since_ms)).label("waiting_since_ms"),
            sa.case((active, open_requests.c.open_requests)).label("open_requests"),
            workflow_status.c.status.label("run_state"),
            runs.c.agent_status,
            runs.c.agent_detail,
            runs.c.forked_from,
            runs.c.forked_at,
        )
        .select_from(runs)
        .outerjoin(open_requests, open_requests.c.run_id == runs.c.run_id)
        .outerjoin(workflow_status, workflow_status.c.workflow_uuid == runs.c.run_id)
        .order_by(runs.c.started_at_ms, runs.c.run_id)
    )
    if agent is not None:
        query = query.where(runs.c.agent == agent)
    if run_id is not None:
        query = query.where(runs.c.run_id == run_id)
    if waiting is not None:
        # COALESCE: a run with no open request has NULL here, and NOT (active AND NULL) is NULL,
        # which would drop every running run from the others.
        is_waiting = sa.and_(active, sa.func.coalesce(open_requests.c.open_requests, 0) > 0)
        query = query.where(is_waiting if waiting else sa.not_(is_waiting))
    return _rows(conn, query)


def history_rows(conn: sa.Connection, run_id: str | None = None) -> Rows:
    """Every status transition (of one run, or of all), in the order they were recorded."""
    query = sa.select(
        statuses.c.run_id,
        statuses.c.agent,
        statuses.c.status,
        statuses.c.detail,
        statuses.c.progress,
        statuses.c.at_ms,
    ).order_by(statuses.c.status_id)
    if run_id is not None:
        query = query.where(statuses.c.run_id == run_id)
    return _rows(conn, query)


def decision_rows(conn: sa.Connection, run_id: str | None = None) -> Rows:
    """Every decided request, with the number of late answers it refused."""
    late = (
        sa.select(answers.c.request_id, sa.func.count().label("late_answers"))
        .where(answers.c.result == "late")
        .group_by(answers.c.request_id)
        .subquery()
    )
    query = (
        sa.select(
            requests.c.request_id,
            requests.c.run_id,
            requests.c.agent,
            requests.c.kind,
            requests.c.title,
            requests.c.outcome,
            requests.c.approved,
            requests.c.value,
            requests.c.proposal,
            requests.c.decided_by,
            requests.c.channel,
            requests.c.comment,
            requests.c.requested_at_ms,
            requests.c.decided_at_ms,
            requests.c.deadline_ms,
            late.c.late_answers,
            requests.c.spec,
        )
        .select_from(requests)
        .outerjoin(late, late.c.request_id == requests.c.request_id)
        .where(requests.c.state == DECIDED)
        .order_by(requests.c.decided_at_ms, requests.c.request_id)
    )
    if run_id is not None:
        query = query.where(requests.c.run_id == run_id)
    return _rows(conn, query)


def _rows(conn: sa.Connection, query: sa.Select[Any]) -> Rows:
    result = conn.execute(query)
    return Rows(tuple(result.keys()), [tuple(row) for row in result])
