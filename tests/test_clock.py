"""testing.Clock moves this process's clock forward: a "4h" deadline passes at once for a hot
wait, a parked run and the schedule, the store refuses a late answer on the clock, and the
recorded times read as the hours that passed.

The clock is the pytest plugin's ``hitl_clock`` (this package's own entry point), asked for
before the runtime, so the runtime shuts down before the clock is back on real time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

import hitl_notebook as hitl
from hitl_notebook import Runtime, testing
from hitl_notebook._runtime.schedule import configure
from tests.agents import Chooser
from tests.test_schedule import Asking, Recorder

HOURS_4 = timedelta(hours=4)


def test_a_hot_wait_takes_its_4h_default_when_the_clock_passes_the_deadline(
    hitl_clock: testing.Clock, runtime: Runtime
) -> None:
    """The waiting run wakes at once, and its history and decision read as four hours."""
    started = time.monotonic()
    run = Chooser.start(timeout="4h", default="red")
    request = run.wait_for_request()
    hitl_clock.advance("4h")
    assert run.result(timeout=5) == "timed_out:red"
    assert time.monotonic() - started < 5
    (decided,) = hitl.decisions().itertuples()
    assert decided.timed_out
    assert HOURS_4 <= decided.wait < HOURS_4 + timedelta(seconds=5)
    assert decided.requested_at == request.requested_at
    statuses = hitl.history(run.id).set_index("status")["at"]
    assert statuses["timed_out"] - statuses["waiting"] >= HOURS_4


def test_a_parked_run_resumes_with_its_default_when_the_clock_passes_its_deadline(
    hitl_clock: testing.Clock, db_url: str
) -> None:
    """A run parked until its deadline (DBOS keeps real time) is due once the clock passed it."""
    with testing.launched(db_url, executor="pytest", park_after=0):
        run = Chooser.start(timeout="4h", default="green")
        testing.wait_until(lambda: run.state == "DELAYED", timeout=10, message="parked")
        hitl_clock.advance("3h")
        time.sleep(0.2)  # a wrong wake-up would show here: the deadline has not passed
        assert run.state == "DELAYED"
        started = time.monotonic()
        hitl_clock.advance("1h")
        assert run.result(timeout=5) == "timed_out:green"
        assert time.monotonic() - started < 5
        assert hitl.decisions()["wait"].iloc[0] >= HOURS_4


def test_an_answer_after_the_deadline_on_the_clock_is_refused_as_late(
    hitl_clock: testing.Clock, runtime: Runtime
) -> None:
    """The store's late-answer rule reads the clock: two hours past a 1h deadline is late."""
    run = Chooser.start(timeout="1h", default="red")
    request = run.wait_for_request()
    hitl_clock.advance("2h")
    with pytest.raises(hitl.DeadlinePassedError):
        hitl.respond(request.request_id, choice="blue", by="bob")
    assert run.result(timeout=5) == "timed_out:red"
    assert hitl.decisions()["late_answers"].tolist() == [1]


def test_the_schedule_sends_a_reminder_when_the_clock_reaches_it(
    hitl_clock: testing.Clock, runtime: Runtime
) -> None:
    """A reminder an hour out is sent before advance() returns, and its history line reads so."""
    memo = Recorder()
    configure([memo])
    try:
        run = Asking.start(["memo"], remind_every="1h", max_reminders=1)
        run.wait_for_request()
        # Sent and completed: a send in progress when the clock passes its lease is sent again.
        testing.wait_until(
            lambda: "notified" in set(hitl.history(run.id)["status"]),
            timeout=10,
            message="the first notification",
        )
        hitl_clock.advance("1h")
        assert [n.event for n in memo.sent] == ["requested", "reminder"]
        frame = hitl.history(run.id).set_index("status")["at"]
        assert frame["reminded"] - frame["notified"] >= timedelta(hours=1)
        run.approve(by="alice")
        assert run.result(timeout=10)["outcome"] == "approved"
    finally:
        configure([])


def test_the_clock_never_goes_backwards_and_refuses_what_is_not_a_duration(
    hitl_clock: testing.Clock,
) -> None:
    """Clear errors for a step back, a naive datetime, NaN, inf, a month or a bool."""
    before = hitl_clock.now()
    assert hitl_clock.advance(timedelta(minutes=5)) - before >= timedelta(minutes=5)
    assert hitl_clock.ahead >= timedelta(minutes=5) - timedelta(seconds=1)
    with pytest.raises(ValueError, match="never goes backwards"):
        hitl_clock.set(before)
    with pytest.raises(ValueError, match="timezone-aware"):
        hitl_clock.set(datetime(2030, 1, 1))
    for bad in (float("nan"), float("inf"), -1, "1M", "\x00"):
        with pytest.raises(ValueError, match="advance"):
            hitl_clock.advance(bad)
    with pytest.raises(TypeError, match="advance"):
        hitl_clock.advance(True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="too long"):
        hitl_clock.set(datetime.max.replace(tzinfo=UTC))
    later = hitl_clock.set(datetime.now(UTC) + timedelta(days=2))
    assert hitl_clock.ahead > timedelta(days=1)
    assert later <= hitl_clock.now()
    hitl_clock.close()
    assert abs(hitl_clock.ahead) < timedelta(seconds=1)
