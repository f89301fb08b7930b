"""Small reaches into this process's DBOS: its default database file, the internal queue's
polling, the executing run's steps, recovery of another executor's runs, and the error of an
awaited cancelled run.

DBOS is imported inside the functions that call it (see the package's docstring).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hitl_notebook._db.dbos_internals.tables import INTERNAL_QUEUE

if TYPE_CHECKING:
    from dbos import DBOSClient


def dbos_default_database(app_name: str) -> str:
    """The SQLite file DBOS (and its CLI) uses for an application with no database URL set."""
    from dbos._dbos_config import _app_name_to_db_name  # noqa: PLC0415 - see the docstring

    return f"{_app_name_to_db_name(app_name)}.sqlite"


def set_internal_queue_polling(seconds: float) -> None:
    """How often this process's DBOS looks for enqueued (woken) runs; call after ``DBOS(...)``."""
    from dbos._dbos import _get_dbos_instance  # noqa: PLC0415 - see the docstring

    queue = _get_dbos_instance()._registry.get_internal_queue()
    queue._polling_interval_sec = seconds


def steps_taken() -> int:
    """How many step ids the run executing here has used so far (0 outside a run): the steps
    numbered up to it are recorded, and ``fork_workflow`` from the next one reuses them."""
    from dbos._context import get_local_dbos_context  # noqa: PLC0415 - see the docstring

    context = get_local_dbos_context()
    if context is None or not context.is_within_workflow():
        return 0
    return max(context.function_id, 0)


def requeue_for_recovery(client: DBOSClient, run_id: str, dead_executor: str) -> bool:
    """Return a PENDING run of ``dead_executor`` to its queue, as DBOS's recovery does.

    The same call as ``dbos._recovery._recover_workflow``; guarded by the executor id, so a run
    that a live executor took meanwhile is left alone. Returns whether the run was requeued.
    """
    requeued: bool = client._sys_db.reenqueue_for_recovery(run_id, [dead_executor], INTERNAL_QUEUE)
    return requeued


def awaited_a_cancelled_run(error: BaseException) -> bool:
    """Whether ``error`` is the one DBOS raises when a caller awaits a cancelled workflow's result."""
    from dbos._error import DBOSAwaitedWorkflowCancelledError  # noqa: PLC0415 - see the docstring

    return isinstance(error, DBOSAwaitedWorkflowCancelledError)
