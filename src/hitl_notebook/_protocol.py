"""What an agent does durably, written once as a program of operations, run by a sync or async driver.

A program is a generator that yields operations: ``Step`` (a function whose result DBOS
checkpoints, so it runs once even across crashes), ``Wait`` (a durable wait for a message until a
deadline: hot, then parked, see ``_waiting``) and ``Note`` (an idempotent write that needs no
checkpoint). ``run_sync`` drives it from a sync agent's thread, ``run_async`` from an async agent's
coroutine; the logic of a request (store it, check it, wait, apply the deadline) exists once.

Asking a human (``ask``):

1. step ``hitl.request``: store the requests with their absolute deadlines, publish "waiting";
2. step ``hitl.check``: collect the decisions; decide a request whose deadline passed as timed
   out (one conditional update, so an answer stored before the deadline still wins);
3. while some are open, wait for a wake-up message until the nearest deadline: an answer's
   message carries its decision (note "resumed" and go on waiting for the rest); no message by
   the deadline goes back to 2.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from dbos import DBOS

from hitl_notebook._answers import resolve
from hitl_notebook._database import Database
from hitl_notebook._errors import HitlError
from hitl_notebook._models import Decision, Outcome, Request, Status
from hitl_notebook._records import (
    DECIDED,
    append_status,
    decide,
    insert_request,
    load_request,
    request_from_row,
)
from hitl_notebook._steps import step_options
from hitl_notebook._store import wake_topic
from hitl_notebook._time import Timeout, deadline_ms, from_ms, now_ms
from hitl_notebook._waiting import wait_async, wait_sync

__all__ = ["Note", "Program", "Step", "Wait", "ask", "run_async", "run_sync", "write_status"]

T = TypeVar("T")

DEADLINE_SLACK_MS = 10


@dataclass(frozen=True)
class Step:
    """Run ``fn(*args)`` as a checkpointed DBOS step named ``name``."""

    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Wait:
    """Wait durably for a message on ``topic`` until ``until_ms`` (None: no deadline)."""

    topic: str
    until_ms: int | None


@dataclass(frozen=True)
class Note:
    """Run ``fn(*args)`` now without a checkpoint (it runs again on replay): it must be idempotent."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()


Program = Generator[Step | Wait | Note, Any, T]


def run_sync(program: Program[T]) -> T:
    """Drive a program from a sync agent (a thread with no event loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        program.close()
        raise HitlError(
            "This is an async agent: use the *_async methods with await, "
            "e.g. `await self.request_approval_async(...)`."
        )
    result: Any = None
    try:
        while True:
            op = program.send(result)
            if isinstance(op, Step):
                result = DBOS.run_step(step_options(op.name), op.fn, *op.args)
            elif isinstance(op, Note):
                result = op.fn(*op.args)
            else:
                result = wait_sync(op.topic, op.until_ms)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(program: Program[T]) -> T:
    """Drive a program from an async agent."""
    result: Any = None
    try:
        while True:
            op = program.send(result)
            if isinstance(op, Step):
                result = await DBOS.run_step_async(step_options(op.name), op.fn, *op.args)
            elif isinstance(op, Note):
                result = await asyncio.to_thread(op.fn, *op.args)
            else:
                result = await wait_async(op.topic, op.until_ms)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def write_status(
    database: Database,
    *,
    key: str,
    agent: str,
    status: str,
    detail: str | None,
    progress: float | None,
) -> Program[None]:
    """Publish a status transition of the current run."""
    run_id = _run_id()
    yield Step(
        "hitl.status", _append_status, (database, run_id, key, agent, status, detail, progress)
    )


def ask(
    database: Database, run_id: str, drafts: list[tuple[dict[str, Any], Timeout | None]]
) -> Program[list[Decision]]:
    """Store the requests, wait until each is decided (or its deadline passes), return the decisions.

    ``drafts`` are the requests' fields and timeouts; the storing step stamps their absolute
    deadlines once, so a deadline never restarts. An answer's wake-up message carries its
    decision, recorded by DBOS as the wait's result, so resuming costs no query.
    """
    stored: list[Request] = yield Step("hitl.request", _store_requests, (database, drafts))
    decided: dict[str, Decision] = yield Step(
        "hitl.check", _check, (database, [r.request_id for r in stored])
    )
    while len(decided) < len(stored):
        still_open = [r for r in stored if r.request_id not in decided]
        message = yield Wait(wake_topic(run_id), _first_deadline_ms(still_open))
        if message is None:  # a deadline (or a spurious wake-up): look at the table
            found: dict[str, Decision] = yield Step(
                "hitl.check", _check, (database, [r.request_id for r in still_open])
            )
            decided |= found
            continue
        decision = Decision.model_validate(message)
        if any(r.request_id == decision.request_id for r in still_open):
            decided[decision.request_id] = decision
            yield Note(_mark_resumed, (database, decision))
    return [decided[r.request_id] for r in stored]


def _first_deadline_ms(requests: list[Request]) -> int | None:
    deadlines = [round(r.deadline.timestamp() * 1000) for r in requests if r.deadline is not None]
    return min(deadlines) + DEADLINE_SLACK_MS if deadlines else None


def _run_id() -> str:
    run_id: str | None = DBOS.workflow_id
    if run_id is None:
        raise HitlError("Agent methods work only inside a run: start the agent with Agent.start().")
    return run_id


def _append_status(  # noqa: PLR0917 - a step's arguments are positional (DBOS.run_step)
    database: Database,
    run_id: str,
    key: str,
    agent: str,
    status: str,
    detail: str | None,
    progress: float | None,
) -> None:
    with database.engine.begin() as conn:
        append_status(
            conn,
            run_id=run_id,
            key=key,
            agent=agent,
            status=status,
            detail=detail,
            progress=progress,
            at_ms=now_ms(),
        )


def _store_requests(
    database: Database, drafts: list[tuple[dict[str, Any], Timeout | None]]
) -> list[Request]:
    """Stamp each request with its time and absolute deadline, store them, publish 'waiting'."""
    start = now_ms()
    stamped = []
    for fields, timeout in drafts:
        deadline = deadline_ms(timeout, start_ms=start)
        stamped.append(
            Request(
                **fields,
                requested_at=from_ms(start),
                deadline=from_ms(deadline) if deadline is not None else None,
            )
        )
    with database.engine.begin() as conn:
        stored = []
        for request in stamped:
            existing = load_request(conn, request.request_id)
            if existing is None:
                insert_request(conn, request)
            stored.append(request_from_row(existing) if existing is not None else request)
        first = stored[0]
        detail = first.title if len(stored) == 1 else "; ".join(r.title for r in stored)
        append_status(
            conn,
            run_id=first.run_id,
            key=f"{first.request_id}:waiting",
            agent=first.agent,
            status=Status.WAITING.value,
            detail=detail,
            progress=None,
            at_ms=start,
        )
    return stored


def _check(database: Database, request_ids: list[str]) -> dict[str, Decision]:
    """The decisions taken so far; a request past its deadline is decided as timed out."""
    at = now_ms()
    decisions = {}
    with database.engine.begin() as conn:
        for request_id in request_ids:
            decision = _decision_or_timeout(conn, request_id, at)
            if decision is not None:
                decisions[request_id] = decision
    return decisions


def _decision_or_timeout(conn: sa.Connection, request_id: str, at: int) -> Decision | None:
    row = load_request(conn, request_id)
    assert row is not None, f"request {request_id} vanished"
    if row.state != DECIDED and row.deadline_ms is not None and at >= row.deadline_ms:
        approved, value = _timeout_default(request_from_row(row))
        timed_out = decide(
            conn,
            request_id,
            outcome=Outcome.TIMED_OUT,
            approved=approved,
            value=value,
            by=None,
            channel="timeout",
            comment=None,
            at_ms=at,
            before_deadline=False,
        )
        row = timed_out or load_request(conn, request_id)
        assert row is not None
    if row.state != DECIDED:
        return None
    decision = request_from_row(row).decision
    assert decision is not None
    _append_decided_status(conn, decision, row.title, row.agent, at)
    return decision


def _append_decided_status(
    conn: sa.Connection, decision: Decision, title: str, agent: str, at_ms: int
) -> None:
    if decision.timed_out:
        status, detail = Status.TIMED_OUT, f"{title}: no answer by the deadline"
    else:
        status, detail = Status.RESUMED, f"{decision.outcome.value} by {decision.by}"
    append_status(
        conn,
        run_id=decision.run_id,
        key=f"{decision.request_id}:decided",
        agent=agent,
        status=status.value,
        detail=detail,
        progress=None,
        at_ms=at_ms,
    )


def _mark_resumed(database: Database, decision: Decision) -> None:
    """Publish 'resumed' for a decision that came by message (idempotent: a replay adds nothing)."""
    with database.engine.begin() as conn:
        row = load_request(conn, decision.request_id)
        if row is not None:
            _append_decided_status(conn, decision, row.title, row.agent, now_ms())


def _timeout_default(request: Request) -> tuple[bool | None, Any]:
    if request.on_timeout != "default" or request.timeout_answer is None:
        return None, None
    resolution = resolve(request, request.timeout_answer)
    return resolution.approved, resolution.value
