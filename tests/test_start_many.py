"""``Agent.start_many``: many runs started at once, each once or not at all (also across a SIGKILL
in the middle of the call), idempotent per run id, refusing bad input before writing anything."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dbos._core import prepare_enqueued_workflow
from dbos._dbos import _get_dbos_instance

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._agent.workflow import run_agent
from hitl_notebook._core.times import now_ms
from hitl_notebook._db.database import Database, executors, statuses
from hitl_notebook._db.dbos_internals import (
    INTERNAL_QUEUE,
    Claimed,
    Stopped,
    claim_here,
    execute_claimed,
    workflow_input,
    workflow_status,
)
from hitl_notebook._runtime.write_batches import WriteBatches
from hitl_notebook._store.queueing import encode_payload
from tests.processes.fast_runs import Numbered, Spawner

KERNEL = Path(__file__).parent / "processes" / "fast_runs.py"
ROOT = Path(__file__).parent.parent


def wait_all_waiting(runs: list[hitl.RunHandle]) -> None:
    store = hitl.store()
    for run in runs:
        testing.wait_until(
            lambda r=run: store.requests(r.id, open_only=True),  # type: ignore[misc]
            timeout=60,
            message=f"run {run.id} waiting",
        )


def dbos_rows(run_ids: list[str]) -> list[sa.Row[Any]]:
    with hitl.store().database.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(workflow_status).where(workflow_status.c.workflow_uuid.in_(run_ids))
            )
        )


def start_statuses(run_id: str) -> int:
    with hitl.store().database.engine.connect() as conn:
        found = conn.execute(
            sa.select(sa.func.count()).where(
                statuses.c.run_id == run_id, statuses.c.status == "working"
            )
        )
        return int(found.scalar_one())


def test_start_many_starts_each_run_here_with_its_arguments(runtime: hitl.Runtime) -> None:
    """Tuples and hitl.Args both work; the runs run in this process, which listens to no queue of
    its own (DBOS's internal queue dispatches them), and carry the requester."""
    runs = Numbered.start_many([(1,), hitl.Args(2, suffix="!"), hitl.Args(3)], requester="carol")
    assert [run.agent for run in runs] == ["Numbered"] * 3
    wait_all_waiting(runs)
    assert {row.executor_id for row in dbos_rows([run.id for run in runs])} == {runtime.executor_id}
    assert {r.requester for run in runs for r in run.requests()} == {"carol"}
    for run in runs:
        hitl.respond(run.id, text="ok", by="alice")
    assert [run.result(timeout=30) for run in runs] == ["1: ok", "2!: ok", "3: ok"]
    assert [e.status for e in runs[0].history()] == ["working", "waiting", "resumed", "finished"]


def test_start_many_is_idempotent_per_run_id(runtime: hitl.Runtime) -> None:
    """The same run ids again start nothing new: the same handles, one start each."""
    ids = ["again-1", "again-2"]
    first = Numbered.start_many([(1,), (2,)], run_ids=ids)
    wait_all_waiting(first)
    second = asyncio.run(Numbered.start_many_async([(9,), (9,), (3,)][:2], run_ids=ids))
    assert second == first
    third = Numbered.start_many([(1,), (2,), (3,)], run_ids=[*ids, "again-3"])
    wait_all_waiting(third)
    for run in third:
        hitl.respond(run.id, text="x", by="alice")
    assert [run.result(timeout=30) for run in third] == ["1: x", "2: x", "3: x"]
    assert [start_statuses(run_id) for run_id in [*ids, "again-3"]] == [1, 1, 1]


def test_inside_a_run_start_many_needs_run_ids_that_a_replay_makes_again(
    runtime: hitl.Runtime,
) -> None:
    spawner = Spawner.start(True)
    assert spawner.result(timeout=30) == [f"{spawner.id}-child"]
    with pytest.raises(hitl.RunFailedError, match="Inside a run, give start_many run_ids"):
        Spawner.start(False).result(timeout=30)


BAD_INPUT: list[tuple[list[Any], Any, type[Exception], str]] = [
    (["A-1"], None, TypeError, "tuple of positional arguments"),
    ([(1,), (2,)], ["x-1"], ValueError, "one run id per run"),
    ([(1,)], "x-1", ValueError, "one run id per run"),
    ([(1,), (2,)], ["x-1", "x-1"], ValueError, "given twice"),
    ([(1,)], ["x\x00"], ValueError, "NUL"),
    ([(1,)], ["x\ud800"], ValueError, "surrogate"),
    ([(1,)], [""], ValueError, "empty"),
    ([(1,)], [7], TypeError, "string"),
    ([(1,), (lambda: 1,)], ["x-1", "x-2"], TypeError, "cannot be stored"),
]


def test_bad_input_is_refused_before_anything_is_started(runtime: hitl.Runtime) -> None:
    for calls, run_ids, error, says in BAD_INPUT:
        with pytest.raises(error, match=says):
            Numbered.start_many(calls, run_ids=run_ids)
    with pytest.raises(ValueError, match="NUL"):
        Numbered.start_many([(1,)], requester="bob\x00")
    with runtime.database.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(workflow_status)).scalar() == 0


def test_a_run_id_of_another_dbos_workflow_is_refused_and_nothing_starts(
    runtime: hitl.Runtime,
) -> None:
    runtime.database.client.enqueue(
        {"workflow_name": "someone.else", "queue_name": "nobody", "workflow_id": "taken"}
    )
    with pytest.raises(ValueError, match="not an agent's run"):
        Numbered.start_many([(1,), (2,)], run_ids=["fresh", "taken"])
    assert [row.workflow_uuid for row in dbos_rows(["fresh", "taken"])] == ["taken"]


def test_runs_claimed_here_are_what_dbos_queue_makes_of_a_run_it_claims(
    runtime: hitl.Runtime,
) -> None:
    """The contract of ``claim_here`` and ``execute_claimed``: a run that DBOS's queue claims
    from a row of DBOS's own batch enqueue, and a run claimed and executed here, have the same
    DBOS row while they wait and once they finish (so DBOS recorded the outcome under the owner
    token), the same input, and run with their requester."""
    dbos = _get_dbos_instance()
    args = ("Numbered", encode_payload((5,), {}))
    status = prepare_enqueued_workflow(
        dbos, run_agent, args, {}, queue_name=INTERNAL_QUEUE, workflow_id="by-dbos"
    )
    status["authenticated_user"] = "carol"
    assert dbos._sys_db.init_workflows([status]) == {"by-dbos"}
    with runtime.database.engine.begin() as conn:
        claimed = claim_here(
            conn,
            run_agent,
            [("by-us", args)],
            owner="owner-1",
            authenticated_user="carol",
            now_ms=now_ms(),
        )
    execute_claimed(claimed)
    runs = [hitl.RunHandle(run_id, agent="Numbered") for run_id in ("by-dbos", "by-us")]
    wait_all_waiting(runs)
    assert same_dbos_rows("by-dbos", "by-us")
    assert {r.requester for run in runs for r in run.requests()} == {"carol"}
    for run in runs:
        hitl.respond(run.id, text="ok", by="alice")
    assert [run.result(timeout=30) for run in runs] == ["5: ok", "5: ok"]
    assert same_dbos_rows("by-dbos", "by-us")
    with runtime.database.engine.connect() as conn:
        inputs = conn.execute(sa.select(workflow_input.c.inputs).order_by("workflow_uuid"))
        assert len(set(inputs.scalars())) == 1


def test_a_chunk_attempted_again_with_its_owner_token_claims_the_runs_it_inserted(
    runtime: hitl.Runtime,
) -> None:
    """A chunk whose commit reached the database but whose answer was lost is attempted again
    (``retrying``) with the same token: the runs the first attempt inserted are claimed again,
    so they run; an attempt with another token claims none of them."""
    args = ("Numbered", encode_payload((1,), {}))

    def claim(owner: str) -> Claimed:
        with runtime.database.engine.begin() as conn:
            return claim_here(
                conn,
                run_agent,
                [("retried", args)],
                owner=owner,
                authenticated_user=None,
                now_ms=now_ms(),
            )

    assert [status["workflow_uuid"] for status, _ in claim("owner-a").runs] == ["retried"]
    assert claim("owner-b").runs == []
    again = claim("owner-a")
    assert [status["workflow_uuid"] for status, _ in again.runs] == ["retried"]
    execute_claimed(again)
    run = hitl.RunHandle("retried", agent="Numbered")
    wait_all_waiting([run])
    hitl.respond(run.id, text="ok", by="alice")
    assert run.result(timeout=30) == "1: ok"


def same_dbos_rows(first: str, second: str) -> bool:
    """Whether two runs' DBOS rows (every column DBOS has) are alike but for ids and times."""
    table = _get_dbos_instance()._sys_db.tables.workflow_status
    ignored = {
        "workflow_uuid",
        "created_at",
        "updated_at",
        "started_at_epoch_ms",
        "completed_at",
        "owner_xid",
    }
    with _get_dbos_instance()._sys_db.engine.connect() as conn:
        rows = {
            row.workflow_uuid: {k: v for k, v in row._mapping.items() if k not in ignored}
            for row in conn.execute(
                sa.select(table).where(table.c.workflow_uuid.in_([first, second]))
            )
        }
    assert rows[first] == rows[second], (rows[first], rows[second])
    return True


def test_a_sigkill_in_the_middle_of_start_many_leaves_each_run_started_once_or_not_at_all(
    db_url: str,
) -> None:
    """Killed inside its third transaction, the kernel leaves the first two chunks started and
    the third not at all; the restarted kernel runs the first ones, calling again with the same
    run ids starts the rest, and every run waits and finishes once."""
    child = subprocess.run(
        [sys.executable, str(KERNEL), "start", db_url, "many", "12", "5", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert child.returncode == -9, child.stderr
    ids = json.loads(child.stdout.splitlines()[0])

    with testing.launched(db_url, executor="many", park_after=None):
        assert sorted(row.workflow_uuid for row in dbos_rows(ids)) == sorted(ids[:10])
        runs = Numbered.start_many([(i,) for i in range(12)], run_ids=ids)
        wait_all_waiting(runs)
        for run in runs:
            hitl.respond(f"{run.id}.q", text="done", by="alice")
        assert [run.result(timeout=60) for run in runs] == [f"{i}: done" for i in range(12)]
        for run in runs:
            assert [e.status for e in run.history()] == [
                "working",
                "waiting",
                "resumed",
                "finished",
            ]


def test_writes_that_share_a_transaction_keep_their_own_results_and_errors(db_url: str) -> None:
    """A batch with a failing write is taken apart: the others commit, the error is its own."""
    database = Database(db_url)
    writes = WriteBatches(database)

    def claim(executor_id: str) -> Any:
        def write(conn: sa.Connection) -> str:
            row = {"host": "h", "pid": 1, "label": "l", "claimed_at_ms": 0, "heartbeat_at_ms": 0}
            conn.execute(executors.insert().values(executor_id=executor_id, released=False, **row))
            return executor_id

        return write

    futures = [writes.submit(claim(name)) for name in ("a", "b", "a", "c")]
    writes.start()  # all four are queued: they go in one transaction, which the second "a" fails
    try:
        assert [f.result(timeout=30) for f in (futures[0], futures[1], futures[3])] == [
            "a",
            "b",
            "c",
        ]
        with pytest.raises(sa.exc.IntegrityError):
            futures[2].result(timeout=30)
        with database.engine.connect() as conn:
            stored = conn.execute(sa.select(executors.c.executor_id).order_by("executor_id"))
            assert list(stored.scalars()) == ["a", "b", "c"]
    finally:
        writes.stop()
        database.close()
    with pytest.raises(Stopped):
        writes.submit(claim("d"))


def test_writes_of_one_kind_queued_together_are_written_by_one_call(db_url: str) -> None:
    """Items handed to the same ``write_all`` at once are written in one call, each gets its
    own result; an item that fails the call is written alone, so only its run sees the error."""
    database = Database(db_url)
    writes = WriteBatches(database)
    calls: list[list[str]] = []

    def claim_all(conn: sa.Connection, names: Sequence[str]) -> list[str]:
        calls.append(list(names))
        row = {"host": "h", "pid": 1, "label": "l", "claimed_at_ms": 0, "heartbeat_at_ms": 0}
        conn.execute(
            executors.insert(), [{"executor_id": n, "released": False, **row} for n in names]
        )
        return [f"claimed {name}" for name in names]

    futures = [writes.submit_part(claim_all, name) for name in ("a", "b", "c")]
    writes.start()  # queued before the thread starts: one transaction, one call for all three
    try:
        assert [f.result(timeout=30) for f in futures] == ["claimed a", "claimed b", "claimed c"]
        assert calls == [["a", "b", "c"]]
        calls.clear()
        again = [writes.submit_part(claim_all, name) for name in ("d", "a")]
        assert again[0].result(timeout=30) == "claimed d"
        with pytest.raises(sa.exc.IntegrityError):
            again[1].result(timeout=30)
        with database.engine.connect() as conn:
            stored = conn.execute(sa.select(executors.c.executor_id).order_by("executor_id"))
            assert list(stored.scalars()) == ["a", "b", "c", "d"]
    finally:
        writes.stop()
        database.close()
