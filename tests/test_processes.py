"""Durability across processes: SIGKILL, restarts, deadlines passing while down, two kernels, code edits.

Each test plays kernels with ``tests/processes/runner.py`` child processes and answers from a third
process with the ``hitl respond`` command, which has no agent code and launches nothing.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._db.database import answers
from tests.kernels import Kernels, answer_from_a_third_process, wait_until_waiting

pytestmark = pytest.mark.slow


def test_sigkill_while_waiting_then_restart_and_answer_from_a_third_process(
    kernels: Kernels, db_url: str
) -> None:
    """Every run resumes exactly once with its answer; steps before the wait ran once."""
    first, run_ids = kernels.launch("kernel-a", "start", "3")
    store = hitl.connect(db_url)
    wait_until_waiting(store, run_ids)
    kernels.kill(first)
    assert all(store.run_state(r) == "PENDING" for r in run_ids)

    kernels.restart_and_approve_from_a_third_process(run_ids)


def test_deadline_passes_while_the_process_is_down(kernels: Kernels, db_url: str) -> None:
    """A late answer is refused and recorded; at restart the declared default applies as a timeout."""
    first, (run_id,) = kernels.launch(
        "kernel-a", "start", "1", "--timeout", "2", "--on-timeout", "reject"
    )
    store = hitl.connect(db_url)
    wait_until_waiting(store, [run_id])
    (request,) = store.requests(run_id, open_only=True)
    kernels.kill(first)
    assert request.deadline is not None
    testing.wait_until(lambda: time.time() > request.deadline.timestamp() + 0.2, timeout=30)

    late = answer_from_a_third_process(db_url, request.request_id, "--approve", "--by", "bob")
    assert late.returncode == 1
    assert "DeadlinePassedError" in late.stderr
    assert "recorded as late" in late.stderr
    with store.database.engine.connect() as conn:
        logged = conn.execute(sa.select(answers.c.by, answers.c.result)).all()
    assert [(r.by, r.result) for r in logged] == [("bob", "late")]

    kernels.launch("kernel-a", "serve")
    result = store.result(run_id, timeout=60)
    assert (result["outcome"], result["approved"], result["by"]) == ("timed_out", False, None)
    decision = store.request(request.request_id).decision
    assert decision is not None
    assert decision.timed_out
    assert decision.channel == "timeout"


def test_two_kernels_keep_their_own_runs_across_restarts(kernels: Kernels, db_url: str) -> None:
    """Neither kernel takes over the other's runs; each restarted kernel resumes its own."""
    a, runs_a = kernels.launch("kernel-a", "start", "2")
    store = hitl.connect(db_url)
    b, runs_b = kernels.launch("kernel-b", "start", "2")
    wait_until_waiting(store, runs_a + runs_b)

    kernels.kill(a)
    a2, _ = kernels.launch("kernel-a", "serve")
    kernels.kill(b)
    b2, _ = kernels.launch("kernel-b", "serve")

    for run_id in runs_a + runs_b:
        done = answer_from_a_third_process(db_url, run_id, "--approve", "--by", "carol")
        assert done.returncode == 0, done.stderr
    assert {store.result(r, timeout=60)["pid"] for r in runs_a} == {a2.pid}
    assert {store.result(r, timeout=60)["pid"] for r in runs_b} == {b2.pid}


def test_a_live_kernel_leaves_another_kernels_recovered_runs_alone(
    kernels: Kernels, db_url: str
) -> None:
    """While kernel A is down, live kernel B does not run A's agents, even when they are answered."""
    a, runs_a = kernels.launch("kernel-a", "start", "2")
    store = hitl.connect(db_url)
    kernels.launch("kernel-b", "serve")
    wait_until_waiting(store, runs_a)
    kernels.kill(a)
    for run_id in runs_a:
        assert answer_from_a_third_process(db_url, run_id, "--approve").returncode == 0
    with pytest.raises(hitl.ResultTimeoutError):
        store.result(runs_a[0], timeout=3)
    assert [line for line in kernels.lines() if line.startswith("after")] == []
    a2, _ = kernels.launch("kernel-a", "serve")
    assert {store.result(r, timeout=60)["pid"] for r in runs_a} == {a2.pid}


def test_editing_the_agent_between_sessions_does_not_orphan_waiting_runs(
    kernels: Kernels, db_url: str
) -> None:
    """Runs started by v1 of the code resume in the edited v2 after a restart."""
    first, run_ids = kernels.launch("kernel-a", "start", "2")
    store = hitl.connect(db_url)
    wait_until_waiting(store, run_ids)
    kernels.kill(first)
    kernels.write_agents(
        "v2",
        extra="# Edited: a new helper moves every line.\n\n"
        "def helper() -> int:\n    return 2\n\n\n",
    )
    kernels.launch("kernel-a", "serve")
    for run_id in run_ids:
        assert answer_from_a_third_process(db_url, run_id, "--approve").returncode == 0
    for run_id in run_ids:
        result = store.result(run_id, timeout=60)
        assert (result["outcome"], result["version"]) == ("approved", "v2")
    assert sorted(kernels.lines()).count(f"before {run_ids[0]}") == 1


def test_a_step_that_dies_after_its_side_effect_runs_again_with_the_same_key(
    kernels: Kernels, db_url: str
) -> None:
    """Steps are at-least-once: killed after paying, the step pays again on recovery, with the
    same step_key, so the payment API's ledger holds the payment once."""
    first, (run_id,) = kernels.launch("kernel-a", "start", "1", "--agent", "Paying")
    store = hitl.connect(db_url)
    wait_until_waiting(store, [run_id])
    done = answer_from_a_third_process(db_url, run_id, "--approve", "--by", "alice")
    assert done.returncode == 0, done.stderr
    assert first.wait(timeout=60) == -9  # the step killed its own process
    kernels.launch("kernel-a", "serve")
    key = store.result(run_id, timeout=60)
    assert key.startswith(f"{run_id}:")
    assert kernels.lines() == [f"paid {key}", f"paid {key}"]
    ledger = (kernels.counter.parent / "counter.txt.ledger").read_text().splitlines()
    assert ledger == [f"{key} 42"]
