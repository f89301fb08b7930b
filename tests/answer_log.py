"""Reading a request's answer log in tests."""

from __future__ import annotations

import sqlalchemy as sa

import hitl_notebook as hitl
from hitl_notebook._db.database import answers


def answer_log(request_id: str) -> list[tuple[str | None, str]]:
    """The request's answer log as (by, result), oldest first."""
    with hitl.store().database.engine.connect() as conn:
        rows = conn.execute(
            sa.select(answers.c.by, answers.c.result)
            .where(answers.c.request_id == request_id)
            .order_by(answers.c.answer_id)
        ).all()
    return [(r.by, r.result) for r in rows]
