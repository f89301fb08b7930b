"""Waiting requests written straight into a test database, a thousand in a fraction of a second,
for the tests of what the store does with many of them (bulk answers, the live inbox).

Each request gets a run row in DBOS's ``workflow_status`` (waiting hot, PENDING, or parked,
DELAYED) owned by an executor that is not running, and an open request stored by the same
``insert_request`` an agent's question uses. Nothing runs them: what is tested is the store.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

import hitl_notebook as hitl
from hitl_notebook._core.models import Request, RequestKind
from hitl_notebook._core.times import from_ms, now_ms
from hitl_notebook._db.dbos_internals import PARKED_STATE, workflow_status
from hitl_notebook._db.request_records import insert_request

GONE_EXECUTOR = "tests-gone"
"""The executor that owns the written runs: no process holds it."""
PROPOSAL = {"order_id": "A-1", "amount": 20.0}
SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}},
    "required": ["order_id", "amount"],
}


def add_waiting(
    store: hitl.Store,
    n: int,
    *,
    agent: str = "Bulk",
    kind: str = "approval",
    parked: bool = True,
    deadline_s: float | None = 3600,
    requests_per_run: int = 1,
    **fields: Any,
) -> list[str]:
    """Write ``n`` runs waiting for ``requests_per_run`` open requests each; the request ids."""
    now = now_ms()
    runs = [str(uuid.uuid4()) for _ in range(n)]
    state = PARKED_STATE if parked else "PENDING"
    with store.database.engine.begin() as conn:
        conn.execute(
            workflow_status.insert(),
            [
                {
                    "workflow_uuid": run_id,
                    "status": state,
                    "name": "hitl.agent",
                    "executor_id": GONE_EXECUTOR,
                    "application_name": "tests",
                    "created_at": now,
                    "updated_at": now,
                    "queue_name": "_dbos_internal_queue" if parked else None,
                    "delay_until_epoch_ms": now + 86_400_000 if parked else None,
                }
                for run_id in runs
            ],
        )
        ids = []
        for i, run_id in enumerate(runs):
            for j in range(requests_per_run):
                request = _request(run_id, f"{run_id}.r{j + 1}", i, agent, kind, now, deadline_s)
                insert_request(conn, request.model_copy(update=fields))
                ids.append(request.request_id)
    return ids


def _request(  # noqa: PLR0917 - the parts of one request
    run_id: str, request_id: str, i: int, agent: str, kind: str, now: int, deadline_s: float | None
) -> Request:
    return Request(
        request_id=request_id,
        run_id=run_id,
        agent=agent,
        kind=RequestKind(kind),
        title=f"Request {i}",
        options=["red", "green"] if kind == "choice" else None,
        proposal=PROPOSAL if kind in {"approval", "edit"} else None,
        proposal_schema=SCHEMA if kind in {"approval", "edit"} else None,
        requested_at=from_ms(now - 1000 + i),
        deadline=None if deadline_s is None else from_ms(now) + timedelta(seconds=deadline_s),
    )


def set_run_state(store: hitl.Store, run_id: str, state: str) -> None:
    """Change a run's DBOS state as DBOS itself would (no SDK write notes it)."""
    with store.database.engine.begin() as conn:
        conn.execute(
            sa.update(workflow_status)
            .where(workflow_status.c.workflow_uuid == run_id)
            .values(status=state, updated_at=now_ms())
        )
