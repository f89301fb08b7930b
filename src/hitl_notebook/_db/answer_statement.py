"""One accepted answer stored in one Postgres statement: one round trip and one commit.

``decide_in_one`` does what ``_store.answering.answer``'s transaction does for an answer that
decides its request, as CTEs of a single statement run on its own (so it is its own
transaction): it decides the request if it is still open and its deadline has not passed (the
conditional UPDATE of ``request_records.decide``), appends the answer to the answer log as
``accepted``, locks the run's DBOS row, announces the run to listening pollers and enqueues it
if it is parked (``dbos_internals.waking``), and counts the change (``changes.noting_change``).

The final SELECT reads the decided row and then locks the run's row; Postgres runs the CTEs it
does not read (the log, the enqueue, the counter) after it, so the run's row is locked before
the counter's row, as in every transaction that writes both (see ``_db.changes``). When the
request was not decided (decided already, cancelled, or past its deadline), nothing is written
and None is returned: the caller takes the transaction's path, which says why.

For a run that waits hot in the answering process, which is woken there with the decision in
hand (``_store.answering``), the statement decides only while the run lives, also appends the
status saying the run took the decision (``taken``), and announces nothing: no other process
waits for that run.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import sqlalchemy as sa

from hitl_notebook._core.models import Answer, Outcome
from hitl_notebook._db.changes import change_shard, noting_change
from hitl_notebook._db.database import answers, requests
from hitl_notebook._db.dbos_internals import Woken, run_lives, waking
from hitl_notebook._db.request_records import ANSWERS_CHANNEL, DECIDED, OPEN
from hitl_notebook._db.run_records import appending_status, status_parameters

__all__ = ["Decided", "decide_in_one"]

_TAKEN = "taken_"
"""The prefix of the taken status's parameters (``appending_status``)."""


class Decided(NamedTuple):
    """What ``decide_in_one`` stored: the request's new row, and its run's DBOS row as found
    (None if the run has none)."""

    row: sa.Row[Any]
    woken: Woken | None


def decide_in_one(
    conn: sa.Connection,
    request_id: str,
    run_id: str,
    answer: Answer,
    *,
    outcome: Outcome,
    approved: bool | None,
    value: Any,
    by: str | None,
    channel: str,
    comment: str | None,
    at_ms: int,
    taken: dict[str, Any] | None = None,
) -> Decided | None:
    """Decide the open request ``request_id`` of run ``run_id`` with ``answer``, log it, wake
    the run and note the change, in one statement on ``conn`` (Postgres, autocommit); None
    (nothing written) if the request is not open or its deadline has passed. ``taken``: the
    status saying the run took the decision (``append_status``'s keywords), to append with it
    instead of announcing the run; the request is then decided only while its run lives."""
    statement, status = _DECIDE_IN_ONE, {}
    if taken is not None:
        statement = _DECIDE_AND_TAKE
        status = {_TAKEN + key: value for key, value in status_parameters(**taken).items()}
    row = conn.execute(
        statement,
        {
            **status,
            "answered_id": request_id,
            "answered_run": run_id,
            "new_outcome": outcome.value,
            "new_approved": approved,
            "new_value": value,
            "new_by": by,
            "new_channel": channel,
            "new_comment": comment,
            "at_ms": at_ms,
            "logged_answer": answer.model_dump(exclude_none=True),
            "channel": ANSWERS_CHANNEL,
            "now_ms": at_ms,
            "in_shard": change_shard(run_id),
        },
    ).first()
    if row is None:
        return None
    woken = None
    if row.woken_executor is not None:
        woken = Woken(str(row.woken_state), str(row.woken_executor), str(row.woken_application))
    return Decided(row, woken)


def _build(*, taking: bool) -> sa.Select[Any]:
    answered_run = sa.bindparam("answered_run", type_=sa.Text)
    decided = (
        requests.update()
        .where(
            requests.c.request_id == sa.bindparam("answered_id"),
            requests.c.state == OPEN,
            sa.or_(
                requests.c.deadline_ms.is_(None),
                requests.c.deadline_ms >= sa.bindparam("at_ms", type_=sa.BigInteger),
            ),
            run_lives(answered_run) if taking else sa.true(),
        )
        .values(
            state=DECIDED,
            outcome=sa.bindparam("new_outcome"),
            approved=sa.bindparam("new_approved"),
            value=sa.bindparam("new_value", type_=requests.c.value.type),
            decided_by=sa.bindparam("new_by"),
            decided_at_ms=sa.bindparam("at_ms", type_=sa.BigInteger),
            channel=sa.bindparam("new_channel"),
            comment=sa.bindparam("new_comment"),
        )
        .returning(*requests.c)
        .cte("decided")
    )
    was_decided = sa.exists(sa.select(decided.c.request_id))
    logged = answers.insert().from_select(
        ["request_id", "run_id", "received_at_ms", "by", "channel", "comment", "answer", "result"],
        sa.select(
            decided.c.request_id,
            decided.c.run_id,
            decided.c.decided_at_ms,
            decided.c.decided_by,
            decided.c.channel,
            decided.c.comment,
            sa.cast(sa.bindparam("logged_answer", type_=answers.c.answer.type), sa.JSON),
            sa.literal("accepted", sa.Text),
        ),
    )
    lock, enqueue = waking(answered_run, when=was_decided, announce=not taking)
    locked = lock.cte("woken")
    statement = (
        sa.select(
            decided,
            locked.c.status.label("woken_state"),
            locked.c.executor_id.label("woken_executor"),
            locked.c.application_name.label("woken_application"),
        )
        .select_from(decided.outerjoin(locked, sa.true()))
        .add_cte(logged.cte("logged"))
        .add_cte(enqueue.cte("enqueued"))
    )
    if taking:
        statement = statement.add_cte(appending_status(was_decided, prefix=_TAKEN).cte("taken"))
    return statement.add_cte(noting_change(was_decided).cte("noted"))


_DECIDE_IN_ONE = _build(taking=False)
_DECIDE_AND_TAKE = _build(taking=True)
