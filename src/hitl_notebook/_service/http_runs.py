"""What the HTTP API says of runs: listings, one run's detail (with its result or error), cancel.

A run's state is given in people's words (``RunStateWord``, from ``run_state_word``), next to the
SDK's status ("waiting") and the agent's own last status ("pending_approval"), which a wait for
a human does not hide. Reading a run never waits for it: an unfinished run has no result yet.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic_core import PydanticSerializationError, to_jsonable_python

from hitl_notebook._core.errors import (
    NotWaitingError,
    ResultTimeoutError,
    RunCancelledError,
    RunFailedError,
)
from hitl_notebook._core.models import RunStateWord, StatusEvent, run_state_word
from hitl_notebook._core.times import from_ms
from hitl_notebook._service.http_models import (
    CHANNEL,
    RunDetail,
    RunFailure,
    RunListing,
    RunSummary,
)
from hitl_notebook._store.store import Store

__all__ = ["cancel", "run_detail", "run_summaries"]


def run_summaries(store: Store, agent: str | None, listing: RunListing | None) -> list[RunSummary]:
    """The runs (of ``agent``) in ``listing``, oldest first."""
    found = store.run_rows(agent=agent, waiting=None if listing is None else listing == "waiting")
    summaries = [_run_summary(dict(zip(found.columns, row, strict=True))) for row in found.rows]
    if listing is None or listing == "waiting":
        return summaries
    return [run for run in summaries if _LISTED_AS.get(run.run_state) == listing]


_LISTED_AS: dict[RunStateWord, RunListing] = {
    "running": "running",
    "resuming": "running",
    "parked": "running",  # parked with no open request: woken, about to resume
    "queued": "running",
    "done": "done",
    "failed": "failed",
    "gave up": "failed",
    "cancelled": "cancelled",
}
"""Which listing (``GET /agents?status=``) a run not waiting for a human falls in, by state."""


def run_detail(store: Store, run_id: str) -> RunDetail:
    """One run, with its requests, and its result or error once it has ended."""
    engine_state = store.run_state(run_id)
    found = store.run_rows(run_id=run_id)
    row = dict(zip(found.columns, found.rows[0], strict=True)) if found.rows else None
    requests = store.requests(run_id)
    result, error = _outcome(store, run_id)
    if row is None:  # queued, not started: no status yet
        return RunDetail(
            run_id=run_id,
            agent=None,
            state=run_state_word(engine_state, started=False),
            status=None,
            agent_status=None,
            agent_detail=None,
            requests=requests,
            result=result,
            error=error,
        )
    summary = _run_summary(row)
    return RunDetail(
        run_id=run_id,
        agent=summary.agent,
        state=summary.run_state,
        status=StatusEvent(
            run_id=run_id,
            agent=summary.agent,
            status=summary.status,
            detail=summary.detail,
            progress=summary.progress,
            at=summary.updated_at,
        ),
        agent_status=summary.agent_status,
        agent_detail=summary.agent_detail,
        requests=requests,
        result=result,
        error=error,
    )


def _outcome(store: Store, run_id: str) -> tuple[Any, RunFailure | None]:
    """An ended run's result (as JSON, or its repr) or its error; nothing for the others."""
    try:
        value = store.result(run_id, timeout=0)
    except (ResultTimeoutError, RunCancelledError):
        return None, None
    except RunFailedError as error:
        cause = error.__cause__
        return None, RunFailure(
            type=getattr(error, "error_type", None) or type(cause or error).__name__,
            message=getattr(error, "error_message", None) or str(cause or error),
        )
    return _as_json(value), None


def _as_json(value: Any) -> Any:
    """``value`` as JSON (what a response can carry), else its repr."""
    try:
        jsonable = to_jsonable_python(value)
        json.dumps(jsonable, allow_nan=False, ensure_ascii=False).encode()
    except (ValueError, TypeError, RecursionError, PydanticSerializationError):
        return repr(value).encode("utf-8", "backslashreplace").decode()
    return jsonable


def cancel(store: Store, run_id: str, caller: str) -> RunDetail:
    """Cancel a run as ``caller``; NotWaitingError if it is done or failed (a cancelled run
    cancelled again is no error: a retry is harmless)."""
    state = run_state_word(store.run_state(run_id))
    if _LISTED_AS.get(state) in {"done", "failed"}:
        raise NotWaitingError(
            f"Run {run_id!r} already ended ({state}); there is nothing to cancel."
        )
    store.cancel(run_id, by=caller, channel=CHANNEL)
    return run_detail(store, run_id)


def _run_summary(row: dict[str, Any]) -> RunSummary:
    def at(ms: int | None) -> datetime | None:
        return None if ms is None else from_ms(ms)

    return RunSummary(
        run_id=row["run_id"],
        agent=row["agent"],
        status=row["status"],
        detail=row["detail"],
        progress=row["progress"],
        started_at=from_ms(row["started_at_ms"]),
        updated_at=from_ms(row["updated_at_ms"]),
        finished_at=at(row["finished_at_ms"]),
        waiting_since=at(row["waiting_since_ms"]),
        open_requests=row["open_requests"] or 0,
        run_state=run_state_word(row["run_state"], waiting=bool(row["open_requests"])),
        agent_status=row["agent_status"],
        agent_detail=row["agent_detail"],
    )
