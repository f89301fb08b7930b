"""The one DBOS workflow behind every run (``hitl.agent``), and the agent classes it runs by name.

Its inputs are the agent's name and its pickled arguments; the class is looked up when the run
starts or is recovered, so a recovered run waits (as a coroutine, holding no thread) until its
class is defined in this process. A sync agent's code runs in a daemon thread, an async agent's on
the runtime's event loop; the workflow publishes the run's start and end, and keeps a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from dbos import DBOS

from hitl_notebook._agent.program import write_failure, write_status
from hitl_notebook._core.errors import HitlError
from hitl_notebook._core.failures import failure_of, recordable
from hitl_notebook._core.models import Status
from hitl_notebook._core.sync_async import run_async
from hitl_notebook._core.values import storable
from hitl_notebook._db.dbos_internals import Stopped
from hitl_notebook._runtime.launch import current_or_none
from hitl_notebook._runtime.starting import START_DETAIL, START_KEY, take_announced
from hitl_notebook._store.queueing import WORKFLOW_NAME, decode_payload

if TYPE_CHECKING:
    from hitl_notebook._agent.agent import Agent

__all__ = ["agent_class", "claim", "register", "run_agent", "running_agent"]

T = TypeVar("T")

MAX_RECOVERY_ATTEMPTS = 1000
"""Each restart of a run's process counts one attempt; a run that crashes this often is stopped."""


class _Registry:
    """Agent classes by name; a recovered run waits here until its class is defined.

    A class defined again under its name replaces the one before (a notebook cell run again).
    A function agent's name is its own: only the same function (module and qualified name) may
    define it again, and another agent under that name is refused.
    """

    def __init__(self) -> None:
        self._classes: dict[str, type[Agent]] = {}
        self._functions: dict[str, str] = {}
        self._waiting: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = {}
        self._lock = threading.Lock()

    def claim(self, name: str, function: str) -> None:
        with self._lock:
            taken = self._classes.get(name)
            if taken is not None and _origin(taken) != function:
                raise ValueError(
                    f"An agent named {name!r} is already defined ({_origin(taken)}), so {function} "
                    f"cannot take that name: give it another with @hitl.agent(name=...)."
                )
            self._functions[name] = function

    def register(self, cls: type[Agent]) -> None:
        with self._lock:
            function = self._functions.get(cls.agent_name)
            if function is not None and function != _origin(cls):
                raise ValueError(
                    f"The agent name {cls.agent_name!r} belongs to the function agent {function}: "
                    f"give {_origin(cls)} another with agent_name = '...'."
                )
            self._classes[cls.agent_name] = cls
            waiting = self._waiting.pop(cls.agent_name, [])
        for loop, future in waiting:
            loop.call_soon_threadsafe(_resolve, future)

    def get(self, name: str) -> type[Agent] | None:
        with self._lock:
            return self._classes.get(name)

    async def wait_for(self, name: str) -> type[Agent]:
        loop = asyncio.get_running_loop()
        with self._lock:
            found = self._classes.get(name)
            if found is None:
                future: asyncio.Future[None] = loop.create_future()
                self._waiting.setdefault(name, []).append((loop, future))
        if found is None:
            await future
            found = self.get(name)
            assert found is not None
        return found


def _origin(cls: type[Agent]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_registry = _Registry()
_running: contextvars.ContextVar[Agent | None] = contextvars.ContextVar(
    "hitl_running_agent", default=None
)


def running_agent(what: str) -> Agent:
    """The agent whose run is executing here; ``what`` (which needs a run) names itself in the
    error raised elsewhere."""
    agent = _running.get()
    if agent is None or DBOS.workflow_id != agent.run_id:
        raise HitlError(
            f"{what} works only inside an agent's run (in Agent.run, in an @hitl.agent function, "
            "or in what they call): start a run with .start(...)."
        )
    return agent


def agent_class(name: str) -> type[Agent] | None:
    """The agent class registered under ``name`` in this process, if any."""
    return _registry.get(name)


def register(cls: type[Agent]) -> None:
    """Make ``cls`` the agent class its runs (started, or waiting to be recovered) use."""
    _registry.register(cls)


def claim(name: str, function: str) -> None:
    """Reserve ``name`` for the function agent ``function`` (``module.qualname``), before its
    class is registered; ValueError if another agent has it."""
    _registry.claim(name, function)


@DBOS.workflow(name=WORKFLOW_NAME, max_recovery_attempts=MAX_RECOVERY_ATTEMPTS)
async def run_agent(agent_name: str, payload: str) -> Any:
    """The one DBOS workflow behind every run: find the agent class, run it, publish the end."""
    cls = await _registry.wait_for(agent_name)
    runtime = current_or_none()
    if runtime is None:  # dispatched while the runtime shuts down: it resumes at the next launch
        raise Stopped(agent_name)
    args, kwargs = decode_payload(payload)
    agent = cls()
    agent._run_id = cast("str", DBOS.workflow_id)
    agent._database = database = runtime.database
    _running.set(agent)

    async def publish(key: str, status: Status, detail: str | None, progress: float | None) -> None:
        written = write_status(
            database,
            key=key,
            agent=agent_name,
            status=status.value,
            detail=detail,
            progress=progress,
        )
        await run_async(written)

    if not take_announced(agent._run_id):  # Agent.start_many said it in the start's transaction
        await publish(START_KEY, Status.WORKING, START_DETAIL, None)
    try:
        if inspect.iscoroutinefunction(cls.run):
            result = await cls.run(agent, *args, **kwargs)
        else:
            result = await _in_daemon_thread(cls.run, agent, *args, **kwargs)
    except Exception as error:
        await publish("end", Status.FAILED, storable(f"{type(error).__name__}: {error}"), None)
        failure = failure_of(error)
        await run_async(write_failure(database, failure))
        recorded = recordable(error, failure)
        if recorded is error:
            raise
        raise recorded from error
    await publish("end", Status.FINISHED, None, 1.0)
    return result


async def _in_daemon_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a sync agent's code in a daemon thread that carries the run's DBOS context.

    Daemon, so that a script can exit while one of its sync agents waits: the run stays in the
    database and resumes at the next launch.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome: tuple[Callable[..., None], Any] = (_succeed, context.run(fn, *args, **kwargs))
        except BaseException as error:  # handed to the awaiting coroutine as it is
            outcome = (_fail, error)
        # A closed loop means the runtime shut down meanwhile: the run resumes at the next launch.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(outcome[0], future, outcome[1])

    threading.Thread(target=target, name=f"hitl-run-{DBOS.workflow_id}", daemon=True).start()
    return await future


def _succeed(future: asyncio.Future[T], result: T) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
