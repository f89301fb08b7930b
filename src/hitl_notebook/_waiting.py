"""Waiting for a human at almost no cost: hot for a grace period, then parked.

A wait for an answer has two phases.

1. **Hot.** The run registers with its process's one ``Poller`` and sleeps on an event (an
   ``asyncio.Event`` for async agents, a ``threading.Event`` in a sync agent's thread). The poller
   makes one query per interval for all waiters together on SQLite, and listens to DBOS's
   notification channel on Postgres, so an answer wakes the run within milliseconds and a thousand
   hot waiters cost one query, not a thousand.
2. **Parked.** After ``park_after`` (``hitl.launch(park_after=...)``) the run parks: its DBOS row
   becomes DELAYED until the deadline and its code unwinds (see ``_dbos_internals``). It then holds
   no thread, no task and no poll. An answer (``Store.respond``, from any process) or the deadline
   enqueues it again; DBOS dispatches it in the process that owns it, which replays its checkpoints
   up to the wait and takes the answer.

Each hot phase is one checkpointed step, ``hitl.wait``, whose result says what ended it: a message,
a timeout, or "park". A message is then consumed with ``DBOS.recv`` (checkpointed, exactly once).
A recorded "park" only parks in the execution that decided it (the poller remembers the decisions
it made live); on replay, after a wake-up, the run takes a fresh look with a new ``hitl.wait``
step. So replay stays deterministic, a spurious wake-up only costs a look and a new park, and an
answer is consumed once however often the run parks and wakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from dbos import DBOS

from hitl_notebook._database import Database
from hitl_notebook._dbos_internals import Parked, has_message, park, wake
from hitl_notebook._errors import HitlError
from hitl_notebook._poller import PARK
from hitl_notebook._runtime import current
from hitl_notebook._steps import step_options
from hitl_notebook._time import now_ms

__all__ = ["wait_async", "wait_sync"]

WAIT_STEP = "hitl.wait"
MESSAGE, TIMEOUT = "message", "timeout"

HOT_CHUNK_MS = 7 * 24 * 3600 * 1000
"""A hot wait with neither deadline nor parking looks again after a week."""
PARKED_RECHECK_MS = 365 * 24 * 3600 * 1000
"""A parked run without a deadline is woken once a year to look again."""


def wait_sync(topic: str, until_ms: int | None) -> Any:
    """Wait for a message on ``topic`` (None at ``until_ms``), from a sync agent's thread."""
    run_id = _run_id()
    while True:
        verdict, token = DBOS.run_step(
            step_options(WAIT_STEP), _hot_wait_sync, run_id, topic, until_ms
        )
        if verdict != PARK:
            return DBOS.recv(topic, timeout_seconds=0)
        if _park(run_id, topic, until_ms, token):
            raise Parked(run_id)


async def wait_async(topic: str, until_ms: int | None) -> Any:
    """Wait for a message on ``topic`` (None at ``until_ms``), from an async agent."""
    run_id = _run_id()
    while True:
        verdict, token = await DBOS.run_step_async(
            step_options(WAIT_STEP), _hot_wait_async, run_id, topic, until_ms
        )
        if verdict != PARK:
            return await DBOS.recv_async(topic, timeout_seconds=0)
        if await asyncio.to_thread(_park, run_id, topic, until_ms, token):
            raise Parked(run_id)


def _run_id() -> str:
    run_id: str | None = DBOS.workflow_id
    if run_id is None:
        raise HitlError("Agent methods work only inside a run: start the agent with Agent.start().")
    return run_id


def _hot_wait_sync(run_id: str, topic: str, until_ms: int | None) -> tuple[str, str]:
    runtime = current()
    signal = threading.Event()
    with runtime.poller.watch(run_id, signal.set):
        verdict = _verdict_now(runtime.database, run_id, topic, until_ms)
        if verdict is None:
            park_at = _park_at(runtime.park_after_s)
            signal.wait(_seconds_until(until_ms, park_at))
            verdict = _verdict_after(signal.is_set(), until_ms, park_at)
    return runtime.poller.decided(verdict)


async def _hot_wait_async(run_id: str, topic: str, until_ms: int | None) -> tuple[str, str]:
    runtime = current()
    loop = asyncio.get_running_loop()
    signal = asyncio.Event()

    def wake_up() -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: the run stopped anyway
            loop.call_soon_threadsafe(signal.set)

    with runtime.poller.watch(run_id, wake_up):
        verdict = await asyncio.to_thread(_verdict_now, runtime.database, run_id, topic, until_ms)
        if verdict is None:
            park_at = _park_at(runtime.park_after_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), _seconds_until(until_ms, park_at))
            verdict = _verdict_after(signal.is_set(), until_ms, park_at)
    return runtime.poller.decided(verdict)


def _verdict_now(database: Database, run_id: str, topic: str, until_ms: int | None) -> str | None:
    with database.engine.connect() as conn:
        if has_message(conn, run_id, topic):
            return MESSAGE
    if until_ms is not None and now_ms() >= until_ms:
        return TIMEOUT
    return None


def _park_at(park_after_s: float | None) -> int | None:
    return None if park_after_s is None else now_ms() + int(park_after_s * 1000)


def _seconds_until(until_ms: int | None, park_at: int | None) -> float:
    ends = [t for t in (until_ms, park_at) if t is not None] or [now_ms() + HOT_CHUNK_MS]
    return max(0.0, (min(ends) - now_ms()) / 1000)


def _verdict_after(woken: bool, until_ms: int | None, park_at: int | None) -> str:
    if woken:
        return MESSAGE
    if park_at is not None and (until_ms is None or park_at < until_ms):
        return PARK
    return TIMEOUT


def _park(run_id: str, topic: str, until_ms: int | None, token: str) -> bool:
    """Park the run if this execution decided to; False means: look again."""
    runtime = current()
    if not runtime.poller.parks_live(token):
        return False
    engine = runtime.database.engine
    at = now_ms()
    with engine.begin() as conn:
        until = until_ms if until_ms is not None else at + PARKED_RECHECK_MS
        if not park(conn, run_id, topic, until_ms=until, now_ms=at):
            return False
    with engine.begin() as conn:
        # An answer that committed while the row was being parked: the answerer saw the run
        # still executing and did not wake it, so wake it now.
        if has_message(conn, run_id, topic):
            wake(conn, run_id, now_ms=now_ms())
    return True
