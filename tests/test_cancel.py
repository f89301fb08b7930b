"""Cancelling a run: it stops waiting at once and costs nothing; its requests close; on both databases."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pandas as pd
import pytest

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._core.models import RequestState
from tests.agents import Assigned, AsyncWaiter, Waiter

PARK_AFTER_S = 1.0
IDLE_WINDOW_S = 2.5
MAX_IDLE_CPU_S = 0.6
"""CPU the whole test process may use in the idle window: a spinning wait burns ~1 core (2.5 s)."""


@pytest.fixture
def short_park(db_url: str) -> Iterator[hitl.Runtime]:
    """Runs wait hot for one second, then park."""
    with testing.launched(db_url, executor="pytest", park_after=PARK_AFTER_S) as launched:
        yield launched


def hot_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("hitl-run-")]


def cpu_while_idle() -> float:
    """CPU seconds this process spends over ``IDLE_WINDOW_S`` of wall time."""
    start = time.process_time()
    time.sleep(IDLE_WINDOW_S)
    return time.process_time() - start


def test_cancelling_hot_runs_stops_their_waits_at_once(short_park: hitl.Runtime) -> None:
    """A sync and an async run waiting hot stop waiting as soon as they are cancelled."""
    runs = [Waiter.start(), AsyncWaiter.start()]
    for run in runs:
        run.wait_for_request()
    testing.wait_until(lambda: short_park.poller.waiting == 2, message="both waiting hot")
    for run in runs:
        run.cancel(by="erin")
    testing.wait_until(lambda: short_park.poller.waiting == 0, timeout=10, message="waits ended")
    testing.wait_until(lambda: not hot_threads(), timeout=10, message="the sync run's thread ended")
    for run in runs:
        assert run.state == "CANCELLED"
        assert [event.status for event in run.history()][-1] == "cancelled"


def test_a_run_cancelled_behind_the_sdks_back_stops_when_it_would_park(
    short_park: hitl.Runtime,
) -> None:
    """Cancelled through DBOS directly, a hot run stops at its park time and then costs nothing."""
    runs = [Waiter.start(), AsyncWaiter.start()]
    for run in runs:
        run.wait_for_request()
    client = hitl.store().database.client
    for run in runs:
        client.cancel_workflow(run.id)
    testing.wait_until(
        lambda: short_park.poller.waiting == 0, timeout=10 + PARK_AFTER_S, message="waits ended"
    )
    for run in runs:
        testing.wait_until(
            lambda run=run: run.requests()[0].state is RequestState.CANCELLED,
            timeout=10,
            message="its request closed",
        )
        assert run.requests(open_only=True) == []
        assert run.history()[-1].status == "cancelled"
    assert cpu_while_idle() < MAX_IDLE_CPU_S


def test_cancelled_runs_cost_nothing_once_their_park_time_passes(short_park: hitl.Runtime) -> None:
    """After cancelling hot runs, the process is idle past their park time (no spinning wait)."""
    runs = [Waiter.start(), AsyncWaiter.start()]
    for run in runs:
        run.wait_for_request()
    for run in runs:
        run.cancel()
    time.sleep(PARK_AFTER_S)
    assert cpu_while_idle() < MAX_IDLE_CPU_S


@pytest.mark.usefixtures("runtime")
def test_a_cancelled_runs_requests_are_closed_everywhere() -> None:
    """Its request is closed as cancelled: not open, not in the inbox, not counted as waiting."""
    run = Waiter.start()
    request = run.wait_for_request()
    run.cancel(by="erin")
    closed = hitl.store().request(request.request_id)
    assert (closed.state, closed.is_open, closed.decision) == (RequestState.CANCELLED, False, None)
    assert run.requests(open_only=True) == []
    assert hitl.inbox().items == []
    frame = hitl.agents()
    mine = frame[frame["run_id"] == run.id].iloc[0]
    assert mine["open_requests"] == 0
    assert mine["waiting_since"] is pd.NaT
    assert hitl.store().run_rows(waiting=True).rows == []
    with pytest.raises(hitl.NotWaitingError, match="was cancelled"):
        hitl.respond(request.request_id, text="too late")
    with pytest.raises(hitl.NotWaitingError, match="was cancelled"):
        hitl.respond(run.id, text="too late")
    assert hitl.decisions().empty


@pytest.mark.usefixtures("runtime")
def test_cancelling_is_authorised_like_answering() -> None:
    """Someone who may not answer the run's open request may not cancel it either."""
    run = Assigned.start(["bob"], "Refund order 9?")
    run.wait_for_request()
    with pytest.raises(hitl.NotAllowedError, match="assigned to bob"):
        run.cancel(by="mallory")
    assert run.requests(open_only=True)
    assert run.state == "PENDING"
    run.cancel(by="bob")
    with pytest.raises(hitl.RunCancelledError):
        run.result(timeout=30)
    assert run.history()[-1].detail == "cancelled by bob"


@pytest.mark.usefixtures("runtime")
def test_cancelling_an_ended_run_changes_nothing() -> None:
    """A finished run stays finished; an unknown id is NotFoundError."""
    run = Waiter.start()
    run.wait_for_request()
    run.respond(text="done", by="ann")
    assert run.result(timeout=30) == "done"
    run.cancel(by="erin")
    assert run.state == "SUCCESS"
    assert run.history()[-1].status == "finished"
    with pytest.raises(hitl.NotFoundError):
        hitl.store().cancel("no-such-run")
