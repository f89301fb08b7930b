"""Runs queued for workers: the one workflow's name and inputs, the workers' queue and application.

Every run is the DBOS workflow ``hitl.agent`` with two inputs, the agent's name and its pickled
arguments, so any process with only a database URL can queue a run without the agent's code.

Workers (``hitl worker``) are one DBOS application, ``hitl-worker``, on one application version,
each process with its own executor id. A queued run is stamped with that application and no
version: DBOS 3.4 hands a version-less row of an application to any of its processes that runs
the application's latest version, and the dequeue stamps the row with the worker's executor id and
version. So every worker shares the queue, a restarted worker recovers the runs it had taken, and
notebook kernels (each its own application, see ``_runtime.launch``) never take a worker's runs.
"""

from __future__ import annotations

import base64
import pickle
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hitl_notebook._core.values import check_text, check_texts

if TYPE_CHECKING:
    from dbos import EnqueueOptions, WorkflowHandle

    from hitl_notebook._db.database import Database

__all__ = [
    "WORKER_APPLICATION",
    "WORKER_QUEUE",
    "WORKFLOW_NAME",
    "decode_payload",
    "encode_payload",
    "enqueue_runs",
]

WORKFLOW_NAME = "hitl.agent"
"""The DBOS workflow behind every run."""
WORKER_QUEUE = "hitl-agents"
"""The DBOS queue workers take new runs from."""
WORKER_APPLICATION = "hitl-worker"
"""The DBOS application name every worker process shares."""

Call = tuple[tuple[Any, ...], dict[str, Any]]


def encode_payload(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """A run's arguments as the workflow's second input."""
    return base64.b64encode(pickle.dumps((args, kwargs))).decode()


def decode_payload(payload: str) -> Call:
    """The arguments of a run from the workflow's second input."""
    args, kwargs = pickle.loads(base64.b64decode(payload))
    return tuple(args), dict(kwargs)


def enqueue_runs(
    database: Database,
    agent: str,
    calls: Sequence[Call],
    *,
    run_ids: Sequence[str | None] | None = None,
    requester: str | None = None,
) -> list[str]:
    """Queue one run of ``agent`` per call, in one transaction; returns the run ids."""
    ids = list(run_ids) if run_ids is not None else [None] * len(calls)
    if len(ids) != len(calls):
        raise ValueError("Give one run id per call, or none.")
    check_text(agent, "agent")
    check_texts(ids, "run_id")
    check_texts([requester], "requester")
    client = database.client
    queued = []
    with database.engine.begin() as conn:
        for (args, kwargs), run_id in zip(calls, ids, strict=True):
            options: EnqueueOptions = {
                "workflow_name": WORKFLOW_NAME,
                "queue_name": WORKER_QUEUE,
                "application_name": WORKER_APPLICATION,
            }
            if run_id is not None:
                options["workflow_id"] = run_id
            if requester is not None:
                options["authenticated_user"] = requester
            handle: WorkflowHandle[Any] = client.enqueue_in_transaction(
                conn, options, agent, encode_payload(args, kwargs)
            )
            queued.append(handle.get_workflow_id())
    return queued
