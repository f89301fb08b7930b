"""One accepted answer stored in one Postgres statement: one round trip and one commit.

``decide_in_one`` does what ``_store.answering.answer``'s transaction does for an answer that
decides its request, as CTEs of a single statement run on its own (so it is its own
transaction): it decides the request if it is still open and its deadline has not passed (the
conditional UPDATE of ``request_records.decide``), appends the answer to the answer log as
``accepted``, locks the run's DBOS row, announces the run to listening pollers and enqueues it
if it is parked (``dbos_internals.waking``), and counts the change (``changes.noting_change``).

The final SELECT reads the decided row (only to know it was decided: the caller has the
decision) and then locks the run's row; Postgres runs the CTEs it
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

import functools
import json
from typing import Any, NamedTuple

import sqlalchemy as sa

from hitl_notebook._core.models import Answer, Decision
from hitl_notebook._core.times import to_ms
from hitl_notebook._db.changes import change_shard, noting_change
from hitl_notebook._db.database import answers, requests
from hitl_notebook._db.dbos_internals import Woken, run_lives, waking
from hitl_notebook._db.request_records import (
    ANSWERS_CHANNEL,
    DECIDED_AT,
    deciding,
    decision_parameters,
    within_deadline,
)
from hitl_notebook._db.run_records import appending_status, status_parameters

__all__ = ["Decided", "decide_in_one"]

_TAKEN = "taken_"
"""The prefix of the taken status's parameters (``appending_status``)."""


class Decided(NamedTuple):
    """What ``decide_in_one`` found when it stored a decision: the run's DBOS row (None if
    the run has none)."""

    woken: Woken | None


def decide_in_one(
    conn: sa.Connection,
    decision: Decision,
    answer: Answer,
    *,
    taken: dict[str, Any] | None = None,
) -> Decided | None:
    """Store ``decision`` in its request if the request is open and its deadline has not
    passed, log ``answer``, wake the run and note the change, in one statement on ``conn``
    (Postgres, autocommit); None (nothing written) if it is not so. ``taken``: the status
    saying the run took the decision (``append_status``'s keywords), to append with it instead
    of announcing the run; the request is then decided only while its run lives."""
    status = {}
    if taken is not None:
        status = {_TAKEN + key: value for key, value in status_parameters(**taken).items()}
    sql, constants, json_names = _for_driver(taken is not None, conn.dialect)
    parameters = {
        **constants,
        **status,
        **decision_parameters(decision),
        "answered_run": decision.run_id,
        "logged_answer": answer.model_dump(exclude_none=True),
        "channel": ANSWERS_CHANNEL,
        "now_ms": to_ms(decision.at),
        "in_shard": change_shard(decision.run_id),
    }
    for name in json_names:
        parameters[name] = json.dumps(parameters[name])
    row = conn.exec_driver_sql(sql, parameters).first()
    if row is None:
        return None
    if row.executor_id is None:
        return Decided(None)
    woken = Woken(str(row.status), str(row.executor_id), str(row.application_name))
    return Decided(woken)


def _build(*, taking: bool) -> sa.Select[Any]:
    answered_run = sa.bindparam("answered_run", type_=sa.Text)
    decided = (
        deciding()
        .where(within_deadline(), run_lives(answered_run) if taking else sa.true())
        .returning(requests.c.request_id)
        .cte("decided")
    )
    was_decided = sa.exists(sa.select(decided.c.request_id))
    logged = answers.insert().from_select(
        ["request_id", "run_id", "received_at_ms", "by", "channel", "comment", "answer", "result"],
        sa.select(
            decided.c.request_id,
            answered_run,
            DECIDED_AT,
            *(
                sa.bindparam(name, type_=sa.Text)
                for name in ("new_by", "new_channel", "new_comment")
            ),
            sa.bindparam("logged_answer", type_=answers.c.answer.type),
            sa.literal_column("'accepted'"),
        ),
    )
    lock, enqueue = waking(answered_run, when=was_decided, announce=not taking)
    locked = lock.cte("woken")
    statement = (
        sa.select(locked.c.status, locked.c.executor_id, locked.c.application_name)
        .select_from(decided.outerjoin(locked, sa.true()))
        .add_cte(logged.cte("logged"))
        .add_cte(enqueue.cte("enqueued"))
    )
    if taking:
        statement = statement.add_cte(appending_status(was_decided, prefix=_TAKEN).cte("taken"))
    return statement.add_cte(noting_change(was_decided).cte("noted"))


@functools.cache
def _for_driver(taking: bool, dialect: sa.Dialect) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    """The statement as its driver (psycopg) takes it, compiled once: its SQL, the constants it
    binds, and the names of its JSON parameters (sent as JSON text). Executing the compiled SQL
    skips what SQLAlchemy does anew for each execution of a construct, such as computing the
    cache key of a statement this large (about 0.1 ms, a tenth of the whole answer)."""
    compiled = _build(taking=taking).compile(dialect=dialect)
    names = compiled.bind_names
    constants = {name: bind.value for bind, name in names.items() if not bind.required}
    json_names = tuple(name for bind, name in names.items() if isinstance(bind.type, sa.JSON))
    return compiled.string, constants, json_names
