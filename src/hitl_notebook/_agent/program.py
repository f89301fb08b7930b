"""What an agent does durably, written once as programs (``_core.sync_async``): a sync agent's
thread drives them with ``run_sync``, an async agent's coroutine with ``run_async``.

A program here yields two kinds of operation: ``write`` (an idempotent write: replay runs it again
and it changes nothing) and the durable wait until a request is decided (``_runtime.waiting.wait``:
hot, then parked).

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

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from hitl_notebook._core.failures import Failure
from hitl_notebook._core.models import Decision, Outcome, Request, Status
from hitl_notebook._core.sync_async import Call, Handed, Program
from hitl_notebook._core.times import Timeout, deadline_ms, from_ms, now_ms, to_ms
from hitl_notebook._db.database import Database
from hitl_notebook._db.dbos_internals import steps_taken
from hitl_notebook._db.request_batches import insert_requests
from hitl_notebook._db.request_records import (
    DECIDED_KEY_SUFFIX,
    insert_request,
    load_request,
    request_from_row,
)
from hitl_notebook._db.run_records import append_new_statuses, append_status, record_failure
from hitl_notebook._db.schedule_records import plan
from hitl_notebook._runtime.launch import current
from hitl_notebook._runtime.retries import retrying
from hitl_notebook._runtime.waiting import current_run_id, wait
from hitl_notebook._runtime.write_batches import WriteAll

__all__ = [
    "ask",
    "batched",
    "decide_at_once",
    "write",
    "write_failure",
    "write_status",
]

T = TypeVar("T")
Item = TypeVar("Item")

DEADLINE_SLACK_MS = 10


def write(fn: Callable[..., Any], *args: Any) -> Call:
    """Run ``fn(*args)`` without a checkpoint: it must be idempotent, as replay runs it again.

    A transient database error is retried (``_runtime.retries``).
    """
    return Call(retrying, (fn, *args))


def batched(write_all: WriteAll[Item, T], item: Item) -> Handed:
    """Write ``item`` like ``write``, in a transaction shared with what other runs write at the
    same moment (``_runtime.write_batches``), and with the items they hand ``write_all``, all in
    one call: thousands of runs starting at once."""
    writes = current().writes
    return Handed(functools.partial(writes.submit_part, write_all, item))


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
    yield write(_append_status, database, run_id, key, agent, status, detail, progress)


def write_failure(database: Database, failure: Failure) -> Program[None]:
    """Keep what the current run's exception was (idempotent: replay writes the same)."""
    yield write(_record_failure, database, current_run_id(), failure)


def _record_failure(database: Database, run_id: str, failure: Failure) -> None:
    with database.autocommit.begin() as conn:
        record_failure(conn, run_id, failure)


def ask(drafts: list[tuple[dict[str, Any], Timeout | None]]) -> Program[list[Decision]]:
    """Store the requests, wait until each is decided (or its deadline passes), return the decisions.

    ``drafts`` are the requests' fields and timeouts; their absolute deadlines are stamped when
    they are first stored, so a deadline never restarts. They are stored in the runtime's
    database, with what other runs store at the same moment (``batched``).
    """
    steps = steps_taken()  # where a what-if fork at these requests starts again
    drafts = [({**fields, "steps_before": steps}, timeout) for fields, timeout in drafts]
    stored: list[Request]
    stored, all_new = yield batched(_store_requests, drafts)
    decided: dict[str, Decision] = {}
    look_first = not all_new
    while len(decided) < len(stored):
        still_open = [r for r in stored if r.request_id not in decided]
        found = yield from wait(
            still_open,
            _first_deadline_ms(still_open),
            look_first=look_first,
        )
        decided |= found
        look_first = True
    return [decided[r.request_id] for r in stored]


def decide_at_once(
    database: Database,
    fields: dict[str, Any],
    timeout: Timeout | None,
    *,
    approve: bool,
    by: str,
    reason: str,
) -> Program[Decision]:
    """Store an approval request already decided (a policy's verdict) and return its decision:
    one transaction, no wait. The decision is recorded like a person's, in the request (who,
    through which channel, the reason as its comment) and in the run's history; the answer log
    keeps what people sent, and nobody sent this.

    Replayed, the stored request's decision is returned; a request stored open (asked of a
    person when the run first came here) is waited for, as asked.
    """
    decision: Decision | None = yield write(_store_decided, database, fields, approve, by, reason)
    if decision is None:
        (decision,) = yield from ask([(fields, timeout)])
    return decision


def _store_decided(
    database: Database, fields: dict[str, Any], approve: bool, by: str, reason: str
) -> Decision | None:
    at = from_ms(now_ms())
    request = Request(**fields, requested_at=at)
    decision = Decision(
        request_id=request.request_id,
        run_id=request.run_id,
        kind=request.kind,
        outcome=Outcome.APPROVED if approve else Outcome.REJECTED,
        approved=approve,
        value=request.proposal if approve else None,
        by=by,
        at=at,
        channel=by,
        comment=reason,
        requested_at=at,
        tool=request.tool.name if request.tool else None,
        digest=request.tool.digest if request.tool else None,
    )
    with database.engine.begin() as conn:
        if not insert_request(conn, request.model_copy(update={"decision": decision})):
            row = load_request(conn, request.request_id)
            assert row is not None
            return request_from_row(row).decision
        append_status(
            conn,
            run_id=request.run_id,
            key=request.request_id + DECIDED_KEY_SUFFIX,
            agent=request.agent,
            status=Status.RESUMED.value,
            detail=f"{request.title}: {decision.outcome.value} by {by} ({reason})",
            progress=None,
            at_ms=to_ms(at),
        )
    return decision


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
    conn: sa.Connection, asked: Sequence[list[tuple[dict[str, Any], Timeout | None]]]
) -> list[tuple[list[Request], bool]]:
    """Store what each of many runs asks (``drafts`` each): stamp each request with its time and
    absolute deadline, store them, publish 'waiting'; a few statements for all the runs.

    A request stored before (this is a replay) is returned as stored, with its own deadline.
    Returns, for each run, its requests and whether all of them were stored just now.
    """
    start = now_ms()
    stamped = [[_stamped(fields, timeout, start) for fields, timeout in drafts] for drafts in asked]
    new_ids = insert_requests(conn, [r for requests in stamped for r in requests])
    results = []
    waiting = []
    for requests in stamped:
        stored = []
        for request in requests:
            if request.request_id in new_ids:
                stored.append(request)
                if request.notify is not None:
                    plan(
                        conn,
                        request_id=request.request_id,
                        run_id=request.run_id,
                        notify=request.notify,
                        channels=request.notify["channels"],
                        requested_at_ms=start,
                        deadline_ms=to_ms(request.deadline) if request.deadline else None,
                    )
                continue
            existing = load_request(conn, request.request_id)
            assert existing is not None
            stored.append(request_from_row(existing))
        all_new = all(r.request_id in new_ids for r in requests)
        first = stored[0]
        transition: dict[str, Any] = {
            "run_id": first.run_id,
            "key": f"{first.request_id}:waiting",
            "agent": first.agent,
            "status": Status.WAITING.value,
            "detail": first.title if len(stored) == 1 else "; ".join(r.title for r in stored),
            "progress": None,
            "at_ms": start,
        }
        if all_new:  # its 'waiting' is new too: written with the others' below
            waiting.append(transition)
        else:
            append_status(conn, **transition)
        results.append((stored, all_new))
    append_new_statuses(conn, waiting)
    return results


def _stamped(fields: dict[str, Any], timeout: Timeout | None, start: int) -> Request:
    deadline = deadline_ms(timeout, start_ms=start)
    return Request(
        **fields,
        requested_at=from_ms(start),
        deadline=from_ms(deadline) if deadline is not None else None,
    )
