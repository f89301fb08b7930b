"""The durable schedule: rows of what is done for a request while it waits, claimed once.

A request that declares ``Notify`` gets its rows in the transaction that stores it (``plan``):
``notify`` now, ``remind`` every ``remind_every`` (at most ``max_reminders``), ``escalate`` at each
escalation, and ``deadline`` at its deadline, each send once per channel. Deciding the request
(``settle``, in the deciding transaction) closes the rows still pending and adds a ``decided`` or
``timed_out`` send for each channel the request went out on.

A process claims due rows (``claim``): on Postgres ``FOR UPDATE SKIP LOCKED``, so two processes
never take the same row; on SQLite one conditional UPDATE, serialised by the write lock. A claim
is a lease: a process that dies holding it leaves the row to be claimed again when the lease ends.
Completing (``complete``) is fenced by the owner and the attempt, so a process whose lease ran out
changes nothing. Sends are at-least-once (send, then complete); changes to the request
(escalation, the deadline) commit with their row's completion, so they happen exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from hitl_notebook._db.database import schedule

__all__ = [
    "DB_ACTION",
    "PENDING_ACTIONS",
    "add_sends",
    "claim",
    "complete",
    "due_now",
    "first_receipt",
    "plan",
    "release",
    "retry",
    "settle",
]

DB_ACTION = ""
"""The ``channel`` of rows that change the request rather than send (escalate, deadline)."""
PENDING_ACTIONS = ("notify", "remind", "escalate", "deadline")
"""What a decision makes moot."""


def plan(
    conn: sa.Connection,
    *,
    request_id: str,
    run_id: str,
    notify: dict[str, Any],
    channels: Sequence[str],
    requested_at_ms: int,
    deadline_ms: int | None,
) -> None:
    """Write a new request's schedule (nothing if the rows exist: a replay plans nothing twice)."""
    rows: list[dict[str, Any]] = []

    def add(action: str, n: int, due_ms: int, channel: str, payload: Any = None) -> None:
        rows.append(_row(request_id, run_id, action, n, channel, due_ms, payload))

    for channel in channels:
        add("notify", 1, requested_at_ms, channel)
        every = notify.get("remind_every_s")
        if every:
            for n in range(1, notify.get("max_reminders", 0) + 1):
                due = requested_at_ms + int(every * 1000 * n)
                if deadline_ms is None or due < deadline_ms:
                    add("remind", n, due, channel)
    for n, step in enumerate(notify.get("escalate") or [], start=1):
        due = requested_at_ms + int(step["after_s"] * 1000)
        if deadline_ms is None or due < deadline_ms:
            add("escalate", n, due, DB_ACTION, {"to": step["to"]})
    if deadline_ms is not None:
        add("deadline", 1, deadline_ms, DB_ACTION)
    if rows:
        conn.execute(_INSERT[conn.dialect.name], rows)


def add_sends(
    conn: sa.Connection,
    *,
    request_id: str,
    run_id: str,
    action: str,
    n: int,
    channels: Iterable[str],
    due_ms: int,
    payload: Any = None,
) -> None:
    """Add one send of ``action`` per channel (once: its key is ``<request>:<action>:<n>``)."""
    rows = [_row(request_id, run_id, action, n, channel, due_ms, payload) for channel in channels]
    if rows:
        conn.execute(_INSERT[conn.dialect.name], rows)


def _row(  # noqa: PLR0917 - the columns of one row, in their order
    request_id: str, run_id: str, action: str, n: int, channel: str, due_ms: int, payload: Any
) -> dict[str, Any]:
    """One new schedule row: its key is ``<request>:<action>:<n>``, unclaimed."""
    return {
        "key": f"{request_id}:{action}:{n}",
        "channel": channel,
        "request_id": request_id,
        "run_id": run_id,
        "action": action,
        "due_ms": due_ms,
        "payload": payload,
        "attempts": 0,
    }


def settle(conn: sa.Connection, request_id: str, *, timed_out: bool, at_ms: int) -> None:
    """In the transaction that decides ``request_id``: close its pending rows and add a
    ``decided`` (or ``timed_out``) send on each channel its first message went out on. Nothing
    for a request without a schedule (two statements that find no rows)."""
    closed = conn.execute(
        schedule.update()
        .where(
            schedule.c.request_id == request_id,
            schedule.c.done_ms.is_(None),
            schedule.c.action.in_(PENDING_ACTIONS),
            sa.or_(schedule.c.lease_until_ms.is_(None), schedule.c.lease_until_ms < at_ms),
        )
        .values(done_ms=at_ms, result="cancelled")
    )
    # The channels its first message went out on, or may be going out on now (a send in flight):
    # people who were never told about the request are not told it was decided.
    sent_on = conn.execute(
        sa.select(schedule.c.channel, schedule.c.run_id)
        .where(
            schedule.c.request_id == request_id,
            schedule.c.action == "notify",
            sa.or_(schedule.c.done_ms.is_(None), schedule.c.result == "sent"),
        )
        .distinct()
    ).all()
    if closed.rowcount == 0 and not sent_on:
        return
    add_sends(
        conn,
        request_id=request_id,
        run_id=sent_on[0].run_id if sent_on else "",
        action="timed_out" if timed_out else "decided",
        n=1,
        channels=sorted({row.channel for row in sent_on}),
        due_ms=at_ms,
    )


def due_now(conn: sa.Connection, *, channels: Sequence[str], now_ms: int) -> bool:
    """Whether a row of ``channels`` (or a request change) is due and free to claim: a read, so
    that a process with nothing to do takes no write lock (SQLite) and writes nothing."""
    found = conn.execute(
        sa.select(schedule.c.id)
        .where(
            schedule.c.done_ms.is_(None),
            schedule.c.due_ms <= now_ms,
            schedule.c.channel.in_([DB_ACTION, *channels]),
            sa.or_(schedule.c.lease_until_ms.is_(None), schedule.c.lease_until_ms < now_ms),
        )
        .limit(1)
    ).first()
    return found is not None


def claim(
    conn: sa.Connection,
    *,
    owner: str,
    channels: Sequence[str],
    now_ms: int,
    lease_ms: int,
    limit: int,
) -> list[sa.Row[Any]]:
    """Claim up to ``limit`` due rows of ``channels`` (and the request changes): each comes back
    with its lease and its attempt counted."""
    wanted = [DB_ACTION, *channels]
    due = (
        sa.select(schedule.c.id)
        .where(
            schedule.c.done_ms.is_(None),
            schedule.c.due_ms <= now_ms,
            schedule.c.channel.in_(wanted),
            sa.or_(schedule.c.lease_until_ms.is_(None), schedule.c.lease_until_ms < now_ms),
        )
        .order_by(schedule.c.due_ms)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = conn.execute(
        schedule.update()
        .where(schedule.c.id.in_(due.scalar_subquery()))
        .values(
            lease_owner=owner,
            lease_until_ms=now_ms + lease_ms,
            attempts=schedule.c.attempts + 1,
        )
        .returning(*schedule.c)
    ).all()
    return sorted(claimed, key=lambda row: (row.due_ms, row.id))


def complete(
    conn: sa.Connection,
    row: sa.Row[Any],
    *,
    owner: str,
    at_ms: int,
    result: str,
    receipt: str | None = None,
    error: str | None = None,
) -> bool:
    """Mark a claimed row done, if this owner's lease of this attempt still holds it."""
    done = conn.execute(
        schedule.update()
        .where(*_still_held(row, owner))
        .values(done_ms=at_ms, result=result, receipt=receipt, error=error)
    )
    return done.rowcount == 1


def retry(conn: sa.Connection, row: sa.Row[Any], *, owner: str, due_ms: int, error: str) -> bool:
    """Give a claimed row back, due again at ``due_ms`` (after a failed attempt)."""
    done = conn.execute(
        schedule.update()
        .where(*_still_held(row, owner))
        .values(due_ms=due_ms, lease_owner=None, lease_until_ms=None, error=error)
    )
    return done.rowcount == 1


def _still_held(row: sa.Row[Any], owner: str) -> tuple[sa.ColumnElement[bool], ...]:
    """The fence: the row is not done, and this owner's claim of this attempt still holds it."""
    return (
        schedule.c.id == row.id,
        schedule.c.lease_owner == owner,
        schedule.c.attempts == row.attempts,
        schedule.c.done_ms.is_(None),
    )


def release(conn: sa.Connection, rows: Sequence[sa.Row[Any]], *, owner: str) -> None:
    """Give claimed rows back untried (their attempt uncounted), for any process to claim now."""
    for row in rows:
        conn.execute(
            schedule.update()
            .where(*_still_held(row, owner))
            .values(lease_owner=None, lease_until_ms=None, attempts=row.attempts - 1)
        )


def first_receipt(request_id: str, channel: str) -> sa.Label[Any]:
    """What ``channel`` returned for its first message about ``request_id`` (a column to select
    with the request's row: one query instead of two for each send)."""
    return (
        sa.select(schedule.c.receipt)
        .where(
            schedule.c.key == f"{request_id}:notify:1",
            schedule.c.channel == channel,
        )
        .scalar_subquery()
        .label("first_receipt")
    )


def _insert(dialect: Any) -> Any:
    return dialect.insert(schedule).on_conflict_do_nothing(
        index_elements=[schedule.c.key, schedule.c.channel]
    )


def _inserts() -> dict[str, Any]:
    import sqlalchemy.dialects.postgresql  # noqa: PLC0415 - only the statement builders
    import sqlalchemy.dialects.sqlite  # noqa: PLC0415

    return {
        "postgresql": _insert(sqlalchemy.dialects.postgresql),
        "sqlite": _insert(sqlalchemy.dialects.sqlite),
    }


_INSERT = _inserts()
