"""Starting many runs at once in this process: their DBOS rows inserted as DBOS's queue leaves a
run it claimed (``claim_here``), then their tasks made on DBOS's event loop (``execute_claimed``).

DBOS is imported inside the functions that call it (see the package's docstring).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import sqlalchemy as sa

from hitl_notebook._db.bulk_insert import insert_new
from hitl_notebook._db.dbos_internals.tables import INTERNAL_QUEUE, workflow_input, workflow_status

if TYPE_CHECKING:
    from dbos._sys_db import WorkflowStatusInternal


class Claimed(NamedTuple):
    """Runs that ``claim_here`` inserted, for ``execute_claimed`` once their transaction committed."""

    owner: str
    """The token DBOS checks before it records a claimed run's outcome."""
    runs: list[tuple[dict[str, Any], tuple[Any, ...]]]
    """Each run's DBOS status (as DBOS reads it back) and its positional arguments."""


def claim_here(
    conn: sa.Connection,
    workflow: Callable[..., Any],
    runs: Sequence[tuple[str, tuple[Any, ...]]],
    *,
    owner: str,
    authenticated_user: str | None,
    now_ms: int,
) -> Claimed:
    """Insert runs of the registered async ``workflow`` (``(run id, positional arguments)``
    each) as DBOS's queue leaves a run it has claimed for this process: PENDING on the internal
    queue, this executor's and version's, under the token ``owner`` (a new uuid). An id that
    exists already is left as it is; returns the runs inserted now, and those an earlier attempt
    with the same ``owner`` inserted (its commit reached the database, but not its answer), which
    ``execute_claimed`` runs after the commit.

    The rows are those of ``SystemDatabase.init_workflows`` (DBOS's batch enqueue, with the
    shared columns from DBOS's own ``prepare_enqueued_workflow``) as its queue's claim
    (``start_queued_workflows``) updates them. A run claimed here that this process does not
    execute (it dies first) is PENDING on this executor: DBOS's recovery runs it, as it runs
    any workflow started directly. Call inside a launched DBOS.
    """
    if not runs:
        return Claimed(owner, [])
    from dbos._core import prepare_enqueued_workflow  # noqa: PLC0415 - see the docstring
    from dbos._dbos import _get_dbos_instance  # noqa: PLC0415
    from dbos._serialization import serialize_args  # noqa: PLC0415

    dbos = _get_dbos_instance()
    first_id, first_args = runs[0]
    shared: dict[str, Any] = dict(
        prepare_enqueued_workflow(
            dbos, workflow, first_args, {}, queue_name=INTERNAL_QUEUE, workflow_id=first_id
        )
    )
    assert shared["attributes"] is None  # no tracing context: no attributes column written
    shared.update(
        status="PENDING",
        authenticated_user=authenticated_user,
        authenticated_roles=None,
        recovery_attempts=1,
        started_at_epoch_ms=now_ms,
        created_at=now_ms,
        updated_at=now_ms,
    )
    row = {
        "status": shared["status"],
        "name": shared["name"],
        "class_name": shared["class_name"],
        "config_name": shared["config_name"],
        "executor_id": shared["executor_id"],
        "application_version": shared["app_version"],
        "application_id": shared["app_id"],
        "authenticated_user": authenticated_user,
        "authenticated_roles": None,
        "assumed_role": shared["assumed_role"],
        "queue_name": INTERNAL_QUEUE,
        "recovery_attempts": 1,
        "workflow_timeout_ms": shared["workflow_timeout_ms"],
        "workflow_deadline_epoch_ms": shared["workflow_deadline_epoch_ms"],
        "deduplication_id": None,
        "priority": shared["priority"],
        "queue_partition_key": None,
        "parent_workflow_id": None,
        "creator_xid": None,
        "owner_xid": owner,
        "started_at_epoch_ms": now_ms,
        "delay_until_epoch_ms": None,
        "schedule_name": None,
        "application_name": shared["application_name"],
        "created_at": now_ms,
        "updated_at": now_ms,
    }
    rows, inputs, claimed = [], [], []
    for run_id, args in runs:
        serialized, serialization = serialize_args(args, {}, None, dbos._serializer)
        rows.append({**row, "workflow_uuid": run_id, "serialization": serialization})
        inputs.append(
            {"workflow_uuid": run_id, "inputs": serialized, "retention_timestamp": now_ms}
        )
        status = {
            **shared,
            "workflow_uuid": run_id,
            "inputs": serialized,
            "serialization": serialization,
        }
        claimed.append((status, args))
    inserted = set(
        insert_new(conn, workflow_status, rows, key=["workflow_uuid"], returning="workflow_uuid")
    )
    if len(inserted) < len(runs):
        inserted.update(
            conn.execute(
                sa.select(workflow_status.c.workflow_uuid).where(
                    workflow_status.c.workflow_uuid.in_([run_id for run_id, _ in runs]),
                    workflow_status.c.owner_xid == owner,
                )
            ).scalars()
        )
        inputs = [i for i in inputs if i["workflow_uuid"] in inserted]
        claimed = [
            (status, args) for status, args in claimed if status["workflow_uuid"] in inserted
        ]
    insert_new(conn, workflow_input, inputs, key=["workflow_uuid"])
    return Claimed(owner, claimed)


def execute_claimed(claimed: Claimed) -> None:
    """Begin executing the runs ``claim_here`` inserted (after its commit), on DBOS's event loop,
    as ``DBOS.start_workflow_async`` executes a workflow after inserting its row; returns at once.

    One callback creates every run's task, with the context DBOS's queue gives a run it claimed
    (``execute_dequeued_workflow``): the run's id, its requester, the owner token. It runs in a
    context of its own, so a caller inside a run does not become the runs' parent.
    """
    if not claimed.runs:
        return
    from dbos._dbos import _get_dbos_instance  # noqa: PLC0415 - see the docstring

    dbos = _get_dbos_instance()
    loop = dbos._background_event_loop.target_loop()
    assert loop is not None, "DBOS is not launched"
    loop.call_soon_threadsafe(_execute_all, dbos, claimed, context=contextvars.Context())


def _execute_all(dbos: Any, claimed: Claimed) -> None:
    from dbos._context import (  # noqa: PLC0415 - see the module's docstring
        DBOSContext,
        DBOSContextSetAuth,
        SetWorkflowID,
        get_local_dbos_context,
    )
    from dbos._core import _execute_workflow_async  # noqa: PLC0415
    from dbos._event_loop import retrieve_future_exception  # noqa: PLC0415
    from dbos._registrations import get_func_info  # noqa: PLC0415
    from dbos._serialization import WorkflowSerializationFormat  # noqa: PLC0415

    name = claimed.runs[0][0]["name"]
    registered = dbos._registry.workflow_info_map[name]
    info = get_func_info(registered)
    assert info is not None
    function = registered.__orig_func
    assert inspect.iscoroutinefunction(function), "execute_claimed runs async workflows"
    serialization = info.serialization_type or WorkflowSerializationFormat.DEFAULT
    for status, args in claimed.runs:
        with (
            DBOSContextSetAuth(status["authenticated_user"], None),
            SetWorkflowID(status["workflow_uuid"]),
        ):
            context = DBOSContext.create_start_workflow_child(get_local_dbos_context())
            context.owner_xid = claimed.owner
            context.serialization_type = serialization
            context.workflow_deadline_epoch_ms = None
            task = asyncio.create_task(
                _execute_workflow_async(
                    dbos, cast("WorkflowStatusInternal", status), function, context, args, {}
                )
            )
        dbos._workflow_tasks.add(task)
        task.add_done_callback(dbos._workflow_tasks.discard)
        task.add_done_callback(retrieve_future_exception)
