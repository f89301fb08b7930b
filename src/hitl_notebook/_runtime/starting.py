"""Starting many runs in this process at once, each durably once or not at all.

``Agent.start`` costs DBOS one transaction to insert a run and the run another to say it started.
``start_here`` inserts ``CHUNK`` runs per transaction: their DBOS rows, claimed for this process
as DBOS's queue claims a run it dispatches (``_db.dbos_internals.claim_here``), and each run's
first status ("working: started"). Once the chunk committed, its runs begin at once, all with one
call onto DBOS's event loop (``execute_claimed``), and a run finds its start already said
(``take_announced``).

A crash in the middle leaves each run started (its chunk committed: it runs now, or DBOS's
recovery runs it when this executor runs again) or not at all; a run id that exists is left as it
is, so calling again with the same run ids starts the rest and nothing twice.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from hitl_notebook._core.models import Status
from hitl_notebook._core.times import now_ms
from hitl_notebook._db.database import Database
from hitl_notebook._db.dbos_internals import Claimed, claim_here, execute_claimed, workflow_status
from hitl_notebook._db.run_records import append_first_statuses
from hitl_notebook._runtime.retries import retrying
from hitl_notebook._store.queueing import WORKFLOW_NAME

__all__ = ["CHUNK", "START_DETAIL", "START_KEY", "start_here", "take_announced"]

CHUNK = 1_000
"""Runs inserted per transaction: the first are dispatched while the next are inserted."""
START_KEY = "start"
"""The key of a run's first status transition (once per run)."""
START_DETAIL = "started"

T = TypeVar("T")

_announced: set[str] = set()
_announced_lock = threading.Lock()


def start_here(
    database: Database,
    workflow: Callable[..., Any],
    agent: str,
    runs: Sequence[tuple[str, tuple[Any, ...]]],
    *,
    requester: str | None,
) -> None:
    """Start runs of the registered ``workflow`` (``(run id, its arguments)`` each) of ``agent``
    in this process; a run id that exists already is left as it is.

    Raises ValueError, before anything is written, if a run id belongs to another DBOS workflow.
    """
    run_ids = [run_id for run_id, _ in runs]
    with database.autocommit.connect() as conn:
        foreign = [
            run_id
            for chunk in _chunks(run_ids)
            for run_id, name in _existing(conn, chunk).items()
            if name != WORKFLOW_NAME
        ]
    if foreign:
        raise ValueError(
            f"Run id {foreign[0]!r} belongs to a DBOS workflow that is not an agent's run; "
            "choose other run ids."
        )
    for chunk in _chunks(runs):
        owner = str(uuid.uuid4())  # the same in each attempt: see ``claim_here``
        claimed = retrying(_claim_chunk, database, workflow, agent, chunk, owner, requester)
        started = [status["workflow_uuid"] for status, _ in claimed.runs]
        with _announced_lock:
            _announced.update(started)
        try:
            execute_claimed(claimed)
        except BaseException:  # they run at the next launch, and say that they started then
            with _announced_lock:
                _announced.difference_update(started)
            raise


def take_announced(run_id: str) -> bool:
    """Whether ``start_here`` said that this run started (once: a replay says it again)."""
    with _announced_lock:
        if run_id in _announced:
            _announced.discard(run_id)
            return True
        return False


def _claim_chunk(  # noqa: PLR0917 - an operation's arguments are positional (``retrying``)
    database: Database,
    workflow: Callable[..., Any],
    agent: str,
    runs: Sequence[tuple[str, tuple[Any, ...]]],
    owner: str,
    requester: str | None,
) -> Claimed:
    """In one transaction: the runs that do not exist yet, claimed for this process, and their
    first status."""
    at = now_ms()
    with database.engine.begin() as conn:
        claimed = claim_here(
            conn, workflow, runs, owner=owner, authenticated_user=requester, now_ms=at
        )
        append_first_statuses(
            conn,
            [status["workflow_uuid"] for status, _ in claimed.runs],
            key=START_KEY,
            agent=agent,
            status=Status.WORKING.value,
            detail=START_DETAIL,
            at_ms=at,
        )
    return claimed


def _chunks(items: Sequence[T]) -> list[Sequence[T]]:
    return [items[first : first + CHUNK] for first in range(0, len(items), CHUNK)]


def _existing(conn: sa.Connection, run_ids: Sequence[str]) -> dict[str, str]:
    """The DBOS workflow name of each of ``run_ids`` that exists."""
    rows = conn.execute(
        sa.select(workflow_status.c.workflow_uuid, workflow_status.c.name).where(
            workflow_status.c.workflow_uuid.in_(list(run_ids))
        )
    )
    return {str(run_id): str(name) for run_id, name in rows}
