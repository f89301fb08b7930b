"""Bulk answers: the same reply to many requests, each with the semantics of a single answer,
in a few transactions instead of one or two per request.

Targets are taken ``CHUNK`` at a time. For each chunk: the reply is checked per target, every
target's request is read in two queries (by request id, then the rest as run ids), and each
answer goes through the one answer rule of ``answering`` (``plan_answer``): refused answers are
refused before anything is written. Then one transaction locks the rows of the planned requests
(in id order), looks at each again as it is now (decided meanwhile, past its deadline, cancelled:
``answering.not_decided``, as for a single answer), and writes the decisions, the answer log, the
schedules' settling, the wakes of the runs, their status lines and the inbox's change count in a
handful of statements. A request is written whole or not at all: a crash mid-bulk leaves the
chunks that committed answered, fully, and the others open.

A target whose request depends on one an earlier target of the chunk answers (the same request,
or a run whose open request that answer chooses) starts a new chunk, so that each target sees
what the targets before it did, as a loop of single answers would.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from hitl_notebook._core.answers import decided_request, decision_for
from hitl_notebook._core.errors import AnswerError, DeadlinePassedError
from hitl_notebook._core.models import Answer, Decision, Reply, Request
from hitl_notebook._core.times import now_ms
from hitl_notebook._db.answer_batches import (
    decide_open,
    load_requests_and_run_states,
    lock_requests,
    requests_of_runs,
)
from hitl_notebook._db.answer_log import answer_log_row, record_answers
from hitl_notebook._db.changes import note_changes
from hitl_notebook._db.database import Database
from hitl_notebook._db.request_records import OPEN, load_request, request_from_row
from hitl_notebook._db.run_records import run_states
from hitl_notebook._db.schedule_records import settle
from hitl_notebook._store.answer_rule import (
    Plan,
    check_id,
    checked_answer,
    not_decided,
    plan_answer,
    request_of,
    request_of_run,
)
from hitl_notebook._store.answering import HotWaits, wake_runs

__all__ = ["CHUNK", "answer_many"]

CHUNK = 250
"""Targets per transaction: large enough that the statements are few, small enough that a
chunk holds its rows' locks (and SQLite's write lock) for milliseconds."""

AnswerOutcome = Decision | AnswerError


def answer_many(
    database: Database,
    targets: Iterable[str],
    reply: Reply,
    *,
    executor_id: str | None = None,
    hot_waits: HotWaits | None = None,
) -> dict[str, AnswerOutcome]:
    """Answer each target (request or run id, each once, in order) with ``reply``: the decision
    or the refusal of each, as ``answering.answer`` would give it; ``hot_waits`` wakes this
    process's hot waits of the decided runs after each commit."""
    ordered = list(dict.fromkeys(targets))
    outcomes: dict[str, AnswerOutcome] = {}
    pending = ordered
    while pending:
        pending = _answer_chunk(
            database,
            pending,
            reply,
            executor_id=executor_id,
            hot_waits=hot_waits,
            outcomes=outcomes,
        )
    return {target: outcomes[target] for target in ordered}


def _answer_chunk(
    database: Database,
    targets: list[str],
    reply: Reply,
    *,
    executor_id: str | None,
    hot_waits: HotWaits | None,
    outcomes: dict[str, AnswerOutcome],
) -> list[str]:
    """Answer the first targets (up to CHUNK); return the targets left for the next chunk."""
    chunk = targets[:CHUNK]
    answers: dict[str, Answer] = {}
    for target in chunk:
        try:
            answers[target] = checked_answer(target, reply)
            check_id(target)
        except AnswerError as error:
            answers.pop(target, None)
            outcomes[target] = error
    with database.autocommit.connect() as conn:
        by_id = load_requests_and_run_states(conn, list(answers))
        run_ids = [target for target in answers if target not in by_id]
        of_runs = requests_of_runs(conn, run_ids) if run_ids else {}
        states = run_states(conn, run_ids) if run_ids else {}
    plans: dict[str, Plan] = {}
    touched: set[str] = set()
    for index, target in enumerate(chunk):
        if target not in answers:
            continue
        found = by_id.get(target)
        rows = of_runs.get(target, [])
        depends = {found[0].request_id} if found else {row.request_id for row in rows}
        if depends & touched:
            _store(
                database,
                plans,
                reply,
                executor_id=executor_id,
                hot_waits=hot_waits,
                outcomes=outcomes,
            )
            return chunk[index:] + targets[CHUNK:]
        touched |= depends
        try:
            request = (
                request_of(*found) if found else request_of_run(target, rows, states.get(target))
            )
            planned = plan_answer(request, answers[target], reply)
        except AnswerError as error:
            outcomes[target] = error
            continue
        if isinstance(planned, Decision):
            outcomes[target] = planned
        else:
            plans[target] = planned
    _store(database, plans, reply, executor_id=executor_id, hot_waits=hot_waits, outcomes=outcomes)
    return targets[CHUNK:]


def _store(
    database: Database,
    plans: dict[str, Plan],
    reply: Reply,
    *,
    executor_id: str | None,
    hot_waits: HotWaits | None,
    outcomes: dict[str, AnswerOutcome],
) -> None:
    """Store the planned answers in one transaction (see the module's docstring)."""
    if not plans:
        return
    results: dict[str, AnswerOutcome] = {}
    with database.engine.begin() as conn:
        locked = lock_requests(conn, {plan.request.request_id for plan in plans.values()})
        at = now_ms()
        sender = reply.sent(at)
        decided: list[Request] = []
        logged: list[dict[str, Any]] = []
        for target, plan in plans.items():
            row = locked[plan.request.request_id]
            if row.state == OPEN and (row.deadline_ms is None or row.deadline_ms >= at):
                decision = decision_for(plan.request, plan.resolution, sender)
                decided.append(decided_request(plan.request, decision))
                logged.append(answer_log_row(plan.request, plan.answer, sender, result="accepted"))
                results[target] = decision
                continue
            stored = load_request(conn, plan.request.request_id)
            assert stored is not None
            try:
                results[target] = not_decided(request_from_row(stored), plan.answer, reply.by, at)
            except DeadlinePassedError as error:
                logged.append(answer_log_row(plan.request, plan.answer, sender, result="late"))
                results[target] = error
            except AnswerError as error:
                results[target] = error
        _write(conn, decided, logged, at, executor_id)
    outcomes.update(results)
    if hot_waits is not None:
        for run_id in {request.run_id for request in decided}:
            hot_waits.wake(run_id)


def _write(
    conn: sa.Connection,
    decided: list[Request],
    logged: list[dict[str, Any]],
    at: int,
    executor_id: str | None,
) -> None:
    decisions = [request.decision for request in decided if request.decision is not None]
    decide_open(conn, decisions)
    for request in decided:
        if request.notify:
            settle(conn, request.request_id, timed_out=False, at_ms=at)
    record_answers(conn, logged)
    wake_runs(conn, decided, at, executor_id)
    note_changes(conn, {request.run_id for request in decided})
