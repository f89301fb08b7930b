"""The inbox's change counter: one number that grows with every write that changes what the inbox
shows, so a live inbox knows in one tiny read whether it must read again.

Every writer of something the inbox shows notes it (``note_change``) in the transaction that
writes it, or after that transaction commits (never before): a request stored, decided or
cancelled, a vote, a send that failed for good (``not notified``), new assignees, a run parked or
woken, the agent's own status of a run that waits. A reader reads the counter (``changes_seen``)
*before* it reads the inbox; if the counter has not moved at its next look, nothing it showed has
changed. Counting in the same transaction as the write is what makes it exact: a counter read
after a write committed includes it.

The counter is ``CHANGE_SHARDS`` rows, each bumped by the writers of the keys (run or request ids) that
hash to it, and read as their sum: two Postgres transactions that bump a row wait for each other
until one commits, so one row would serialise every asking, parking and answering process.
"""

from __future__ import annotations

import zlib
from collections.abc import Collection

import sqlalchemy as sa

from hitl_notebook._db.database import CHANGE_SHARDS, changes

__all__ = [
    "change_shard",
    "changes_seen",
    "changes_total",
    "note_change",
    "note_changes",
    "noting_change",
]


def note_change(conn: sa.Connection, key: str) -> None:
    """Count a change of what the inbox shows, about ``key`` (a run or request id), in ``conn``'s
    transaction. Make it the transaction's last write: a transaction that locks a run's DBOS
    row after it would wait on the counter's row in the order opposite to one that parks."""
    conn.execute(_BUMP, {"in_shard": change_shard(key)})


def note_changes(conn: sa.Connection, keys: Collection[str]) -> None:
    """``note_change`` for many keys: each shard once, in order (so two transactions that note
    several never wait for each other in a circle)."""
    shards = sorted({change_shard(key) for key in keys})
    if shards:
        conn.execute(_BUMP, [{"in_shard": shard} for shard in shards])


def noting_change(when: sa.ColumnElement[bool]) -> sa.Update:
    """``note_change`` as a part of a larger statement, counting only ``when`` holds; its
    parameter ``in_shard`` is the key's ``change_shard``."""
    return _BUMP.where(when)


def change_shard(key: str) -> int:
    """Which row of the counter a change about ``key`` bumps."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % CHANGE_SHARDS


_BUMP = (
    changes.update().where(changes.c.shard == sa.bindparam("in_shard")).values(n=changes.c.n + 1)
)


def changes_total() -> sa.ScalarSelect[int]:
    """The counter, as a scalar subquery (to read it in the statement of another read)."""
    total = sa.cast(sa.func.coalesce(sa.func.sum(changes.c.n), 0), sa.BigInteger)
    return sa.select(total).scalar_subquery()  # Postgres sums to NUMERIC: a Decimal each row


def changes_seen(conn: sa.Connection) -> int:
    """The counter now: it has grown at the next look if anything the inbox shows changed."""
    return int(conn.execute(sa.select(changes_total())).scalar_one())
