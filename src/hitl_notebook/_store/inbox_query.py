"""The inbox query: every request waiting for a human, across all processes, as one statement.

It joins the open requests with their run's DBOS state (so a run that is being recovered, ENQUEUED
for a moment, or parked, DELAYED, still shows); the run's own status is kept on the request's
row. Filters, sort and paging happen in the database (a whole inbox on Postgres is sorted here,
see ``_sorts_here``); JSON fields come back as text (see ``inbox``). What few items have is read
next, for those only: the votes on a quorum request, and the channels that gave up telling people
about it (``hitl_schedule`` rows that ``failed``).

Two reads serve a live view without reading rows: ``count_inbox`` (how many wait under a filter,
for which agents) and ``inbox_cursor`` (the change counter of ``_db.changes`` and the states of
the runs shown: when both are as they were, nothing shown has changed).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from itertools import repeat
from operator import add, itemgetter
from typing import Any, NamedTuple

import sqlalchemy as sa

from hitl_notebook._core.collector import collector_paused
from hitl_notebook._core.times import duration_seconds, from_ms, now_ms
from hitl_notebook._db.bulk_read import read_tuples
from hitl_notebook._db.changes import changes_seen, changes_total
from hitl_notebook._db.database import fold, requests, schedule, votes
from hitl_notebook._db.dbos_internals import run_is_active, workflow_status
from hitl_notebook._db.request_records import OPEN
from hitl_notebook._db.vote_records import votes_of
from hitl_notebook._store.inbox import Inbox, InboxFilter, InboxItem, SortKey, as_list

__all__ = [
    "InboxCounts",
    "InboxCursor",
    "count_inbox",
    "inbox_cursor",
    "query_inbox",
    "sorts_in_database",
]

_SORT_COLUMNS: dict[SortKey, sa.ColumnElement[Any]] = {
    "requested_at": requests.c.requested_at_ms,
    "deadline": requests.c.deadline_ms,
    "agent": requests.c.agent,
    "title": requests.c.title,
}


_EMPTY_TAIL = ((), ())
"""An item's last fields, its votes and the channels that gave up: read next, for the few."""
_new = tuple.__new__

SORT_MEMORY = "64MB"
"""Postgres memory for sorting a whole inbox: with the default 4 MB, 10,000 requests (about 400
bytes a row) sort on disk, 55 ms instead of 44 ms."""


def query_inbox(conn: sa.Connection, spec: InboxFilter, *, whole: bool = False) -> Inbox:
    """Run the inbox query for ``spec`` on ``conn``; ``whole``: the database sorts every waiting
    request (``sorts_in_database``), in a transaction of its own on Postgres (which lets it sort
    them in ``SORT_MEMORY``)."""
    if whole and conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{SORT_MEMORY}'")
    now = now_ms()
    # Read before the rows: a change committed in between is seen again at the next look,
    # never missed.
    changes = changes_seen(conn)
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
            requests.c.agent_status,
            requests.c.agent_detail,
            workflow_status.c.status,
            _json_text(requests.c.options),
            _json_text(requests.c.proposal),
            _json_text(requests.c.assignees),
            sa.literal(now, sa.BigInteger),
            sa.cast(sa.func.coalesce(requests.c.rules, requests.c.spec), sa.Text),
        )
        .select_from(requests)
        .join(workflow_status, workflow_status.c.workflow_uuid == requests.c.run_id)
        .where(requests.c.state == OPEN)
        .where(run_is_active(workflow_status.c.status, conn.dialect.name))
    )
    query = _filtered(query, spec, now, conn.dialect.name)
    sort_here = _sorts_here(spec, conn.dialect.name)
    if not sort_here:
        query = _ordered(query, spec, conn.dialect.name).offset(spec.offset)
    if spec.limit is not None:
        query = query.limit(spec.limit)
    with collector_paused():  # tens of thousands of tuples, none of them garbage
        rows = read_tuples(conn, query)
        if sort_here:
            rows = _sorted(rows, _ROW_FIELD[spec.sort], descending=spec.descending)
        # The row is the item's fields in order, up to its rules; its votes and the channels
        # that gave up are read next, for the few items that have them.
        items = list(map(_new, repeat(InboxItem), map(add, rows, repeat(_EMPTY_TAIL))))
    found = Inbox(_with_extras(conn, items, every_open=spec.limit is None), from_ms(now), spec)
    found.changes = changes
    return found


_ROW_FIELD: dict[SortKey, int] = {"requested_at": 6, "deadline": 7}
"""The sort keys whose column a row holds as a number: where it is in the row."""


def _sorts_here(spec: InboxFilter, dialect: str) -> bool:
    """Whether to sort the rows here rather than in the database: the whole inbox on Postgres by
    a time (10,000 rows of 400 bytes sort there in about 10 ms, their keys here in 2 ms)."""
    whole = spec.limit is None and spec.offset == 0
    return whole and dialect == "postgresql" and spec.sort in _ROW_FIELD


def _ordered(query: sa.Select[Any], spec: InboxFilter, dialect: str) -> sa.Select[Any]:
    """The query in the inbox's order: by the sort column (nulls last), then by id, compared
    as code points on every database (as ``_sorted`` compares them)."""
    column = _SORT_COLUMNS[spec.sort]
    ordering = column.desc() if spec.descending else column.asc()
    if spec.sort == "deadline":
        ordering = ordering.nulls_last()
    request_id = requests.c.request_id
    return query.order_by(
        ordering, request_id.collate("C") if dialect == "postgresql" else request_id
    )


def _sorted(rows: list[tuple[Any, ...]], field: int, *, descending: bool) -> list[tuple[Any, ...]]:
    """``rows`` in the order ``_ordered`` gives, by the number at ``field``."""
    timed = [row for row in rows if row[field] is not None]
    if descending:  # by id, then by time: Python's sorts are stable, so ties keep the id order
        timed.sort(key=itemgetter(0))
        timed.sort(key=itemgetter(field), reverse=True)
    else:
        timed.sort(key=itemgetter(field, 0))
    if len(timed) == len(rows):
        return timed
    return timed + sorted((row for row in rows if row[field] is None), key=itemgetter(0))


def sorts_in_database(spec: InboxFilter, dialect: str) -> bool:
    """Whether reading ``spec`` has the database sort every waiting request (then, on Postgres,
    in a transaction of its own with ``SORT_MEMORY``: see ``query_inbox``'s ``whole``)."""
    return spec.limit is None and not _sorts_here(spec, dialect)


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


def _with_extras(
    conn: sa.Connection, items: list[InboxItem], *, every_open: bool
) -> list[InboxItem]:
    """The items with the votes cast on those that need a quorum and the channels that gave up
    telling people (a query each, for the few). ``every_open``: the items may be every open
    request, so what concerns open requests is read (few rows) rather than 10,000 items looked
    through."""
    if not items:
        return items
    if every_open:
        cast = votes_of(conn, _is_open(votes.c.request_id))
        failed = _not_notified(conn, _is_open(schedule.c.request_id))
    else:
        voted = [i.request_id for i in items if i.rules_json and '"quorum"' in i.rules_json]
        cast = votes_of(conn, voted)
        failed = _not_notified(conn, schedule.c.request_id.in_([i.request_id for i in items]))
    if not cast and not failed:
        return items
    return [
        item._replace(
            votes=tuple(cast.get(item.request_id, ())),
            not_notified=failed.get(item.request_id, ()),
        )
        if item.request_id in cast or item.request_id in failed
        else item
        for item in items
    ]


def _is_open(request_id: sa.ColumnElement[str]) -> sa.Exists:
    return sa.exists().where(requests.c.request_id == request_id, requests.c.state == OPEN)


def _not_notified(conn: sa.Connection, which: sa.ColumnElement[bool]) -> dict[str, tuple[str, ...]]:
    """Per request (of those ``which`` selects), the channels whose sends about it failed for
    good, by name; only requests with such a failure are in the dict."""
    failed = conn.execute(
        sa.select(schedule.c.request_id, schedule.c.channel)
        .where(schedule.c.result == sa.literal_column("'failed'"))  # the partial index's term
        .where(which)
        .distinct()
    )
    channels: dict[str, list[str]] = {}
    for request_id, channel in failed:
        channels.setdefault(request_id, []).append(channel)
    return {request_id: tuple(sorted(names)) for request_id, names in channels.items()}


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
