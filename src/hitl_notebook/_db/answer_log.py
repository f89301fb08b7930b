"""The answer log (``hitl_answers``): every answer that arrived for a request, whatever became
of it: ``accepted`` (it decided the request), ``late`` (after the deadline), or ``refused`` with
its reason (a DBOS message no request takes, with nobody to tell). Appended to, never changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from hitl_notebook._core.models import Answer, Sender
from hitl_notebook._db.database import answers

__all__ = ["answer_log_row", "record_answer", "record_answers"]


def record_answer(
    conn: sa.Connection,
    row: Any,
    answer: Any,
    sender: Sender,
    *,
    result: str,
    reason: str | None = None,
) -> None:
    """Append an answer that arrived from ``sender`` (``accepted``, ``late``, or ``refused``
    with its ``reason``) to the answer log. ``row`` has the request's ``request_id`` and
    ``run_id``; ``answer`` is an Answer, or what arrived when it was none."""
    record_answers(conn, [answer_log_row(row, answer, sender, result=result, reason=reason)])


def answer_log_row(
    row: Any, answer: Any, sender: Sender, *, result: str, reason: str | None = None
) -> dict[str, Any]:
    """One row of the answer log (see ``record_answer``)."""
    return {
        "request_id": row.request_id,
        "run_id": row.run_id,
        "received_at_ms": sender.at_ms,
        "by": sender.by,
        "channel": sender.channel,
        "comment": sender.comment,
        "answer": answer.model_dump(exclude_none=True) if isinstance(answer, Answer) else answer,
        "result": result,
        "reason": reason,
    }


def record_answers(conn: sa.Connection, logged: Sequence[dict[str, Any]]) -> None:
    """Append rows made by ``answer_log_row`` to the answer log, in one statement."""
    if logged:
        conn.execute(answers.insert(), list(logged))
