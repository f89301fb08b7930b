"""Reading and writing the votes on quorum requests (table ``hitl_votes``), and the row lock a
vote takes first.

A vote is one transaction that starts with ``lock_open``: a conditional UPDATE of the request's
row (it changes nothing, but takes the row's lock on Postgres and the write lock on SQLite, and
touches only an open request). Every vote on the same request then waits for the one before it to
commit and counts its vote: counting without the lock first (insert, then count) left 243 of 300
requests open with two approvals on Postgres, each of two concurrent votes counting only itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlalchemy.dialects.postgresql
import sqlalchemy.dialects.sqlite

from hitl_notebook._core.quorum import Ballot
from hitl_notebook._core.times import from_ms, to_ms
from hitl_notebook._db.database import requests, votes
from hitl_notebook._db.request_records import OPEN

__all__ = ["insert_vote", "load_votes", "lock_open", "votes_of"]


def lock_open(conn: sa.Connection, request_id: str) -> bool:
    """Lock the row of request ``request_id`` for this transaction if it is open; False if it is
    not (decided, cancelled, or unknown). Call it before reading anything a vote counts."""
    touched = conn.execute(
        requests.update()
        .where(requests.c.request_id == request_id, requests.c.state == OPEN)
        .values(state=requests.c.state)
    )
    return touched.rowcount == 1


def insert_vote(conn: sa.Connection, request_id: str, run_id: str, ballot: Ballot) -> bool:
    """Store ``ballot``; False (nothing stored) if its voter has voted on this request already."""
    inserted = conn.execute(
        _INSERT_VOTE[conn.dialect.name],
        {
            "request_id": request_id,
            "voter": ballot.voter,
            "run_id": run_id,
            "approve": ballot.approve,
            "comment": ballot.comment,
            "channel": ballot.channel,
            "at_ms": to_ms(ballot.at),
        },
    )
    return inserted.first() is not None


def load_votes(conn: sa.Connection, request_id: str) -> list[Ballot]:
    """The votes on one request, oldest first."""
    return votes_of(conn, [request_id]).get(request_id, [])


def votes_of(
    conn: sa.Connection, request_ids: Sequence[str] | sa.ColumnElement[bool]
) -> dict[str, list[Ballot]]:
    """The votes on these requests (their ids, or a condition on the vote's ``request_id``) by
    request id (oldest first; none: not in the dict)."""
    found: dict[str, list[Ballot]] = {}
    if not isinstance(request_ids, sa.ColumnElement):
        if not request_ids:
            return found
        request_ids = votes.c.request_id.in_(list(request_ids))
    rows = conn.execute(sa.select(votes).where(request_ids).order_by(votes.c.at_ms, votes.c.voter))
    for row in rows:
        found.setdefault(row.request_id, []).append(ballot_from_row(row))
    return found


def ballot_from_row(row: Any) -> Ballot:
    """A stored vote (a row of ``hitl_votes``, or its JSON form) as a Ballot."""
    data = row if isinstance(row, dict) else row._mapping
    return Ballot(
        voter=data["voter"],
        approve=bool(data["approve"]),
        channel=data["channel"],
        at=from_ms(data["at_ms"]),
        comment=data["comment"],
    )


def _new_vote(insert: Any) -> Any:
    return (
        insert(votes)
        .on_conflict_do_nothing(index_elements=[votes.c.request_id, votes.c.voter])
        .returning(votes.c.voter)
    )


_INSERT_VOTE = {
    "postgresql": _new_vote(sa.dialects.postgresql.insert),
    "sqlite": _new_vote(sa.dialects.sqlite.insert),
}
