"""Storing the first requests of many runs at once (runs started together ask together).

``insert_requests`` writes what ``request_records.insert_request`` writes for each request, in
one statement for the requests, one for their runs' own statuses and one for the change counter,
however many runs ask.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from hitl_notebook._core.models import Request
from hitl_notebook._db.bulk_insert import insert_new
from hitl_notebook._db.changes import note_changes
from hitl_notebook._db.database import requests, runs_own_status
from hitl_notebook._db.request_records import request_columns

__all__ = ["insert_requests"]


def insert_requests(conn: sa.Connection, new: Sequence[Request]) -> set[str]:
    """Store these requests, each unless a request with its id is stored already (kept as is);
    returns the ids of those stored now."""
    if not new:
        return set()
    rows = [request_columns(request) for request in new]
    stored = set(insert_new(conn, requests, rows, key=["request_id"], returning="request_id"))
    if stored:
        conn.execute(
            requests.update()
            .where(requests.c.request_id.in_(sorted(stored)))
            .values(runs_own_status())
        )
    note_changes(conn, {r.run_id for r in new if r.request_id in stored})
    return stored
