"""What an agent does durably, written once as a program of operations, run by a sync or async driver.

A program is a generator that yields two kinds of operation: ``Step`` (a function whose result DBOS
checkpoints, so it runs once even across crashes) and ``Wait`` (a durable DBOS ``recv`` with a
deadline). ``run_sync`` drives it from a sync agent's thread, ``run_async`` from an async agent's
coroutine; the logic of a request (store it, check it, wait, apply the deadline) exists once.

Asking a human (``ask``):

1. step ``hitl.request``: store the request with its absolute deadline, publish "waiting";
2. step ``hitl.check``: if decided, return the decision; if the deadline passed, decide it as
   timed out (one conditional update, so an answer stored before the deadline still wins);
3. otherwise wait for the wake-up message until the deadline, then go back to 2.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from dbos import DBOS

from hitl_notebook._answers import resolve
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
from hitl_notebook._runtime import current
from hitl_notebook._store import wake_topic
from hitl_notebook._time import Timeout, deadline_ms, from_ms, now_ms

__all__ = ["Program", "Step", "Wait", "ask", "run_async", "run_sync", "write_status"]

T = TypeVar("T")

WAIT_CHUNK_S = 7 * 24 * 3600.0
"""A wait without a deadline is a loop of week-long durable waits."""
DEADLINE_SLACK_S = 0.01


@dataclass(frozen=True)
class Step:
    """Run ``fn(*args)`` as a checkpointed DBOS step named ``name``."""

    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Wait:
    """Wait durably for a message on ``topic`` for at most ``seconds``."""

    topic: str
    seconds: float


Program = Generator[Step | Wait, Any, T]

_STEP_OPTIONS: dict[str, Any] = {"retries_allowed": True, "max_attempts": 5}


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
                result = DBOS.run_step({"name": op.name, **_STEP_OPTIONS}, op.fn, *op.args)
            else:
                result = DBOS.recv(op.topic, timeout_seconds=op.seconds)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(program: Program[T]) -> T:
    """Drive a program from an async agent."""
    result: Any = None
    try:
        while True:
            op = program.send(result)
            if isinstance(op, Step):
                result = await DBOS.run_step_async(
                    {"name": op.name, **_STEP_OPTIONS}, op.fn, *op.args
                )
            else:
                result = await DBOS.recv_async(op.topic, timeout_seconds=op.seconds)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def write_status(
    key: str, agent: str, status: str, detail: str | None, progress: float | None
) -> Program[None]:
    """Publish a status transition of the current run."""
    run_id = _run_id()
    yield Step("hitl.status", _append_status, (run_id, key, agent, status, detail, progress))


def ask(fields: dict[str, Any], timeout: Timeout | None) -> Program[Decision]:
    """Store a request made of ``fields``, wait for its decision or deadline, return the decision."""
    deadline_ms(timeout, start_ms=0)  # a bad timeout fails here, in the agent's code, not in a step
    stored: Request = yield Step("hitl.request", _store_request, (fields, timeout))
    while True:
        decision: Decision | None = yield Step("hitl.check", _check, (stored.request_id,))
        if decision is not None:
            return decision
        if stored.deadline is None:
            seconds = WAIT_CHUNK_S
        else:
            seconds = max(0.0, (stored.deadline.timestamp() * 1000 - now_ms()) / 1000)
        yield Wait(wake_topic(stored.request_id), seconds + DEADLINE_SLACK_S)


def _run_id() -> str:
    run_id = DBOS.workflow_id
    if run_id is None:
        raise HitlError("Agent methods work only inside a run: start the agent with Agent.start().")
    return run_id


def _append_status(
    run_id: str, key: str, agent: str, status: str, detail: str | None, progress: float | None
) -> None:
    with current().database.engine.begin() as conn:
        append_status(conn, run_id=run_id, key=key, agent=agent, status=status, detail=detail,
                      progress=progress, at_ms=now_ms())


def _store_request(fields: dict[str, Any], timeout: Timeout | None) -> Request:
    """Stamp the request with its time and absolute deadline, store it, publish 'waiting'."""
    start = now_ms()
    deadline = deadline_ms(timeout, start_ms=start)
    stamped = Request(
        **fields,
        requested_at=from_ms(start),
        deadline=from_ms(deadline) if deadline is not None else None,
    )
    with current().database.engine.begin() as conn:
        existing = load_request(conn, stamped.request_id)
        if existing is not None:
            return request_from_row(existing)
        insert_request(conn, stamped)
        append_status(conn, run_id=stamped.run_id, key=f"{stamped.request_id}:waiting",
                      agent=stamped.agent, status=Status.WAITING.value, detail=stamped.title,
                      progress=None, at_ms=start)
    return stamped


def _check(request_id: str) -> Decision | None:
    """The decision if there is one; at the deadline, decide the request as timed out."""
    at = now_ms()
    with current().database.engine.begin() as conn:
        row = load_request(conn, request_id)
        assert row is not None, f"request {request_id} vanished"
        if row.state != DECIDED and row.deadline_ms is not None and at >= row.deadline_ms:
            request = request_from_row(row)
            approved, value = _timeout_default(request)
            decide(conn, request_id, outcome=Outcome.TIMED_OUT, approved=approved, value=value,
                   by=None, channel="timeout", comment=None, at_ms=at, before_deadline=False)
            row = load_request(conn, request_id)
            assert row is not None
        if row.state != DECIDED:
            return None
        decision = request_from_row(row).decision
        assert decision is not None
        if decision.timed_out:
            status, detail = Status.TIMED_OUT, f"{row.title}: no answer by the deadline"
        else:
            status, detail = Status.RESUMED, f"{decision.outcome.value} by {decision.by}"
        append_status(conn, run_id=row.run_id, key=f"{request_id}:decided", agent=row.agent,
                      status=status.value, detail=detail, progress=None, at_ms=at)
        return decision


def _timeout_default(request: Request) -> tuple[bool | None, Any]:
    if request.on_timeout != "default" or request.timeout_answer is None:
        return None, None
    resolution = resolve(request, request.timeout_answer)
    return resolution.approved, resolution.value
