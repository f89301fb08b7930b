"""Waiting for a human at almost no cost: hot for a grace period, then parked.

A wait for answers has two phases.

1. **Hot.** The run registers with its process's one ``Poller`` and sleeps on a ``Signal`` (on
   the event loop for async agents, in its thread for sync ones: ``wait`` is a program, see
   ``_core.sync_async``); when the poller says an answer to the run was stored, the run looks at
   its requests. An answer resumes a hot run within milliseconds, and a thousand hot runs cost the
   poller one query, not a thousand. An answer stored by this process hands its committed
   decision over with the wake (``HotWait.handed``): the run takes it without a look.
2. **Parked.** After ``park_after`` (``hitl.launch(park_after=...)``) the run parks: its DBOS row
   becomes DELAYED until the nearest deadline (in real time: a test's clock moves it, see
   ``Poller.time_moved``) and its code unwinds (see ``_db.dbos_internals``). It
   then holds no thread, no task and no poll. An answer (``Store.respond``, from any process) or
   the deadline enqueues it again; DBOS dispatches it in the process that owns it, which replays
   its checkpoints up to the wait and looks again.

A wait is not a DBOS step: a decision is stored in the request's row and never changes, so a
replay that looks finds the same decision, and taking it again publishes nothing twice (see
``_runtime.decisions``). A spurious wake-up costs a look and a new hot phase, and steps before the wait
never run again. When the runtime shuts down, hot waits end without a result (``Stopped``): the
run stays waiting in the database and resumes at the next launch.

An answer may arrive while the run parks. ``Store.respond`` locks the run's DBOS row and enqueues
it if it is parked; parking is one conditional update that refuses if a request is already
decided, and on Postgres the same transaction looks once more after it and takes the park back if
an answer committed meanwhile. So one of the two always sees the other, on SQLite (which
serialises them) and on Postgres (READ COMMITTED).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import sqlalchemy as sa
from dbos import DBOS

from hitl_notebook._core.errors import HitlError
from hitl_notebook._core.models import Decision, Request
from hitl_notebook._core.sync_async import Call, Program, Signal, Sleep
from hitl_notebook._core.times import now_ms, real_ms
from hitl_notebook._db.changes import note_change
from hitl_notebook._db.database import Database
from hitl_notebook._db.dbos_internals import Parked, Stopped, park, parking
from hitl_notebook._db.request_records import decided_or_due
from hitl_notebook._db.run_records import run_state
from hitl_notebook._runtime.decisions import collect, stop_cancelled
from hitl_notebook._runtime.launch import Runtime, current
from hitl_notebook._runtime.retries import retrying

__all__ = ["current_run_id", "wait"]

MIN_WAIT_S = 0.01
"""The shortest sleep between two looks, so a clock that disagrees by a little cannot spin."""
PARKED_RECHECK_MS = 365 * 24 * 3600 * 1000
"""A parked run without a deadline is woken once a year to look again."""
PARKING = parking(unless=decided_or_due())
DECIDED_OR_DUE = sa.select(decided_or_due())


def wait(
    requests: Sequence[Request], until_ms: int | None, *, look_first: bool = True
) -> Program[dict[str, Decision]]:
    """Wait until one of the requests (as stored) is decided (at ``until_ms`` one is due to
    time out).

    ``look_first=False`` skips the first look, for requests stored just now, which nobody can
    have answered before the wait began to listen (an answer in between wakes it, see ``_runtime.poller``).
    """
    request_ids = [request.request_id for request in requests]
    run_id = current_run_id()
    runtime = current()
    park_at = _park_at(runtime)
    signal = Signal()
    look = look_first
    with runtime.poller.watch(run_id, requests, signal.set) as hot:
        while True:
            if runtime.poller.stopped:
                raise Stopped(run_id)
            signal.clear()  # before looking, so an answer stored during the look still wakes
            if hot.handed:  # committed in this process, taken already: no look, no thread
                return dict(hot.handed)
            found = (yield Call(retrying, (collect, runtime.database, request_ids))) if look else {}
            if found:
                return found
            seconds = _seconds_to_sleep(until_ms, park_at)
            if seconds is None:
                if (yield Call(retrying, (_park, runtime.database, run_id, request_ids, until_ms))):
                    raise Parked(run_id)
                look = True  # an answer came or a deadline passed meanwhile
                continue
            yield Sleep(signal, None if math.isinf(seconds) else seconds)
            look = _worth_a_look(signal.is_set(), until_ms, park_at)


def current_run_id() -> str:
    """The id of the run this code executes in (HitlError outside a run)."""
    run_id: str | None = DBOS.workflow_id
    if run_id is None:
        raise HitlError("Agent methods work only inside a run: start the agent with Agent.start().")
    return run_id


def _park_at(runtime: Runtime) -> int | None:
    park_after = runtime.park_after_s
    return None if park_after is None else now_ms() + int(park_after * 1000)


def _seconds_to_sleep(until_ms: int | None, park_at: int | None) -> float | None:
    """How long to sleep before the next look (inf: until woken); None: time to park."""
    now = now_ms()
    if _time_to_park(now, until_ms, park_at):
        return None
    ends = [t for t in (until_ms, park_at) if t is not None]
    return max(MIN_WAIT_S, (min(ends) - now) / 1000) if ends else math.inf


def _time_to_park(now: int, until_ms: int | None, park_at: int | None) -> bool:
    return park_at is not None and now >= park_at and (until_ms is None or park_at < until_ms)


def _worth_a_look(signalled: bool, until_ms: int | None, park_at: int | None) -> bool:
    """After a sleep: look, unless it only ended because it is time to park (parking looks)."""
    return signalled or not _time_to_park(now_ms(), until_ms, park_at)


def _park(
    database: Database, run_id: str, request_ids: Sequence[str], until_ms: int | None
) -> bool:
    """Park the run unless one of its requests is decided or due; False means: look again.

    A run whose DBOS row is no longer executing (PENDING) does not look again: cancelled, it
    stops (``stop_cancelled``); otherwise this execution is stale and stops (``Stopped``).
    """
    at = now_ms()
    with database.engine.connect() as conn, conn.begin() as transaction:
        parked = park(
            conn,
            PARKING,
            run_id=run_id,
            until_ms=real_ms(until_ms if until_ms is not None else at + PARKED_RECHECK_MS),
            now_ms=at,
            request_ids=list(request_ids),
            due_at=at,
        )
        if parked:  # the inbox shows the run as parked
            note_change(conn, run_id)
        # On Postgres, an answer that committed while this update waited for the row's lock saw
        # the run still executing and did not enqueue it; this statement's fresh snapshot sees it.
        # (SQLite serialises the answer and the park.)
        if (
            parked
            and not database.is_sqlite
            and conn.execute(
                DECIDED_OR_DUE, {"request_ids": list(request_ids), "due_at": now_ms()}
            ).scalar()
        ):
            transaction.rollback()
            return False
        state = None if parked else run_state(conn, run_id)
    if state == "CANCELLED":
        stop_cancelled(database, run_id, request_ids)
    if state not in (None, "PENDING"):
        raise Stopped(run_id)
    return parked
