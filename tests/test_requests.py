"""Requests to a human inside a run, answered in the same process, on SQLite and Postgres."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import hitl_notebook as hitl
from hitl_notebook import testing
from tests.agents import (
    Approver,
    Chooser,
    Editor,
    Failing,
    Gatherer,
    Interviewer,
    KeyedSteps,
    Parallel,
    Reporter,
    Waiter,
    Writer,
)

pytestmark = pytest.mark.usefixtures("runtime")


def test_approve_with_edited_proposal_resumes_with_the_edit(tmp_path: Path) -> None:
    """An approval with an edited proposal gives the agent the edit, validated, as its model."""
    run = Approver.start("A-1", str(tmp_path / "count"))
    request = testing.wait_for_request(run)
    assert request.proposal == {"order_id": "A-1", "amount": 42.0, "note": ""}
    decision = hitl.respond(
        run.id,
        approve=True,
        value={"order_id": "A-1", "amount": 40, "note": "goodwill"},
        by="alice",
        comment="a bit less",
    )
    assert (decision.outcome, decision.by, decision.comment) == ("edited", "alice", "a bit less")
    result = run.result(timeout=30)
    assert result["outcome"] == "edited"
    assert result["value"] == {"order_id": "A-1", "amount": 40.0, "note": "goodwill"}
    assert result["by"] == "alice"


def test_reject_and_plain_approve(tmp_path: Path) -> None:
    """Reject gives approved=False; approve without a value keeps the proposal as it was."""
    rejected = Approver.start("R-1", str(tmp_path / "count"))
    approved = Approver.start("R-2", str(tmp_path / "count"))
    testing.wait_for_request(rejected)
    testing.wait_for_request(approved)
    rejected.reject(by="bob", comment="no")
    approved.approve(by="bob")
    assert rejected.result(timeout=30)["approved"] is False
    outcome = approved.result(timeout=30)
    assert (outcome["outcome"], outcome["value"]["amount"]) == ("approved", 42.0)


def test_choice_text_and_edit_requests() -> None:
    """Each kind of request resolves to its own outcome and value."""
    chooser, writer, editor = Chooser.start(), Writer.start(), Editor.start()
    for run in (chooser, writer, editor):
        testing.wait_for_request(run)
    hitl.respond(chooser.id, choice="green", by="carol")
    hitl.respond(writer.id, text="ship it", by="carol")
    hitl.respond(editor.id, approve=True, value={"order_id": "E-1", "amount": 7}, by="carol")
    assert chooser.result(timeout=30) == "chose:green"
    assert writer.result(timeout=30) == "ship it"
    assert editor.result(timeout=30) == {
        "outcome": "edited",
        "value": {"order_id": "E-1", "amount": 7.0, "note": ""},
    }


def test_parallel_requests_in_one_run_never_collide() -> None:
    """Three requests open at once in one async run get distinct ids and their own answers."""
    run = Parallel.start()
    open_ids = testing.wait_until(
        lambda: [r.request_id for r in run.requests(open_only=True)] or None, timeout=30
    )
    open_requests = testing.wait_until(
        lambda: (found := run.requests(open_only=True)) and len(found) == 3 and found, timeout=30
    )
    assert len({r.request_id for r in open_requests}) == 3
    assert set(open_ids) <= {r.request_id for r in open_requests}
    by_title = {r.title: r.request_id for r in open_requests}
    hitl.respond(by_title["third?"], choice="b")
    hitl.respond(by_title["first?"], text="one")
    hitl.respond(by_title["second?"], text="two")
    assert run.result(timeout=30) == ["one", "two", "b"]


def test_concurrent_requests_outside_ask_are_refused_with_advice() -> None:
    """asyncio.gather over requests fails clearly, pointing to ask() with several questions."""
    run = Gatherer.start()
    with pytest.raises(hitl.RunFailedError, match="ask them together"):
        run.result(timeout=30)


def test_deadline_applies_the_declared_default(tmp_path: Path) -> None:
    """At the deadline the default is applied and recorded as a timeout, not as an answer."""
    run = Approver.start("T-1", str(tmp_path / "count"), 1.0, "reject")
    result = run.result(timeout=30)
    assert (result["outcome"], result["approved"], result["by"]) == ("timed_out", False, None)
    (decision,) = run.decisions()
    assert decision.timed_out
    assert decision.channel == "timeout"
    assert decision.deadline is not None
    assert decision.at >= decision.deadline
    assert [e.status for e in run.history()][-2:] == ["timed_out", "finished"]


def test_an_absolute_deadline() -> None:
    """A deadline given as an aware datetime is kept as it is."""
    deadline = datetime.now(UTC) + timedelta(seconds=1)
    run = Chooser.start(deadline, "green")
    assert run.result(timeout=30) == "timed_out:green"
    (decision,) = run.decisions()
    assert decision.deadline is not None
    assert abs((decision.deadline - deadline).total_seconds()) < 0.002


def test_deadline_with_choice_default(hitl_clock: testing.Clock) -> None:
    """A choice with a default takes it at the deadline."""
    run = Chooser.start("1h", "blue")
    run.wait_for_request()
    hitl_clock.advance("1h")
    assert run.result(timeout=30) == "timed_out:blue"


def test_deadline_without_default_raises_a_typed_error_in_the_agent() -> None:
    """on_timeout='raise' (the default) fails the run with RequestTimeoutError."""
    run = Chooser.start(0.5)
    with pytest.raises(hitl.RunFailedError) as failure:
        run.result(timeout=30)
    assert isinstance(failure.value.__cause__, hitl.RequestTimeoutError)
    assert run.status is not None
    assert run.status.status == "failed"


def test_status_history_records_every_transition() -> None:
    """Custom statuses with progress, and the SDK's own transitions, land in order."""
    run = Reporter.start(3)
    assert run.result(timeout=30) == 3
    events = run.history()
    assert [e.status for e in events] == [
        "working",
        "crunching",
        "crunching",
        "crunching",
        "finished",
    ]
    assert [e.progress for e in events[1:4]] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert events[2].detail == "part 2 of 3"
    assert all(a.at <= b.at for a, b in itertools.pairwise(events))
    assert all(e.at.tzinfo is not None for e in events)


def test_waiting_and_resumed_statuses_name_the_request_and_responder() -> None:
    """The status says what the run waits for, then who answered."""
    run = Writer.start()
    testing.wait_for_request(run)
    assert run.status is not None
    assert (run.status.status, run.status.detail) == ("waiting", "Say something")
    hitl.respond(run.id, text="hi", by="dora")
    run.result(timeout=30)
    statuses = [(e.status, e.detail) for e in run.history()]
    assert ("resumed", "answered by dora") in statuses


def test_waiting_for_a_request_of_a_run_that_never_asks() -> None:
    """wait_for_request on a run that ends without asking says so instead of hanging."""
    run = Reporter.start(1)
    with pytest.raises(hitl.NotWaitingError, match="waits for no answer"):
        run.wait_for_request(timeout=30)


def test_statuses_stay_in_order_when_answers_come_fast() -> None:
    """Quick answers to consecutive questions give waiting/resumed pairs in order, then finished."""
    run = Interviewer.start(5)
    human = testing.Human().write(lambda request: request.title.removeprefix("question "))
    with human.running():
        assert run.result(timeout=30) == ["0", "1", "2", "3", "4"]
    assert [a.request.title for a in human.answered] == [f"question {i}" for i in range(5)]
    statuses = [e.status for e in run.history()]
    assert statuses == ["working", *(["waiting", "resumed"] * 5), "finished"]
    assert run.status is not None
    assert run.status.status == "finished"


def test_failing_run_is_published_as_failed() -> None:
    """An exception in run() marks the run failed with the error as detail."""
    run = Failing.start()
    with pytest.raises(hitl.RunFailedError, match="the model said no"):
        run.result(timeout=30)
    assert run.status is not None
    assert (run.status.status, run.status.detail) == ("failed", "ValueError: the model said no")


def test_start_with_the_same_run_id_is_idempotent() -> None:
    """Starting twice with one caller-chosen id starts one run."""
    first = Writer.start(run_id="writer-1")
    second = Writer.start(run_id="writer-1")
    assert first == second
    assert first.id == "writer-1"
    testing.wait_for_request(first)
    assert len(first.requests()) == 1
    hitl.respond("writer-1", text="once")
    assert second.result(timeout=30) == "once"


def test_result_timeout_leaves_the_run_going() -> None:
    """result(timeout) raises ResultTimeoutError and the run still waits."""
    run = Waiter.start()
    with pytest.raises(hitl.ResultTimeoutError):
        run.result(timeout=0.2)
    hitl.respond(testing.wait_for_request(run).request_id, text="later")
    assert run.result(timeout=30) == "later"


def test_cancel_stops_the_run_and_refuses_answers() -> None:
    """A cancelled run is published as cancelled and its request is no longer answerable."""
    run = Waiter.start()
    request = testing.wait_for_request(run)
    run.cancel(by="erin")
    with pytest.raises(hitl.RunCancelledError):
        run.result(timeout=30)
    assert run.status is not None
    assert run.status.status == "cancelled"
    with pytest.raises(hitl.NotWaitingError):
        hitl.respond(request.request_id, text="too late")


def test_async_twins_work_from_a_running_event_loop() -> None:
    """Sync API calls work with a running loop (as in a notebook cell), and async twins await."""

    async def cell() -> str:
        run = Writer.start()  # sync call while this thread's loop runs
        request = await asyncio.to_thread(testing.wait_for_request, run)
        await hitl.respond_async(request.request_id, text="from a loop")
        return str(await run.result_async(timeout=30))

    assert asyncio.run(cell()) == "from a loop"


def test_a_step_key_names_the_run_and_the_step_and_only_works_in_a_step() -> None:
    """step_key() inside a step is '<run id>:<step index>'; outside one it says where it works."""
    run = KeyedSteps.start()
    first, second = run.result(timeout=30)
    assert first == f"{run.id}:{first.rpartition(':')[2]}"
    assert int(second.rpartition(":")[2]) > int(first.rpartition(":")[2])
    with pytest.raises(hitl.HitlError, match="only inside a step"):
        hitl.step_key()
