"""Sync and async, written once: a program of blocking operations, run by a sync or an async driver.

A program is a generator that yields operations and gets each one's result back: ``Call`` (a
blocking function), ``Sleep`` (until a ``Signal`` is set, or a timeout) and ``Handed`` (work
handed to another thread, which returns its future). ``run_sync`` performs each operation on the
calling thread; ``run_async`` awaits it, a call in a worker thread, a sleep on the event loop and
a handed future as it is, so a coroutine that waits holds no thread. An exception an operation
raises (a cancellation too) is raised inside the program where it yielded, so its ``with`` and
``finally`` blocks run at once, as in a plain function.

A blocking function is the program of one call: ``awaitable(fn)`` is its ``_async`` face, with
its exact signature and an awaitable result of its exact type.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import threading
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast

from hitl_notebook._core.errors import HitlError

__all__ = [
    "Call",
    "Handed",
    "Program",
    "Signal",
    "Sleep",
    "awaitable",
    "call",
    "run_async",
    "run_sync",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """Call ``fn(*args)``, which blocks: on the calling thread, or in a worker thread when async."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()

    def perform(self) -> Any:
        return self.fn(*self.args)

    def perform_async(self) -> Coroutine[Any, Any, Any]:
        return asyncio.to_thread(self.fn, *self.args)


class Signal:
    """A flag that any thread sets (``set`` is a callback for another thread) and that a program
    sleeps on (``Sleep``), under either driver. Small, as every hot wait holds one."""

    __slots__ = ("_is_set", "_wake")

    def __init__(self) -> None:
        self._is_set = False
        self._wake: Callable[[], object] | None = None

    def set(self) -> None:
        self._is_set = True
        if (wake := self._wake) is not None:
            wake()

    def clear(self) -> None:
        self._is_set = False

    def is_set(self) -> bool:
        return self._is_set

    def sleep(self, timeout: float | None) -> None:
        """Block this thread until the flag is set or ``timeout`` seconds pass."""
        event = threading.Event()
        if self._sleeps_until(event.set):
            try:
                event.wait(timeout)
            finally:
                self._wake = None

    async def sleep_async(self, timeout: float | None) -> None:
        """Wait on the event loop until the flag is set or ``timeout`` seconds pass (one future
        and one timer: no task of its own, as every hot wait of an async run sleeps here)."""
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()
        if self._sleeps_until(functools.partial(_resolve_on, loop, woken)):
            timer = None if timeout is None else loop.call_later(timeout, _resolve, woken)
            try:
                await woken
            finally:
                self._wake = None
                if timer is not None:
                    timer.cancel()

    def _sleeps_until(self, wake: Callable[[], object]) -> bool:
        """Have ``set`` call ``wake``; False (nothing to sleep) if the flag is set already.

        ``wake`` is registered before the flag is read: a ``set`` in between finds one or the other.
        """
        self._wake = wake
        if self._is_set:
            self._wake = None
            return False
        return True


def _resolve_on(loop: asyncio.AbstractEventLoop, future: asyncio.Future[None]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed: its sleeper stopped anyway
        loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@dataclass(frozen=True, slots=True)
class Sleep:
    """Sleep until ``signal`` is set (at once if it is) or ``timeout`` seconds pass (None: no limit)."""

    signal: Signal
    timeout: float | None

    def perform(self) -> None:
        self.signal.sleep(self.timeout)

    def perform_async(self) -> Coroutine[Any, Any, None]:
        return self.signal.sleep_async(self.timeout)


@dataclass(frozen=True, slots=True)
class Handed:
    """Hand work to another thread (``hand`` queues it and returns its future) and wait for its
    result: blocking the calling thread, or awaited on the event loop without a thread."""

    hand: Callable[[], concurrent.futures.Future[Any]]

    def perform(self) -> Any:
        return self.hand().result()

    def perform_async(self) -> Coroutine[Any, Any, Any]:
        return _awaited(self.hand())


async def _awaited(future: concurrent.futures.Future[Any]) -> Any:
    return await asyncio.wrap_future(future)


Program = Generator[Call | Sleep | Handed, Any, T]
"""A generator of operations that returns a ``T``: one logic for both drivers."""


def run_sync(program: Program[T]) -> T:
    """Drive a program on this thread.

    A thread that runs an event loop is refused (HitlError): the program would stall the loop, and
    DBOS's sync calls raise there. An async agent awaits the ``_async`` methods instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        program.close()
        raise HitlError(
            "This is an async agent: use the *_async methods with await, "
            "e.g. `await self.request_approval_async(...)`."
        )
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            operation = program.send(result) if error is None else program.throw(error)
        except StopIteration as done:
            return cast("T", done.value)
        finally:
            error = None  # an error leaves through the program: no cycle through this frame
        try:
            result = operation.perform()
        except BaseException as raised:  # raised in the program, where it yielded
            error = raised


async def run_async(program: Program[T]) -> T:
    """Drive a program from a coroutine: calls run in worker threads, sleeps on the event loop."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            operation = program.send(result) if error is None else program.throw(error)
        except StopIteration as done:
            return cast("T", done.value)
        finally:
            error = None
        try:
            result = await operation.perform_async()
        except BaseException as raised:  # a cancellation too
            error = raised


def call(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Program[R]:
    """The program of one blocking call, ``fn(*args, **kwargs)``."""
    result: R = yield Call(functools.partial(fn, *args, **kwargs))
    return result


def awaitable(fn: Callable[P, R], doc: str | None = None) -> Callable[P, Coroutine[Any, Any, R]]:
    """The ``_async`` face of a blocking function or method: the same call, run by ``run_async``
    (in a worker thread), so the caller's event loop stays free while it blocks.

    >>> respond_async = awaitable(respond)
    """

    @functools.wraps(fn)
    async def face(*args: P.args, **kwargs: P.kwargs) -> R:
        return await run_async(call(fn, *args, **kwargs))

    face.__name__ = f"{fn.__name__}_async"
    face.__qualname__ = f"{fn.__qualname__}_async"
    face.__doc__ = doc or f"Awaitable twin of ``{fn.__name__}``."
    return face
