"""What hitl_notebook relies on inside DBOS (``_db.dbos_internals``): fails loudly if an upgrade changes it.

If one of these fails after upgrading DBOS, do not loosen the test: read the new DBOS code for the
named internal, adapt its module in the ``_db.dbos_internals`` package, and widen the pinned range
in pyproject.toml.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from typing import Any

import pytest
import sqlalchemy as sa
from dbos import DBOS
from dbos._dbos import _get_dbos_instance
from dbos._error import DBOSAwaitedWorkflowCancelledError
from dbos._recovery import _recover_workflow
from dbos._sys_db import (
    SystemDatabase,
    WorkflowStatusString,
    _dbos_notifications_channel,
    _dbos_null_topic,
)
from dbos._utils import INTERNAL_QUEUE_NAME
from packaging.version import Version

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._core.times import now_ms
from hitl_notebook._db import dbos_internals as _dbos_internals
from hitl_notebook._db.dbos_internals import (
    Parked,
    Stopped,
    park,
    parking,
    set_internal_queue_polling,
    steps_taken,
    workflow_status,
)
from hitl_notebook._runtime.launch import WOKEN_POLL_S, current, on_loop
from tests.agents import Reporter

TESTED = (Version("3.4"), Version("3.5"))

pytestmark = pytest.mark.usefixtures("runtime")


_parked: set[str] = set()


@DBOS.workflow(name="hitl.contract.parks_once")
async def _parks_once() -> str:
    """Parks itself the first time (as a waiting run does), finishes when dispatched again."""
    run_id = DBOS.workflow_id
    assert run_id is not None
    if run_id not in _parked:
        _parked.add(run_id)
        with current().database.engine.begin() as conn:
            statement = parking(unless=sa.false())
            assert park(conn, statement, run_id=run_id, until_ms=now_ms() + 500, now_ms=now_ms())
        raise Parked(run_id)
    return "dispatched again"


def _work() -> str:
    return "worked"


@DBOS.workflow(name="hitl.contract.stops")
async def _stops_after_a_step() -> str:
    """A hot wait that ends because the runtime shuts down, after the run did some work."""
    await DBOS.run_step_async({"name": "contract.work"}, _work)
    raise Stopped("the runtime shut down")


@DBOS.workflow(name="hitl.contract.counts_steps")
async def _counts_steps() -> list[int]:
    """What ``steps_taken`` says before, between and after two steps."""
    taken = [steps_taken()]
    for name in ("contract.one", "contract.two"):
        await DBOS.run_step_async({"name": name}, _work)
        taken.append(steps_taken())
    return taken


def test_the_installed_dbos_is_in_the_tested_range() -> None:
    installed = Version(importlib.metadata.version("dbos"))
    assert TESTED[0] <= installed < TESTED[1], (
        f"DBOS {installed} is outside the range hitl_notebook was tested with; "
        "see this module's docstring"
    )


def test_the_system_tables_have_the_columns_the_sdk_reads_and_writes() -> None:
    engine = hitl.store().database.engine
    schema = None if engine.dialect.name == "sqlite" else _dbos_internals.DBOS_SCHEMA
    found = {c["name"] for c in sa.inspect(engine).get_columns("workflow_status", schema=schema)}
    assert {c.name for c in workflow_status.columns} <= found


def test_states_queue_and_error_names() -> None:
    names = {s.value for s in WorkflowStatusString}
    assert set(_dbos_internals.ACTIVE_STATES) <= names
    assert WorkflowStatusString.DELAYED.value == _dbos_internals.PARKED_STATE
    assert INTERNAL_QUEUE_NAME == _dbos_internals.INTERNAL_QUEUE == "_dbos_internal_queue"
    assert issubclass(DBOSAwaitedWorkflowCancelledError, Exception)
    assert _dbos_internals.awaited_a_cancelled_run(DBOSAwaitedWorkflowCancelledError("run-1"))
    assert not _dbos_internals.awaited_a_cancelled_run(RuntimeError("run-1"))


def test_the_internal_queue_polling_interval_is_set_and_read_by_dbos() -> None:
    queue: Any = _get_dbos_instance()._registry.get_internal_queue()
    assert queue.polling_interval_sec == WOKEN_POLL_S
    set_internal_queue_polling(0.3)
    try:
        assert queue.polling_interval_sec == 0.3
    finally:
        set_internal_queue_polling(WOKEN_POLL_S)


def test_a_parked_workflow_records_no_outcome_and_dbos_dispatches_it_at_its_delay() -> None:
    """The BaseException escape leaves the row DELAYED; DBOS's delayed-run job and internal queue
    run it again in this process."""
    store = hitl.store()
    run_id = on_loop(DBOS.start_workflow_async(_parks_once)).workflow_id
    testing.wait_until(lambda: run_id in _parked, message="parked")
    assert store.result(run_id, timeout=30) == "dispatched again"
    assert store.run_state(run_id) == "SUCCESS"


def test_a_base_exception_from_a_workflow_records_no_outcome() -> None:
    """What ``Stopped`` relies on: the run stays PENDING with its steps, resumed at the next launch."""
    store = hitl.store()
    handle = on_loop(DBOS.start_workflow_async(_stops_after_a_step))
    with pytest.raises(Stopped):
        on_loop(handle.get_result())
    run_id = handle.workflow_id
    assert store.run_state(run_id) == "PENDING"
    steps = store.database.client.list_workflow_steps(run_id)
    assert [s["function_name"] for s in steps] == ["contract.work"]


def test_steps_taken_is_the_id_of_the_last_step_dbos_recorded() -> None:
    """What a what-if fork relies on: a request records ``steps_taken()``, and ``fork_workflow``
    from the next id reuses exactly the steps recorded before it."""
    handle = on_loop(DBOS.start_workflow_async(_counts_steps))
    assert on_loop(handle.get_result()) == [0, 1, 2]
    steps = hitl.store().database.client.list_workflow_steps(handle.workflow_id)
    assert [s["function_id"] for s in steps] == [1, 2]
    assert steps_taken() == 0  # outside a run


def test_recovery_of_another_executor_goes_through_the_call_dbos_recovery_makes() -> None:
    """``requeue_for_recovery`` calls the method DBOS's own recovery calls, with its arguments."""
    parameters = list(inspect.signature(SystemDatabase.reenqueue_for_recovery).parameters)
    assert parameters == ["self", "workflow_id", "executor_ids", "recovery_queue_name"]
    assert "reenqueue_for_recovery" in inspect.getsource(_recover_workflow)


def test_messages_land_where_the_sdk_reads_them() -> None:
    """DBOS.send writes a ``notifications`` row (no topic stored as DBOS's null topic), which
    ``messages_to`` reads back and ``consume_message`` takes once; Postgres announces it on the
    channel the poller listens to."""
    engine = hitl.store().database.engine
    schema = None if engine.dialect.name == "sqlite" else _dbos_internals.DBOS_SCHEMA
    found = {c["name"] for c in sa.inspect(engine).get_columns("notifications", schema=schema)}
    assert {c.name for c in _dbos_internals.notifications.columns} <= found
    run = Reporter.start(1)  # no open request: the poller leaves its messages alone
    run.result(timeout=30)
    DBOS.send(run.id, {"answer": 42})
    DBOS.send(run.id, "topical", topic="t")
    with engine.begin() as conn:
        messages = _dbos_internals.messages_to(
            conn, lambda run_id: run_id == run.id, run_ids=None, limit=10
        )
        assert {(m.topic, repr(m.value), m.readable) for m in messages} == {
            (None, "{'answer': 42}", True),
            ("t", "'topical'", True),
        }
        assert _dbos_internals.consume_message(conn, messages[0].message_id)
        assert not _dbos_internals.consume_message(conn, messages[0].message_id)
    assert _dbos_internals.MESSAGES_CHANNEL == "dbos_notifications_channel"
    assert _dbos_notifications_channel == _dbos_internals.MESSAGES_CHANNEL
    assert _dbos_null_topic == _dbos_internals.NULL_TOPIC


def test_the_default_database_file_is_the_one_dbos_derives_from_the_app_name() -> None:
    """What the dbos CLI uses for a dbos-config.yaml without a URL (``_app_name_to_db_name``)."""
    assert _dbos_internals.dbos_default_database("my-App 2") == "my_app_2.sqlite"
    assert _dbos_internals.dbos_default_database("1st") == "_1st.sqlite"
