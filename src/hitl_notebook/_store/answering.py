"""The answer path: one answer checked against its request, stored once, its run woken.

An answer is checked against its request before anything is stored. Storing it is one transaction
that decides the request (if it is still open and its deadline has not passed), appends the answer
to the answer log and wakes the run: a hot run through its process's poller (announced on Postgres,
polled on SQLite), a parked run by enqueueing it. So the first valid answer wins, a retry of the
same answer by the same person returns the same decision, and an answer after the deadline is
refused and kept in the log as ``late`` (also when the run already applied its timeout). An answer
to a run whose process is not running is kept and taken when that process runs again; the run's
status says so ("answered"). On Postgres, an answer that decides an open request is that
transaction in one statement (``_db.answer_statement``): one round trip and one commit.

A run that waits hot in this process is woken directly once the decision is committed
(``HotWaits``), so it need not wait for the poller. When the answer names a request such a run
waits for, the request is not read: the wait holds it as the run stored it, and what an answer
is checked against never changes once stored (a request with notifications, whose people an
escalation may change, is read). The answer is then stored only if the request is still open,
before its deadline, and its run still lives; else it takes the path that reads, which says
why. That transaction also publishes that the run took the decision (its "resumed" status, once
per request), and the decision is handed to the waiting run, which resumes on it without
reading it back. A crash after the commit loses nothing: the restarted run looks, finds the same
decision, and publishes nothing twice; a wait that ended meanwhile (shutdown, park) looks when
it waits again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import sqlalchemy as sa

from hitl_notebook._core.answers import (
    decided_request,
    decision_for,
)
from hitl_notebook._core.errors import (
    AnswerError,
)
from hitl_notebook._core.models import (
    Answer,
    Decision,
    Reply,
    Request,
    Sender,
    Status,
)
from hitl_notebook._core.times import now_ms, to_ms
from hitl_notebook._db.answer_log import record_answer
from hitl_notebook._db.answer_statement import decide_in_one
from hitl_notebook._db.changes import note_change
from hitl_notebook._db.database import Database
from hitl_notebook._db.dbos_internals import PARKED_STATE, Woken, wake, wake_many
from hitl_notebook._db.request_records import (
    ANSWERS_CHANNEL,
    decide,
    load_request,
    request_from_row,
    taken_status,
)
from hitl_notebook._db.run_records import (
    append_new_statuses,
    append_status,
    is_running,
)
from hitl_notebook._store.answer_rule import (
    checked_answer,
    not_decided,
    plan_answer,
    target_request,
)
from hitl_notebook._store.queueing import WORKER_APPLICATION

__all__ = ["HotWaits", "answer", "answered_lines", "wake_run", "wake_runs"]


class HotWaits(Protocol):
    """This process's hot waits (the launched runtime's poller), which the store wakes once it
    has committed a decision for their run; other processes rely on the poller."""

    def waited_request(self, request_id: str) -> Request | None:
        """The request ``request_id`` as stored, if a hot wait in this process waits for it."""
        ...

    def wake(self, run_id: str, taken: Decision | None = None) -> None:
        """Wake the hot waits of ``run_id``, which then look at their requests (a wake without
        a decision costs one look); ``taken``, a decision committed with the status saying the
        run took it, is handed to the wait for its request, which takes it without a look."""
        ...


def answer(
    database: Database,
    target: str,
    reply: Reply,
    *,
    executor_id: str | None = None,
    hot_waits: HotWaits | None = None,
) -> Decision:
    """Answer ``target`` (a request id, or the id of a run waiting for one request) with
    ``reply``; a reply by None is anonymous (a DBOS message that names nobody), which only
    requests open to anyone take. ``executor_id`` is this process's launched runtime, whose runs
    need no look at whether their process lives, and ``hot_waits`` its hot waits, woken after
    the commit. See ``Store.respond``."""
    given = checked_answer(target, reply)
    if hot_waits is not None:
        handed = _answer_waited(
            database, target, given, reply, executor_id=executor_id, hot_waits=hot_waits
        )
        if handed is not None:
            return handed
    request = target_request(database, target)
    planned = plan_answer(request, given, reply)
    if isinstance(planned, Decision):
        return planned
    sender = reply.sent(now_ms())
    decision = decision_for(request, planned.resolution, sender)
    if (
        request.is_open
        and request.notify is None
        and not database.is_sqlite
        and _decide_in_one(database, request, decision, planned.answer, executor_id=executor_id)
    ):
        if hot_waits is not None:
            hot_waits.wake(request.run_id)
        return decision
    with database.engine.begin() as conn:
        decided_row = decide(conn, decision, before_deadline=True) if request.is_open else None
        row = decided_row or load_request(conn, request.request_id)
        assert row is not None
        stored = request_from_row(row)
        # Late: open past its deadline (its run has not looked yet), or timed out already.
        late = decided_row is None and (
            stored.is_open or (stored.decision is not None and stored.decision.timed_out)
        )
        if decided_row is not None or late:
            result = "accepted" if decided_row is not None else "late"
            record_answer(conn, row, planned.answer, sender, result=result)
        if decided_row is not None:
            wake_run(conn, stored, sender.at_ms, executor_id)
            note_change(conn, stored.run_id)
    if decided_row is not None:
        if hot_waits is not None:
            hot_waits.wake(stored.run_id)
        assert stored.decision is not None
        return stored.decision
    return not_decided(stored, planned.answer, reply.by, sender.at_ms)


def _answer_waited(
    database: Database,
    target: str,
    given: Answer,
    reply: Reply,
    *,
    executor_id: str | None,
    hot_waits: HotWaits,
) -> Decision | None:
    """Answer the request ``target`` if a hot wait of this process waits for it, from the
    request as the wait holds it, and hand the decision to the run: stored only if the request
    is still open, before its deadline, and its run still lives, with the status saying the run
    took it. None (nothing stored) when no hot wait here waits for it, when it has
    notifications, or when the answer is refused or the request is not so: the path that reads
    says why."""
    request = hot_waits.waited_request(target)
    if request is None or request.notify is not None:
        return None
    try:
        planned = plan_answer(request, given, reply)
    except AnswerError:
        return None  # said from the stored request (it may have been decided meanwhile)
    if isinstance(planned, Decision):
        return None
    sender = reply.sent(now_ms())
    decision = decision_for(request, planned.resolution, sender)
    taken = taken_status(decision, agent=request.agent, title=request.title, at_ms=sender.at_ms)
    if not database.is_sqlite:
        decided = _decide_in_one(
            database, request, decision, planned.answer, executor_id=executor_id, taken=taken
        )
    else:
        decided = _decide_waited_sqlite(database, decision, planned.answer, sender, taken)
    if not decided:
        return None
    hot_waits.wake(request.run_id, decision)
    return decision


def _decide_waited_sqlite(
    database: Database, decision: Decision, answer: Answer, sender: Sender, taken: dict[str, Any]
) -> bool:
    """``_answer_waited``'s transaction on SQLite; False (nothing stored) if it decides nothing.
    The run is enqueued if it parked meanwhile; its process is this one, which runs."""
    with database.engine.begin() as conn:
        row = decide(conn, decision, before_deadline=True, while_run_lives=True)
        if row is None:
            return False
        record_answer(conn, row, answer, sender, result="accepted")
        wake(conn, decision.run_id, now_ms=sender.at_ms)
        append_status(conn, **taken)
        note_change(conn, decision.run_id)
    return True


def _decide_in_one(
    database: Database,
    request: Request,
    decision: Decision,
    answer: Answer,
    *,
    executor_id: str | None,
    taken: dict[str, Any] | None = None,
) -> bool:
    """The answer's transaction in one Postgres statement (``decide_in_one``), when it decides
    ``request`` (an open one without a schedule to settle); False (nothing stored) when it does
    not. With ``taken`` (the status saying the run took the decision), only while the run
    lives."""
    with database.autocommit.connect() as conn:
        decided = decide_in_one(conn, decision, answer, taken=taken)
    if decided is None:
        return False
    woken = decided.woken
    if woken is not None and woken.executor_id != executor_id:  # its process may be down
        with database.engine.begin() as conn:
            stored = decided_request(request, decision)
            at_ms = to_ms(decision.at)
            lines = answered_lines(conn, [stored], {stored.run_id: woken}, at_ms)
            append_new_statuses(conn, lines)
    return True


def wake_run(conn: sa.Connection, request: Request, at_ms: int, executor_id: str | None) -> None:
    """Announce the answer to listening pollers (Postgres) and enqueue the run if it is parked;
    say so in its status if its process is not running."""
    wake_runs(conn, [request], at_ms, executor_id)


def wake_runs(
    conn: sa.Connection, decided: Sequence[Request], at_ms: int, executor_id: str | None
) -> None:
    """``wake_run`` for the runs of many requests decided in this transaction."""
    woken = wake_many(conn, {r.run_id for r in decided}, now_ms=at_ms, announce_on=ANSWERS_CHANNEL)
    append_new_statuses(conn, answered_lines(conn, decided, woken, at_ms, executor_id))


def answered_lines(
    conn: sa.Connection,
    decided: Sequence[Request],
    woken: Mapping[str, Woken],
    at_ms: int,
    executor_id: str | None = None,
) -> list[dict[str, Any]]:
    """The "answered" status of each decided request whose run (``woken``, by run id) belongs
    to a process that is not running (``executor_id`` is this one's), for ``append_new_statuses``."""
    alive: dict[str, bool] = {executor_id: True} if executor_id is not None else {}
    lines = []
    for request in decided:
        run = woken.get(request.run_id)
        if run is None:
            continue
        if run.executor_id not in alive:
            alive[run.executor_id] = is_running(conn, run.executor_id)
        if alive[run.executor_id]:
            continue
        decision = request.decision
        assert decision is not None
        lines.append(
            {
                "run_id": request.run_id,
                "key": f"{request.request_id}:answered",
                "agent": request.agent,
                "status": Status.ANSWERED.value,
                "detail": f"{decision.outcome.value} by {decision.who}; {_who_resumes(run)}",
                "progress": None,
                "at_ms": at_ms,
            }
        )
    return lines


def _who_resumes(woken: Woken) -> str:
    if woken.application != WORKER_APPLICATION:
        return f"resumes when its process ({woken.executor_id}) runs again"
    if woken.state == PARKED_STATE:
        return "resumes on the next live worker"
    return (
        f"resumes when worker {woken.executor_id} runs again "
        f"(or after `hitl recover --from {woken.executor_id}`)"
    )
