"""An answer stored by the process that runs the waiting run wakes it at once (no poll), and the
durable decision is still what resumes it: a wake without one only makes the run look again, a
decision handed over with the wake is the committed one (an answer checked against the request as
the wait holds it is stored only if the request is still open and its run lives), and a crash
between the answer's commit and the wake still resumes the run once, after the restart."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._db import answer_statement
from hitl_notebook._runtime import waiting
from tests.agents import AsyncWaiter, Interviewer, Waiter
from tests.answer_log import answer_log
from tests.processes.fast_runs import Counted

KERNEL = Path(__file__).parent / "processes" / "fast_runs.py"
ROOT = Path(__file__).parent.parent


def wait_waiting(run: hitl.RunHandle) -> None:
    testing.wait_until(
        lambda: hitl.store().requests(run.id, open_only=True), timeout=60, message="waiting"
    )


def wait_hot(runtime: hitl.Runtime, run: hitl.RunHandle) -> hitl.Request:
    """The run's one open request, once the run waits hot for it."""
    testing.wait_until(lambda: runtime.poller.waiting == 1, timeout=60, message="waiting hot")
    (request,) = run.requests(open_only=True)
    return request


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


@pytest.mark.parametrize("agent", [Waiter, AsyncWaiter])
def test_an_answer_to_a_request_a_run_here_waits_for_hands_it_the_committed_decision(
    hot_runtime: hitl.Runtime, agent: type[hitl.Agent], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answered by its request id in the run's own process, the run resumes on the decision the
    answer committed, without reading its request again; "resumed" is published once."""
    monkeypatch.setattr(hot_runtime.poller, "_wake", lambda run_ids: None)
    run = agent.start()
    request = wait_hot(hot_runtime, run)
    looks = []
    collect = waiting.collect
    monkeypatch.setattr(waiting, "collect", lambda *args: looks.append(args) or collect(*args))
    decision = hitl.respond(request.request_id, text="handed over", by="alice")
    assert run.result(timeout=30) == "handed over"
    assert looks == []
    assert hitl.store().request(request.request_id).decision == decision
    assert answer_log(request.request_id) == [("alice", "accepted")]
    history = run.history()
    assert [e.status for e in history] == ["working", "waiting", "resumed", "finished"]
    assert history[2].detail == "answered by alice"


def test_an_answer_here_to_a_request_decided_elsewhere_meanwhile_gets_the_stored_outcome(
    hot_runtime: hitl.Runtime, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wait still holds the request as open, but another process decided it: this process's
    answer is refused as after a read (a retry by the same person gets the same decision), and
    the run resumes on the stored decision, once."""
    monkeypatch.setattr(hot_runtime.poller, "_wake", lambda run_ids: None)
    run = AsyncWaiter.start()
    request = wait_hot(hot_runtime, run)
    elsewhere = hitl.connect(db_url)
    first = elsewhere.respond(request.request_id, text="from bob", by="bob")
    with pytest.raises(hitl.AlreadyDecidedError):
        hitl.respond(request.request_id, text="from alice", by="alice")
    assert hitl.respond(request.request_id, text="from bob", by="bob") == first
    assert hot_runtime.poller.waiting == 1  # none of these woke it with a decision
    hot_runtime.poller.wake(run.id)
    assert run.result(timeout=30) == "from bob"
    assert answer_log(request.request_id) == [("bob", "accepted")]
    assert [e.status for e in run.history()] == ["working", "waiting", "resumed", "finished"]


def test_an_answer_here_to_a_run_cancelled_behind_the_sdks_back_is_refused(
    hot_runtime: hitl.Runtime,
) -> None:
    """A run cancelled through DBOS while it waits hot here takes no answer, as after a read:
    nothing is stored and its request stays open until the run notices."""
    run = Waiter.start()
    request = wait_hot(hot_runtime, run)
    hitl.store().database.client.cancel_workflow(run.id)
    with pytest.raises(hitl.NotWaitingError, match="cancelled"):
        hitl.respond(request.request_id, text="too late", by="alice")
    assert answer_log(request.request_id) == []
    assert hitl.store().request(request.request_id).is_open
    assert "resumed" not in [e.status for e in run.history()]


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


@pytest.mark.parametrize("by", ["run", "request"])
def test_a_crash_after_the_answers_commit_before_the_wake_resumes_once_after_restart(
    db_url: str, tmp_path: Path, by: str
) -> None:
    """The kernel answers its own run (by the run's id, or by the request's: then the answer's
    transaction also published "resumed") and dies between the commit and the wake: the
    decision is stored, and the restarted kernel's run takes it, once (one side effect after
    the wait, one "resumed")."""
    counter = tmp_path / "counter.txt"
    child = subprocess.run(
        [sys.executable, str(KERNEL), "answer", db_url, "crashy", str(counter), by],
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


@pytest.mark.parametrize("taking", [False, True], ids=["announced", "handed over"])
def test_the_answer_statement_is_short_enough_for_the_drivers_cache(taking: bool) -> None:
    """psycopg converts a query's placeholders anew for each execution unless the query is at
    most ``MAX_CACHED_STATEMENT_LENGTH`` characters long (a tenth of a millisecond of an
    answer that resumes a run in the same process); keep the one-statement answer within it."""
    from psycopg import _queries  # noqa: PLC0415 - the driver's own limit

    engine = sa.create_engine("postgresql+psycopg://")
    sql, _, _ = answer_statement._for_driver(taking, engine.dialect)
    assert len(sql) <= _queries.MAX_CACHED_STATEMENT_LENGTH


def test_a_run_waiting_for_its_next_question_is_not_woken_for_the_last_answer(
    hot_runtime: hitl.Runtime, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The poller looks a few seconds back for decisions; the run that took one and now waits
    for its next question does not look again for it at every poll (it did, on SQLite, some
    twenty times a second for those seconds)."""
    run = Interviewer.start(2)
    first = wait_hot(hot_runtime, run)
    hitl.connect(db_url).respond(first.request_id, text="one", by="bob")  # the poller wakes it
    testing.wait_until(
        lambda: (
            len(run.requests(open_only=True)) == 1
            and run.requests(open_only=True)[0].request_id != first.request_id
            and hot_runtime.poller.waiting == 1
        ),
        timeout=30,
        message="waiting hot for the second question",
    )
    looks: list[object] = []
    collect = waiting.collect
    monkeypatch.setattr(waiting, "collect", lambda *args: looks.append(args) or collect(*args))
    time.sleep(1.5)  # no looks in 30 polls of SQLite's poller, one fallback query of Postgres's
    assert looks == []
    hitl.respond(run.id, text="two", by="bob")
    assert run.result(timeout=30) == ["one", "two"]
