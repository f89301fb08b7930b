"""The inbox query: every request waiting for a human, across all processes, as one statement.

It joins the open requests with their run's DBOS state (so a run that is being recovered, ENQUEUED
for a moment, or parked, DELAYED, still shows), with its current status and with the channels that
gave up telling people about it (``hitl_schedule`` rows that ``failed``: rare, so they are grouped
once, not looked up per request). Filters, sort and paging happen in the database; JSON fields
come back as text (see ``inbox``).

Two reads serve a live view without reading rows: ``count_inbox`` (how many wait under a filter,
for which agents) and ``inbox_cursor`` (the change counter of ``_db.changes`` and the states of
the runs shown: when both are as they were, nothing shown has changed).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from hitl_notebook._core.times import duration_seconds, from_ms, now_ms
from hitl_notebook._db.bulk_read import read_tuples
from hitl_notebook._db.changes import changes_seen, changes_total
from hitl_notebook._db.database import fold, requests, runs, schedule, votes
from hitl_notebook._db.dbos_internals import run_is_active, workflow_status
from hitl_notebook._db.request_records import OPEN
from hitl_notebook._db.vote_records import votes_of
from hitl_notebook._store.inbox import Inbox, InboxFilter, InboxItem, SortKey, as_list

__all__ = ["InboxCounts", "InboxCursor", "count_inbox", "inbox_cursor", "query_inbox"]

_SORT_COLUMNS: dict[SortKey, sa.ColumnElement[Any]] = {
    "requested_at": requests.c.requested_at_ms,
    "deadline": requests.c.deadline_ms,
    "agent": requests.c.agent,
    "title": requests.c.title,
}


_EMPTY_TAIL = ((), ())
"""An item's last fields when no channel gave up: its votes (read next) and no channels."""
_new = tuple.__new__

SORT_MEMORY = "64MB"
"""Postgres memory for sorting a whole inbox: with the default 4 MB, 10,000 requests (about 400
bytes a row) sort on disk, 55 ms instead of 44 ms."""


def query_inbox(conn: sa.Connection, spec: InboxFilter, *, whole: bool = False) -> Inbox:
    """Run the inbox query for ``spec`` on ``conn``; ``whole``: it reads every waiting request,
    in a transaction of its own on Postgres (which lets it sort them in ``SORT_MEMORY``)."""
    if whole and conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{SORT_MEMORY}'")
    now = now_ms()
    failed = _not_notified(conn.dialect.name)
    query: sa.Select[Any] = (
        sa.select(
            requests.c.request_id,
            requests.c.run_id,
            requests.c.agent,
            requests.c.kind,
            requests.c.title,
            requests.c.body,
            requests.c.requested_at_ms,
            requests.c.deadline_ms,
            runs.c.agent_status,
            runs.c.agent_detail,
            workflow_status.c.status,
            _json_text(requests.c.options),
            _json_text(requests.c.proposal),
            _json_text(requests.c.assignees),
            sa.literal(now, sa.BigInteger),
            sa.cast(requests.c.spec, sa.Text),
            changes_total(),
            failed.c.channels,
        )
        .select_from(requests)
        .join(workflow_status, workflow_status.c.workflow_uuid == requests.c.run_id)
        .outerjoin(runs, runs.c.run_id == requests.c.run_id)
        .outerjoin(failed, failed.c.request_id == requests.c.request_id)
        .where(requests.c.state == OPEN)
        .where(run_is_active(workflow_status.c.status, conn.dialect.name))
    )
    query = _filtered(query, spec, now, conn.dialect.name)
    column = _SORT_COLUMNS[spec.sort]
    ordering = column.desc() if spec.descending else column.asc()
    if spec.sort == "deadline":
        ordering = ordering.nulls_last()
    query = query.order_by(ordering, requests.c.request_id).offset(spec.offset)
    if spec.limit is not None:
        query = query.limit(spec.limit)
    rows = read_tuples(conn, query)
    # The row is the item's fields in order, up to its rules; then its votes (read next) and
    # the channels that gave up (rare).
    items = [
        _new(InboxItem, row[:16] + (_EMPTY_TAIL if row[17] is None else ((), _channels(row[17]))))
        for row in rows
    ]
    found = Inbox(_with_votes(conn, items, every_open=spec.limit is None), from_ms(now), spec)
    # The counter in the statement's own snapshot: what a live view of these rows starts from.
    found.changes = int(rows[0][16]) if rows else None
    return found


class InboxCounts(NamedTuple):
    """How many requests wait under a filter, and for which agents (without reading them)."""

    total: int
    agents: list[str]
    """The agents with waiting requests under the filter, sorted."""


def count_inbox(conn: sa.Connection, spec: InboxFilter) -> InboxCounts:
    """Count the requests waiting under ``spec`` (its sort and paging aside), per agent."""
    query = _filtered(
        sa.select(requests.c.agent, sa.func.count())
        .select_from(requests)
        .join(workflow_status, workflow_status.c.workflow_uuid == requests.c.run_id)
        .where(requests.c.state == OPEN)
        .where(run_is_active(workflow_status.c.status, conn.dialect.name))
        .group_by(requests.c.agent),
        spec,
        now_ms(),
        conn.dialect.name,
    )
    per_agent: dict[str, int] = {str(a): int(n) for a, n in conn.execute(query)}
    return InboxCounts(sum(per_agent.values()), sorted(per_agent))


class InboxCursor(NamedTuple):
    """What a look for changes of the inbox saw: the change counter (``_db.changes``), and the
    DBOS state of each run asked about (absent: unknown run). Equal cursors: nothing changed."""

    changes: int
    run_states: dict[str, str]


def inbox_cursor(conn: sa.Connection, run_ids: Collection[str]) -> InboxCursor:
    """The inbox's change counter and the states of ``run_ids`` (the rows shown), one query.

    The states cover what DBOS changes by itself (a parked run resuming at its deadline, a run
    being recovered), which the counter does not see.
    """
    if not run_ids:
        return InboxCursor(changes_seen(conn), {})
    rows = conn.execute(
        sa.select(changes_total(), workflow_status.c.workflow_uuid, workflow_status.c.status).where(
            workflow_status.c.workflow_uuid.in_(sorted(run_ids))
        )
    ).all()
    if not rows:
        return InboxCursor(changes_seen(conn), {})
    return InboxCursor(int(rows[0][0]), {str(row[1]): str(row[2]) for row in rows})


def _with_votes(
    conn: sa.Connection, items: list[InboxItem], *, every_open: bool
) -> list[InboxItem]:
    """The items with the votes cast on those that need a quorum (one more query, if any).
    ``every_open``: the items may be every open request, so the votes on open requests are read
    (few rows) rather than 10,000 items' rules looked through."""
    if every_open:
        cast = votes_of(conn, _is_open(votes.c.request_id)) if items else {}
    else:
        voted = [i.request_id for i in items if i.rules_json and '"quorum"' in i.rules_json]
        cast = votes_of(conn, voted)
    if not cast:
        return items
    return [
        item._replace(votes=tuple(cast[item.request_id])) if item.request_id in cast else item
        for item in items
    ]


def _is_open(request_id: sa.ColumnElement[str]) -> sa.Exists:
    return sa.exists().where(requests.c.request_id == request_id, requests.c.state == OPEN)


def _not_notified(dialect: str) -> sa.Subquery:
    """Per request, the channels whose sends about it failed for good, as a JSON array (text);
    only requests with such a failure have a row."""
    distinct = (
        sa.select(schedule.c.request_id, schedule.c.channel)
        .where(schedule.c.result == sa.literal_column("'failed'"))  # the partial index's term
        .distinct()
        .subquery("failed_sends")
    )
    channels: sa.ColumnElement[Any]
    if dialect == "postgresql":
        channels = sa.cast(sa.func.json_agg(distinct.c.channel), sa.Text)
    else:
        channels = sa.func.json_group_array(distinct.c.channel)
    return (
        sa.select(distinct.c.request_id, channels.label("channels"))
        .group_by(distinct.c.request_id)
        .subquery("not_notified")
    )


def _channels(array: str) -> tuple[str, ...]:
    return tuple(sorted(json.loads(array)))


def _json_text(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """A JSON column as text, with a stored JSON null read as SQL NULL."""
    as_text = sa.cast(column, sa.Text)
    return sa.case((as_text == "null", sa.null()), else_=as_text)


def _filtered(query: sa.Select[Any], spec: InboxFilter, now: int, dialect: str) -> sa.Select[Any]:
    if spec.agent is not None:
        query = query.where(requests.c.agent.in_(as_list(spec.agent)))
    if spec.kind is not None:
        query = query.where(requests.c.kind.in_(as_list(spec.kind)))
    if spec.overdue is not None:
        late = sa.and_(requests.c.deadline_ms.is_not(None), requests.c.deadline_ms < now)
        query = query.where(late if spec.overdue else sa.not_(late))
    if spec.older_than is not None:
        assert not isinstance(spec.older_than, datetime)
        seconds = duration_seconds(spec.older_than, what="older_than")
        query = query.where(requests.c.requested_at_ms <= now - int(seconds * 1000))
    if spec.search:
        words = fold(spec.search).split()
        for word in words:
            pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(requests.c.title_folded.like(pattern, escape="\\"))
    if spec.assignee is not None:
        query = query.where(_has_assignee(spec.assignee, dialect))
    return query


def _has_assignee(assignee: str, dialect: str) -> sa.ColumnElement[bool]:
    if dialect == "postgresql":
        as_jsonb = sa.cast(requests.c.assignees, sa.dialects.postgresql.JSONB)
        return as_jsonb.op("?")(assignee)
    member = sa.select(sa.literal(1)).select_from(
        sa.func.json_each(requests.c.assignees).table_valued("value")
    )
    return member.where(sa.column("value") == assignee).exists()
