"""What an agent does durably, written once as a program of operations, run by a sync or async driver.

A program is a generator that yields operations: ``Write`` (an idempotent write: replay runs it
again and it changes nothing) and ``Wait`` (a durable wait until a request is decided: hot, then
parked, see ``_waiting``). ``run_sync`` drives it from a sync agent's thread, ``run_async`` from an
async agent's coroutine; the logic of a request exists once.

None of them is a DBOS step: what they store is keyed by the run (a request's id is the run's id
and its key), and a decision never changes once taken, so a replay finds the same requests, the
same deadlines and the same decisions in the SDK's tables. The agent's own steps still are DBOS
steps, and their ids do not depend on how often the run looked at its requests.

Asking a human (``ask``):

1. store the requests with their absolute deadlines (a request stored before keeps its own) and
   publish "waiting";
2. while some are open, wait until one is decided or the nearest deadline passes; a request past
   its deadline is decided as timed out (one conditional update, so an answer stored before the
   deadline still wins); each decision taken is published ("resumed" or "timed_out").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from hitl_notebook._core.errors import HitlError
from hitl_notebook._core.failures import Failure
from hitl_notebook._core.models import Decision, Request, Status
from hitl_notebook._core.times import Timeout, deadline_ms, from_ms, now_ms, to_ms
from hitl_notebook._db.database import Database
from hitl_notebook._db.request_records import insert_request, load_request, request_from_row
from hitl_notebook._db.run_records import append_status, record_failure
from hitl_notebook._runtime.retries import retrying
from hitl_notebook._runtime.waiting import current_run_id, wait_async, wait_sync

__all__ = [
    "Program",
    "Wait",
    "Write",
    "ask",
    "run_async",
    "run_sync",
    "write_failure",
    "write_status",
]

T = TypeVar("T")

DEADLINE_SLACK_MS = 10


@dataclass(frozen=True)
class Wait:
    """Wait durably until one of the requests is decided; at ``until_ms`` one is due to time out.

    ``look_first``: False for requests stored just now, which nobody can have answered before
    the wait began to listen (an answer in between wakes it, see ``_poller``).
    """

    request_ids: tuple[str, ...]
    until_ms: int | None
    look_first: bool = True


@dataclass(frozen=True)
class Write:
    """Run ``fn(*args)`` without a checkpoint: it must be idempotent, as replay runs it again.

    A transient database error is retried (``_retries``).
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()


Program = Generator[Write | Wait, Any, T]


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
            if isinstance(op, Write):
                result = retrying(op.fn, *op.args)
            else:
                result = wait_sync(op.request_ids, op.until_ms, look_first=op.look_first)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(program: Program[T]) -> T:
    """Drive a program from an async agent."""
    result: Any = None
    try:
        while True:
            op = program.send(result)
            if isinstance(op, Write):
                result = await asyncio.to_thread(retrying, op.fn, *op.args)
            else:
                result = await wait_async(op.request_ids, op.until_ms, look_first=op.look_first)
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
    """Publish a status transition of the current run (once per ``key``: no checkpoint needed)."""
    run_id = current_run_id()
    yield Write(_append_status, (database, run_id, key, agent, status, detail, progress))


def write_failure(database: Database, failure: Failure) -> Program[None]:
    """Keep what the current run's exception was (idempotent: replay writes the same)."""
    yield Write(_record_failure, (database, current_run_id(), failure))


def _record_failure(database: Database, run_id: str, failure: Failure) -> None:
    with database.autocommit.begin() as conn:
        record_failure(conn, run_id, failure)


def ask(
    database: Database, drafts: list[tuple[dict[str, Any], Timeout | None]]
) -> Program[list[Decision]]:
    """Store the requests, wait until each is decided (or its deadline passes), return the decisions.

    ``drafts`` are the requests' fields and timeouts; their absolute deadlines are stamped when
    they are first stored, so a deadline never restarts.
    """
    stored: list[Request]
    stored, all_new = yield Write(_store_requests, (database, drafts))
    decided: dict[str, Decision] = {}
    look_first = not all_new
    while len(decided) < len(stored):
        still_open = [r for r in stored if r.request_id not in decided]
        found: dict[str, Decision] = yield Wait(
            tuple(r.request_id for r in still_open), _first_deadline_ms(still_open), look_first
        )
        decided |= found
        look_first = True
    return [decided[r.request_id] for r in stored]


def _first_deadline_ms(requests: list[Request]) -> int | None:
    deadlines = [to_ms(r.deadline) for r in requests if r.deadline is not None]
    return min(deadlines) + DEADLINE_SLACK_MS if deadlines else None


def _append_status(  # noqa: PLR0917 - an operation's arguments are positional
    database: Database,
    run_id: str,
    key: str,
    agent: str,
    status: str,
    detail: str | None,
    progress: float | None,
) -> None:
    with database.autocommit.begin() as conn:
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
) -> tuple[list[Request], bool]:
    """Stamp each request with its time and absolute deadline, store them, publish 'waiting'.

    A request stored before (this is a replay) is returned as stored, with its own deadline.
    Returns the requests and whether all of them were stored just now.
    """
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
        all_new = True
        for request in stamped:
            if insert_request(conn, request):
                stored.append(request)
                continue
            all_new = False
            existing = load_request(conn, request.request_id)
            assert existing is not None
            stored.append(request_from_row(existing))
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
    return stored, all_new
