"""Sync and async faces: one program, two drivers (``_core.sync_async``), and every ``_async`` face
takes what its sync face takes and returns what it returns."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._core.sync_async import Call, Program, Signal, Sleep, run_async, run_sync
from tests.agents import Writer

FACES: list[tuple[str, object]] = [
    ("hitl", hitl),
    ("Store", hitl.Store),
    ("RunHandle", hitl.RunHandle),
    ("Agent", hitl.Agent),
]


def _pairs() -> Iterator[tuple[str, Callable[..., Any], Callable[..., Any]]]:
    for owner_name, owner in FACES:
        for name in dir(owner):
            twin = name.removesuffix("_async")
            if name.endswith("_async") and hasattr(owner, twin):
                yield f"{owner_name}.{name}", getattr(owner, twin), getattr(owner, name)


def _parameters(fn: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_every_async_face_awaits_and_takes_the_arguments_of_its_sync_face() -> None:
    """``X_async`` is a coroutine function with the parameters of ``X``, for every public pair."""
    pairs = list(_pairs())
    names = {name for name, _, _ in pairs}
    assert {
        "hitl.respond_async",
        "Store.respond_async",
        "Store.respond_many_async",
        "Store.vote_async",
        "hitl.vote_async",
        "Store.enqueue_async",
        "Store.inbox_async",
        "Store.result_async",
        "RunHandle.result_async",
        "RunHandle.wait_for_request_async",
        "Agent.request_approval_async",
        "Agent.request_edit_async",
        "Agent.request_choice_async",
        "Agent.request_text_async",
        "Agent.ask_async",
        "Agent.status_async",
    } <= names
    for name, sync_face, async_face in pairs:
        assert inspect.iscoroutinefunction(async_face), name
        assert not inspect.iscoroutinefunction(sync_face), name
        assert _parameters(async_face) == _parameters(sync_face), name
        assert async_face.__name__ == name.rpartition(".")[2], name
        assert async_face.__doc__, name


def test_request_methods_take_the_arguments_of_their_question() -> None:
    """``request_approval(...)`` takes what ``Question.approval(...)`` takes, and so on."""
    for kind in ("approval", "edit", "choice", "text"):
        method = getattr(hitl.Agent, f"request_{kind}")
        builder = getattr(hitl.Question, kind)
        assert _parameters(method)[1:] == _parameters(builder)
        assert method.__doc__.startswith("Ask a human")


def _recording(log: list[str], operation: Call | Sleep) -> Program[object]:
    try:
        return (yield operation)
    except ValueError:
        log.append("caught")
        raise
    finally:
        log.append("finally")


def _fail() -> None:
    raise ValueError("the database said no")


def test_an_error_in_an_operation_is_raised_inside_the_program_under_both_drivers() -> None:
    """The program sees the error where it yielded, and its ``finally`` runs before the driver
    returns (a hot wait's registration ends at once)."""
    sync_log: list[str] = []
    with pytest.raises(ValueError, match="said no"):
        run_sync(_recording(sync_log, Call(_fail)))
    assert sync_log == ["caught", "finally"]

    async_log: list[str] = []
    with pytest.raises(ValueError, match="said no"):
        asyncio.run(run_async(_recording(async_log, Call(_fail))))
    assert async_log == ["caught", "finally"]


def test_a_cancelled_async_program_unwinds_where_it_sleeps() -> None:
    """Cancelling the coroutine that drives a program runs the program's ``finally`` at once."""
    log: list[str] = []

    async def scenario() -> None:
        task = asyncio.ensure_future(run_async(_recording(log, Sleep(Signal(), None))))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert log == ["finally"]


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_a_signal_set_from_another_thread_wakes_a_sleeping_program(driver: str) -> None:
    """A program sleeping on a signal without a timeout wakes when another thread sets it."""
    signal = Signal()
    threading.Timer(0.05, signal.set).start()
    program = _recording([], Sleep(signal, None))
    started = time.monotonic()
    if driver == "sync":
        run_sync(program)
    else:
        asyncio.run(run_async(program))
    assert signal.is_set()
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_a_sleep_ends_at_its_timeout(driver: str) -> None:
    """Nobody sets the signal: the sleep ends after its timeout, under both drivers."""
    program = _recording([], Sleep(Signal(), 0.05))
    started = time.monotonic()
    if driver == "sync":
        run_sync(program)
    else:
        asyncio.run(run_async(program))
    assert 0.04 <= time.monotonic() - started < 5


def test_the_sync_driver_refuses_a_thread_that_runs_an_event_loop() -> None:
    """A blocking wait would stall the loop: an async agent is told to use the *_async methods."""
    log: list[str] = []

    async def cell() -> None:
        program = _recording(log, Call(time.time))
        with pytest.raises(hitl.HitlError, match="request_approval_async"):
            run_sync(program)

    asyncio.run(cell())
    assert log == []


@pytest.mark.usefixtures("runtime")
def test_an_async_face_returns_what_its_sync_face_returns() -> None:
    """Store, RunHandle and ``hitl.respond``: each async face gives what the sync face gives."""
    store = hitl.store()
    run = Writer.start()
    request = testing.wait_for_request(run)

    async def cell() -> None:
        assert await run.wait_for_request_async() == run.wait_for_request()
        waiting = [item.request_id for item in (await store.inbox_async()).items]
        assert waiting == [item.request_id for item in store.inbox().items] == [request.request_id]
        first = await hitl.respond_async(request.request_id, text="hello", by="alice")
        assert store.respond(request.request_id, text="hello", by="alice") == first
        assert await store.respond_async(request.request_id, text="hello", by="alice") == first
        assert await run.result_async(timeout=30) == run.result() == "hello"
        assert await store.result_async(run.id) == "hello"
        with pytest.raises(hitl.NotFoundError):
            await store.respond_async("no-such-request", text="x")

    asyncio.run(cell())
