"""Waiting at almost no cost: hot waits, parking, wake-ups, races, and parked runs across processes.

Most tests launch with ``park_after=0``: a run parks as soon as it has looked at its requests once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._core.answers import Resolution, decision_for
from hitl_notebook._core.models import Decision, Outcome, Sender
from hitl_notebook._core.times import now_ms
from hitl_notebook._db.database import answers
from hitl_notebook._db.dbos_internals import sweep, workflow_status
from hitl_notebook._db.request_records import answer_not_taken, decide
from hitl_notebook._runtime import poller as _poller
from hitl_notebook._runtime import waiting as _waiting
from hitl_notebook._runtime.launch import current
from hitl_notebook._store import answering as _answering
from tests.agents import Approver, Chooser, Parallel, Writer
from tests.kernels import Kernels, answer_from_a_third_process

PARKED = "DELAYED"
LATENESS_S = 2.0
"""A parked run's deadline is applied within this, as the README promises ("up to ~2 s late while
parked"): DBOS's delayed-run job runs every second (+-10 %), then the run is dispatched within
``WOKEN_POLL_S`` (0.5 s) and replays to its wait."""


@pytest.fixture
def parking(db_url: str) -> Iterator[hitl.Runtime]:
    """A runtime whose runs park as soon as they wait."""
    with testing.launched(db_url, executor="pytest", park_after=0) as launched:
        yield launched


def row(run_id: str, store: hitl.Store | None = None) -> sa.Row[Any]:
    """The run's DBOS row."""
    with (store or hitl.store()).database.engine.connect() as conn:
        return conn.execute(
            sa.select(workflow_status).where(workflow_status.c.workflow_uuid == run_id)
        ).one()


def wait_parked(run_id: str) -> None:
    testing.wait_until(
        lambda: row(run_id).status == PARKED, timeout=60, message=f"run {run_id} parked"
    )


def parked_at(run_id: str) -> int:
    """When the parked run parked (its row's update time), in epoch ms."""
    wait_parked(run_id)
    return int(row(run_id).updated_at)


def wait_parked_again(run_id: str, since: int) -> None:
    """Wait until the run, woken after parking at ``since``, looked and parked again."""
    testing.wait_until(
        lambda: (found := row(run_id)).status == PARKED and int(found.updated_at) > since,
        timeout=60,
        message=f"run {run_id} woken and parked again",
    )


def run_threads(run_id: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"hitl-run-{run_id}"]


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.usefixtures("parking")
def test_an_answer_wakes_a_parked_sync_run_exactly_once(tmp_path: Path) -> None:
    """Parked, the run holds no thread and no waiter; the answer resumes it, steps ran once."""
    counter = tmp_path / "counter.txt"
    run = Approver.start("A-1", str(counter))
    wait_parked(run.id)
    assert current().poller.waiting == 0
    testing.wait_until(lambda: not run_threads(run.id), message="the run's thread ended")
    assert run.status.status == "waiting"
    assert [item.run_id for item in hitl.inbox()] == [run.id]

    decision = hitl.respond(run.id, approve=True, by="alice")
    assert decision.outcome == Outcome.APPROVED
    result = run.result(timeout=60)
    assert (result["outcome"], result["by"]) == ("approved", "alice")
    assert lines(counter) == [f"before {run.id}", f"after {run.id}"]
    assert [e.status for e in run.history()] == ["working", "waiting", "resumed", "finished"]


@pytest.mark.usefixtures("parking")
def test_an_async_run_with_three_questions_parks_again_until_all_are_answered() -> None:
    run = Parallel.start()
    wait_parked(run.id)
    first, second, third = run.requests(open_only=True)
    since = parked_at(run.id)

    hitl.respond(first.request_id, text="one")
    wait_parked_again(run.id, since)
    assert [r.request_id for r in run.requests(open_only=True)] == [
        second.request_id,
        third.request_id,
    ]
    hitl.respond(second.request_id, text="two")
    hitl.respond(third.request_id, choice="b")
    assert run.result(timeout=60) == ["one", "two", "b"]


@pytest.mark.usefixtures("parking")
def test_spurious_wakes_re_park_and_duplicate_answers_change_nothing() -> None:
    run = Writer.start()
    wait_parked(run.id)
    client = hitl.store().database.client
    for _ in range(2):
        since = parked_at(run.id)
        client.resume_workflow(run.id)  # a wake-up with no answer
        wait_parked_again(run.id, since)
    assert run.requests(open_only=True)

    first = hitl.respond(run.id, text="hello", by="alice")
    assert hitl.respond(run.id, text="hello", by="alice") == first
    with pytest.raises(hitl.AlreadyDecidedError, match="alice"):
        hitl.respond(run.id, text="something else", by="bob")
    assert run.result(timeout=60) == "hello"
    with hitl.store().database.engine.connect() as conn:
        logged = conn.execute(sa.select(answers.c.by, answers.c.result)).all()
    assert [(r.by, r.result) for r in logged] == [("alice", "accepted")]
    assert [e.status for e in run.history()].count("resumed") == 1


@pytest.mark.usefixtures("parking")
def test_a_deadline_while_parked_applies_the_default() -> None:
    run = Chooser.start(timeout=1.5, default="green")
    wait_parked(run.id)
    assert run.result(timeout=60) == "timed_out:green"
    (request,) = run.requests()
    assert request.decision is not None
    assert request.deadline is not None
    late_by = (request.decision.at - request.deadline).total_seconds()
    assert 0 <= late_by < LATENESS_S


@pytest.mark.usefixtures("parking")
def test_a_parked_run_can_be_cancelled() -> None:
    run = Writer.start()
    wait_parked(run.id)
    hitl.store().cancel(run.id, by="ops")
    assert run.state == "CANCELLED"
    assert run.status.status == "cancelled"
    assert hitl.inbox().items == []
    with pytest.raises(hitl.NotWaitingError, match="was cancelled"):
        hitl.respond(run.id, text="too late")


def test_a_hot_run_parks_after_the_grace_period(db_url: str) -> None:
    with testing.launched(db_url, executor="pytest", park_after=1.5) as runtime:
        run = Writer.start()
        testing.wait_for_request(run)
        assert row(run.id).status == "PENDING"
        testing.wait_until(lambda: runtime.poller.waiting == 1, message="waiting hot")
        assert run_threads(run.id)
        wait_parked(run.id)
        assert runtime.poller.waiting == 0
        testing.wait_until(lambda: not run_threads(run.id), message="the run's thread ended")
        hitl.respond(run.id, text="late but fine")
        assert run.result(timeout=60) == "late but fine"


def test_a_run_that_never_parks_is_answered_hot(db_url: str) -> None:
    with testing.launched(db_url, executor="pytest", park_after=None) as runtime:
        run = Writer.start()
        testing.wait_for_request(run)
        testing.wait_until(lambda: runtime.poller.waiting == 1, message="waiting hot")
        hitl.respond(run.id, text="now")
        assert run.result(timeout=30) == "now"
        never_parked = row(run.id)
        assert never_parked.queue_name is None
        assert never_parked.recovery_attempts <= 1


def test_shutting_down_ends_hot_waits_and_the_next_launch_resumes_them(db_url: str) -> None:
    with testing.launched(db_url, executor="pytest", park_after=None) as runtime:
        run = Writer.start()
        testing.wait_until(lambda: runtime.poller.waiting == 1, message="waiting hot")
    testing.wait_until(lambda: not run_threads(run.id), message="the run's thread ended")
    store = hitl.connect(db_url)
    assert store.run_state(run.id) == "PENDING"
    assert store.requests(run.id, open_only=True)
    with testing.launched(db_url, executor="pytest", park_after=None):
        hitl.respond(run.id, text="after the restart")
        assert run.result(timeout=60) == "after the restart"


@pytest.mark.usefixtures("parking")
def test_the_sweep_enqueues_a_parked_run_holding_an_answer_it_has_not_taken() -> None:
    """The safety net: an answer stored without waking the run (as if its answerer died)."""
    run = Writer.start()
    wait_parked(run.id)
    (request,) = run.requests(open_only=True)
    database = hitl.store().database
    application = f"hitl-{current().executor_id}"
    with database.engine.begin() as conn:
        sender = Sender(by="carol", channel="python", comment=None, at_ms=now_ms())
        swept = decision_for(request, Resolution(Outcome.ANSWERED, None, "swept"), sender)
        decide(conn, swept, before_deadline=True)
    assert row(run.id).status == PARKED
    with database.engine.begin() as conn:
        assert sweep(conn, application, now_ms=now_ms(), answered=answer_not_taken) == 1
    assert run.result(timeout=60) == "swept"
    with database.engine.begin() as conn:
        assert sweep(conn, application, now_ms=now_ms(), answered=answer_not_taken) == 0


# -- the race between an answer and a run that parks ------------------------------------------


def _blocked_on_a_lock(db_url: str) -> bool:
    """Whether some session of the test's Postgres database waits for a row lock."""
    with hitl.store().database.engine.connect() as conn:
        waiting = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        ).scalar()
    return bool(waiting)


def _until_blocked(db_url: str, writing: threading.Event) -> None:
    """Until the other transaction waits for ours. Postgres: a session waits for a row lock.
    SQLite serialises writers (each takes the write lock when it begins): the other side has set
    ``writing``, about to begin its write, which therefore runs only after ours commits."""
    if db_url.startswith("sqlite"):
        assert writing.wait(30), "the other transaction never began its write"
    else:
        testing.wait_until(lambda: _blocked_on_a_lock(db_url), timeout=30, message="lock wait")


def _answer_in_thread(run_id: str, text: str) -> threading.Thread:
    answering = threading.Thread(target=hitl.respond, args=(run_id,), kwargs={"text": text})
    answering.start()
    return answering


@pytest.mark.parametrize("first", ["park", "answer"])
def test_an_answer_racing_a_parking_run_always_wakes_it(
    first: str, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forced interleavings, each repeated: the park transaction holds the run's row while the
    answer commits, or the answer's transaction holds it while the run parks. The poller's sweep
    (the safety net) is switched off, so only the answer path and the parking path can wake.
    Each attempt checks that its interleaving happened: parking first, the answer found the run
    parked; answering first, the run's park did not stick (it looked again)."""
    monkeypatch.setattr(_poller, "SWEEP_S", 24 * 3600.0)
    real_park, real_wake, real_decide = _waiting.park, _answering.wake_many, _answering.decide
    real_decide_in_one = _answering.decide_in_one
    real_park_or_not = _waiting._park
    answer_locked, release_answer = threading.Event(), threading.Event()
    answer_writing, park_writing = threading.Event(), threading.Event()
    state: dict[str, Any] = {}

    def racing_park(conn: sa.Connection, statement: sa.Update, run_id: str, **kwargs: Any) -> bool:
        if run_id != state.get("run_id"):
            return real_park(conn, statement, run_id=run_id, **kwargs)
        if first == "park":
            # the row is ours until we commit
            parked = real_park(conn, statement, run_id=run_id, **kwargs)
            state["answering"] = _answer_in_thread(run_id, state["text"])
            _until_blocked(db_url, answer_writing)
            return parked
        state["answering"] = _answer_in_thread(run_id, state["text"])
        assert answer_locked.wait(30)
        threading.Thread(target=_release_when_blocked, daemon=True).start()
        park_writing.set()
        return real_park(conn, statement, run_id=run_id, **kwargs)

    def _release_when_blocked() -> None:
        _until_blocked(db_url, park_writing)
        release_answer.set()

    def writing_decide(conn: sa.Connection, decision: Decision, **kwargs: Any) -> Any:
        if decision.run_id == state.get("run_id"):
            answer_writing.set()
        return real_decide(conn, decision, **kwargs)

    def holding_wake(conn: sa.Connection, run_ids: Any, **kwargs: Any) -> Any:
        woken = real_wake(conn, run_ids, **kwargs)
        if state.get("run_id") in woken:
            state["woken_state"] = woken[state["run_id"]].state
            if first == "answer":
                answer_locked.set()
                assert release_answer.wait(30)
        return woken

    def writing_in_one(conn: sa.Connection, decision: Decision, *args: Any, **kwargs: Any) -> Any:
        if decision.run_id == state.get("run_id"):
            answer_writing.set()
        decided = real_decide_in_one(conn, decision, *args, **kwargs)
        if decided is not None and decided.woken is not None:
            state["woken_state"] = decided.woken.state
        return decided

    def recorded_park_or_not(
        database: Any, run_id: str, request_ids: Any, until_ms: int | None
    ) -> bool:
        parked = real_park_or_not(database, run_id, request_ids, until_ms)
        if run_id == state.get("run_id"):
            state.setdefault("parks", []).append(parked)
        return parked

    monkeypatch.setattr(_waiting, "park", racing_park)
    monkeypatch.setattr(_waiting, "_park", recorded_park_or_not)
    monkeypatch.setattr(_answering, "wake_many", holding_wake)
    monkeypatch.setattr(_answering, "decide", writing_decide)
    monkeypatch.setattr(_answering, "decide_in_one", writing_in_one)
    if first == "answer":  # Postgres's one statement cannot be held between its lock and commit
        monkeypatch.setattr(_answering, "_decide_in_one", lambda *args, **kwargs: None)
    with testing.launched(db_url, executor="pytest", park_after=0):
        for attempt in range(3):
            for event in (answer_locked, release_answer, answer_writing, park_writing):
                event.clear()
            state.clear()
            state.update(run_id=f"race-{first}-{attempt}", text=f"answer {attempt}")
            run = Writer.start(run_id=state["run_id"])
            assert run.result(timeout=60) == f"answer {attempt}"
            state["answering"].join(timeout=30)
            assert [e.status for e in run.history()].count("resumed") == 1
            if first == "park":
                assert (state["parks"][0], state["woken_state"]) == (True, PARKED)
            else:
                assert (state["parks"][0], state["woken_state"]) == (False, "PENDING")


# -- across processes ---------------------------------------------------------------------------


OTHER_AGENTS = """
import hitl_notebook as hitl


class SomethingElse(hitl.Agent):
    def run(self) -> None:
        return None
"""


def test_a_parked_run_waits_for_its_own_process_while_another_one_runs(
    db_url: str, tmp_path: Path, kernels: Kernels
) -> None:
    """Another live process (other agents) never takes a parked run over, even once answered or
    past its deadline; the status says the answer waits; the owner takes both when it returns."""
    counter = tmp_path / "counter.txt"
    with testing.launched(db_url, executor="owner", park_after=0) as owner:
        answered = Approver.start("A-2", str(counter))
        expiring = Approver.start("A-3", str(counter), timeout=3.0, on_timeout="reject")
        wait_parked(answered.id)
        wait_parked(expiring.id)
        owner_executor = owner.executor_id
    kernels.agents.write_text(OTHER_AGENTS)
    kernels.launch("elsewhere", "--park-after", "0", "serve")
    store = hitl.connect(db_url)

    store.respond(answered.id, approve=True, by="dana")
    (deadline,) = [r.deadline for r in store.requests(expiring.id)]
    assert deadline is not None
    testing.wait_until(lambda: time.time() > deadline.timestamp() + 3 * LATENESS_S / 2, timeout=30)
    status = store.status(answered.id)
    assert status is not None
    assert status.status == "answered"
    assert status.detail == (
        f"approved by dana; resumes when its process ({owner_executor}) runs again"
    )
    # The answer enqueued its run; the expired one stays parked: DBOS enqueues a delayed run
    # only in a process of its own application, and the other process is not one.
    for run_id, state in ((answered.id, "ENQUEUED"), (expiring.id, PARKED)):
        parked = row(run_id, store)
        assert parked.status == state
        assert parked.executor_id == owner_executor
        assert parked.recovery_attempts == 0
    assert sorted(lines(counter)) == sorted([f"before {answered.id}", f"before {expiring.id}"])

    with testing.launched(db_url, executor="owner", park_after=0):
        assert store.result(answered.id, timeout=60)["outcome"] == "approved"
        assert store.result(expiring.id, timeout=60)["outcome"] == "timed_out"
    assert sorted(lines(counter)) == sorted(
        f"{when} {run_id}" for when in ("before", "after") for run_id in (answered.id, expiring.id)
    )


@pytest.mark.slow
def test_sigkill_while_parked_then_an_answer_then_a_restart(kernels: Kernels, db_url: str) -> None:
    first, run_ids = kernels.launch("kernel-a", "--park-after", "0", "start", "2")
    store = hitl.connect(db_url)
    for run_id in run_ids:
        testing.wait_until(
            lambda r=run_id: row(r, store).status == PARKED, timeout=60, message="parked"
        )
    kernels.kill(first)

    for run_id in run_ids:
        done = answer_from_a_third_process(db_url, run_id, "--approve", "--by", "erin")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["outcome"] == "approved"
    testing.wait_until(
        lambda: all(getattr(store.status(r), "status", None) == "answered" for r in run_ids),
        timeout=60,
        message="status says answered",
    )

    restarted, _ = kernels.launch("kernel-a", "--park-after", "0", "serve")
    for run_id in run_ids:
        result = store.result(run_id, timeout=60)
        assert (result["outcome"], result["by"], result["pid"]) == (
            "approved",
            "erin",
            restarted.pid,
        )
    for run_id in run_ids:
        assert kernels.lines().count(f"before {run_id}") == 1
        assert kernels.lines().count(f"after {run_id}") == 1
        assert [e.status for e in store.history(run_id)][-3:] == [
            "answered",
            "resumed",
            "finished",
        ]


@pytest.mark.postgres
def test_the_poller_listens_again_after_losing_its_postgres_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = testing.fresh_database("postgres")
    try:
        with testing.launched(url, executor="pytest", park_after=None) as runtime:
            run = Writer.start()
            testing.wait_until(lambda: runtime.poller.waiting == 1, message="waiting hot")
            with runtime.database.engine.begin() as conn:
                killed = conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND application_name = 'hitl-poller'"
                    )
                ).all()
            assert killed == [(True,)]
            testing.wait_until(
                lambda: "hitl poller" in caplog.text, message="the lost connection is logged"
            )
            hitl.respond(run.id, text="still heard")
            assert run.result(timeout=30) == "still heard"
    finally:
        testing.drop_database(url)
