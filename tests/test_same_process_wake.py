"""An answer stored by the process that runs the waiting run wakes it at once (no poll), and the
durable decision is still what resumes it: a wake without one only makes the run look again, and a
crash between the answer's commit and the wake still resumes the run once, after the restart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import hitl_notebook as hitl
from hitl_notebook import testing
from tests.agents import AsyncWaiter, Waiter
from tests.processes.fast_runs import Counted

KERNEL = Path(__file__).parent / "processes" / "fast_runs.py"
ROOT = Path(__file__).parent.parent


def wait_waiting(run: hitl.RunHandle) -> None:
    testing.wait_until(
        lambda: hitl.store().requests(run.id, open_only=True), timeout=60, message="waiting"
    )


@pytest.mark.parametrize("agent", [Waiter, AsyncWaiter])
def test_an_answer_from_the_runs_own_process_wakes_it_without_the_poller(
    hot_runtime: hitl.Runtime, agent: type[hitl.Agent], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the poller blind, only the store's own wake can resume the run: it does, at once."""
    monkeypatch.setattr(hot_runtime.poller, "_wake", lambda run_ids: None)
    run = agent.start()
    wait_waiting(run)
    hitl.respond(run.id, text="from the widget", by="alice")
    assert run.result(timeout=30) == "from the widget"
    assert [e.status for e in run.history()] == ["working", "waiting", "resumed", "finished"]


def test_a_wake_without_a_decision_only_makes_the_run_look_again(
    hot_runtime: hitl.Runtime,
) -> None:
    """Woken with nothing decided, the run looks, finds nothing and keeps waiting hot; the real
    answer later resumes it once."""
    run = AsyncWaiter.start()
    wait_waiting(run)
    for _ in range(3):
        hot_runtime.poller.wake(run.id)
    testing.wait_until(lambda: hot_runtime.poller.waiting == 1, message="still waiting hot")
    assert run.state == "PENDING"
    assert [r.is_open for r in run.requests()] == [True]
    hitl.respond(run.id, text="now", by="alice")
    assert run.result(timeout=30) == "now"
    assert [e.status for e in run.history()] == ["working", "waiting", "resumed", "finished"]


def test_a_crash_after_the_answers_commit_before_the_wake_resumes_once_after_restart(
    db_url: str, tmp_path: Path
) -> None:
    """The kernel answers its own run and dies between the commit and the wake: the decision is
    stored, and the restarted kernel's run takes it, once (one side effect after the wait)."""
    counter = tmp_path / "counter.txt"
    child = subprocess.run(
        [sys.executable, str(KERNEL), "answer", db_url, "crashy", str(counter)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert child.returncode == -9, child.stderr
    (run_id,) = json.loads(child.stdout.splitlines()[0])
    store = hitl.connect(db_url)
    (request,) = store.requests(run_id)
    assert request.decision is not None
    assert request.decision.by == "alice"
    assert store.run_state(run_id) == "PENDING"
    assert counter.read_text().splitlines() == [f"before {run_id}"]

    with testing.launched(db_url, executor="crashy", park_after=None):
        assert Counted.agent_name == "Counted"  # defined here too: the restarted kernel's code
        assert hitl.run(run_id).result(timeout=60) == "approved"
    assert counter.read_text().splitlines() == [f"before {run_id}", f"after {run_id}"]
    statuses = [e.status for e in store.history(run_id)]
    assert statuses == ["working", "waiting", "resumed", "finished"]


def test_bulk_answers_from_the_runs_own_process_wake_them_without_the_poller(
    hot_runtime: hitl.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``respond_many`` (the widget's Approve selected) wakes each decided run here at once."""
    monkeypatch.setattr(hot_runtime.poller, "_wake", lambda run_ids: None)
    runs = [AsyncWaiter.start() for _ in range(3)]
    for run in runs:
        wait_waiting(run)
    result = hitl.respond_many([run.id for run in runs], text="all at once", by="alice")
    assert result.ok
    assert [run.result(timeout=30) for run in runs] == ["all at once"] * 3
