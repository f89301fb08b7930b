"""Waiting for a human at almost no cost: hot for a grace period, then parked.

A wait for answers has two phases.

1. **Hot.** The run registers with its process's one ``Poller`` and sleeps on an event (an
   ``asyncio.Event`` for async agents, a ``threading.Event`` in a sync agent's thread); when the
   poller says an answer to the run was stored, the run looks at its requests. An answer resumes
   a hot run within milliseconds, and a thousand hot runs cost the poller one query, not a thousand.
2. **Parked.** After ``park_after`` (``hitl.launch(park_after=...)``) the run parks: its DBOS row
   becomes DELAYED until the nearest deadline and its code unwinds (see ``_dbos_internals``). It
   then holds no thread, no task and no poll. An answer (``Store.respond``, from any process) or
   the deadline enqueues it again; DBOS dispatches it in the process that owns it, which replays
   its checkpoints up to the wait and takes the decision.

Each hot phase is one checkpointed step, ``hitl.wait``, whose result is either the decisions found
(taken exactly once: on replay DBOS returns the recorded ones) or a decision to park. A recorded
decision to park parks only in the execution that took it (the poller remembers those); on replay,
after a wake-up, the run takes a fresh look with a new ``hitl.wait`` step. So replay stays
deterministic, a spurious wake-up costs a look and a new park, and steps before the wait never run
again. When the runtime shuts down, hot waits end without a result (``Stopped``): the run stays
waiting in the database and resumes at the next launch.

An answer may arrive while the run parks. ``Store.respond`` locks the run's DBOS row and enqueues
it if it is parked; parking is one conditional update that refuses if a request is already decided;
and after parking the run looks once more and wakes itself if an answer committed meanwhile. So one
of the two always sees the other, on SQLite and on Postgres (READ COMMITTED).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import Sequence

import sqlalchemy as sa
from dbos import DBOS

from hitl_notebook._database import Database
from hitl_notebook._dbos_internals import Parked, Stopped, park, wake
from hitl_notebook._decisions import collect
from hitl_notebook._errors import HitlError
from hitl_notebook._models import Decision
from hitl_notebook._records import decided_or_due
from hitl_notebook._runtime import Runtime, current
from hitl_notebook._steps import step_options
from hitl_notebook._time import now_ms

__all__ = ["wait_async", "wait_sync"]

WAIT_STEP = "hitl.wait"
MIN_WAIT_S = 0.01
"""The shortest sleep between two looks, so a clock that disagrees by a little cannot spin."""
PARKED_RECHECK_MS = 365 * 24 * 3600 * 1000
"""A parked run without a deadline is woken once a year to look again."""

Looked = tuple[dict[str, Decision], str | None]
"""What a hot wait found: the decisions, or none and a token for the decision to park."""


def wait_sync(request_ids: Sequence[str], until_ms: int | None) -> dict[str, Decision]:
    """Wait until one of the requests is decided (at ``until_ms`` one is due to time out)."""
    run_id = _run_id()
    while True:
        found, park_token = DBOS.run_step(
            step_options(WAIT_STEP), _hot_wait_sync, run_id, list(request_ids), until_ms
        )
        if park_token is None:
            return found
        if _park(run_id, request_ids, until_ms, park_token):
            raise Parked(run_id)


async def wait_async(request_ids: Sequence[str], until_ms: int | None) -> dict[str, Decision]:
    """Awaitable twin of ``wait_sync``, for async agents."""
    run_id = _run_id()
    while True:
        found, park_token = await DBOS.run_step_async(
            step_options(WAIT_STEP), _hot_wait_async, run_id, list(request_ids), until_ms
        )
        if park_token is None:
            return found
        if await asyncio.to_thread(_park, run_id, request_ids, until_ms, park_token):
            raise Parked(run_id)


def _run_id() -> str:
    run_id: str | None = DBOS.workflow_id
    if run_id is None:
        raise HitlError("Agent methods work only inside a run: start the agent with Agent.start().")
    return run_id


def _hot_wait_sync(run_id: str, request_ids: list[str], until_ms: int | None) -> Looked:
    runtime = current()
    park_at = _park_at(runtime)
    signal = threading.Event()
    with runtime.poller.watch(run_id, signal.set):
        while True:
            if runtime.poller.stopped:
                raise Stopped(run_id)
            signal.clear()  # before looking, so an answer stored during the look still wakes
            found = collect(runtime.database, request_ids)
            if found:
                return found, None
            seconds = _seconds_to_sleep(until_ms, park_at)
            if seconds is None:
                return {}, runtime.poller.decide_to_park()
            signal.wait(None if math.isinf(seconds) else seconds)


async def _hot_wait_async(run_id: str, request_ids: list[str], until_ms: int | None) -> Looked:
    runtime = current()
    park_at = _park_at(runtime)
    loop = asyncio.get_running_loop()
    signal = asyncio.Event()

    def wake_up() -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: the run stopped anyway
            loop.call_soon_threadsafe(signal.set)

    with runtime.poller.watch(run_id, wake_up):
        while True:
            if runtime.poller.stopped:
                raise Stopped(run_id)
            signal.clear()
            found = await asyncio.to_thread(collect, runtime.database, request_ids)
            if found:
                return found, None
            seconds = _seconds_to_sleep(until_ms, park_at)
            if seconds is None:
                return {}, runtime.poller.decide_to_park()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), None if math.isinf(seconds) else seconds)


def _park_at(runtime: Runtime) -> int | None:
    park_after = runtime.park_after_s
    return None if park_after is None else now_ms() + int(park_after * 1000)


def _seconds_to_sleep(until_ms: int | None, park_at: int | None) -> float | None:
    """How long to sleep before the next look (inf: until woken); None: time to park."""
    now = now_ms()
    if park_at is not None and now >= park_at and (until_ms is None or park_at < until_ms):
        return None
    ends = [t for t in (until_ms, park_at) if t is not None]
    return max(MIN_WAIT_S, (min(ends) - now) / 1000) if ends else math.inf


def _park(run_id: str, request_ids: Sequence[str], until_ms: int | None, token: str) -> bool:
    """Park the run if this execution decided to; False means: look again."""
    runtime = current()
    if not runtime.poller.parks_live(token):
        return False
    database: Database = runtime.database
    at = now_ms()
    with database.engine.begin() as conn:
        parked = park(
            conn,
            run_id,
            until_ms=until_ms if until_ms is not None else at + PARKED_RECHECK_MS,
            now_ms=at,
            unless=decided_or_due(request_ids, at),
        )
    if not parked or database.is_sqlite:  # SQLite serialises the answer and the park
        return parked
    with database.engine.begin() as conn:
        # An answer that committed while the row was being parked saw the run still executing
        # and did not enqueue it: enqueue it now.
        if conn.execute(sa.select(decided_or_due(request_ids, now_ms()))).scalar():
            wake(conn, run_id, now_ms=now_ms())
    return True
