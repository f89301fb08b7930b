"""Agents as plain functions: ``@hitl.agent`` builds the ``Agent`` class whose run calls the function.

The class is registered under the agent's name like any other, so a run finds its code by name
and a kernel that restarts and runs the cell again resumes the waiting runs. A function agent's
name is its own (``_agent.workflow``): the same function may define it again, another agent may
not take it.

A parameter named ``ctx``, first, gets the run's agent (``ctx.request_approval(...)``); without
it, the function reaches its run through the module-level faces (``hitl.request_approval(...)``,
``_agent.run_faces``). Calling the decorated function calls the plain function, here and now:
inside a run it is part of that run, outside one its requests raise HitlError.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar, overload

from hitl_notebook._agent.agent import Agent
from hitl_notebook._agent.args import Args
from hitl_notebook._agent.handle import RunHandle
from hitl_notebook._agent.workflow import claim
from hitl_notebook._core.notify import Notify
from hitl_notebook._core.values import check_text

__all__ = ["FunctionAgent", "RunStarter", "agent"]

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
F = TypeVar("F", bound=Callable[..., Any])

CONTEXT = "ctx"
"""The parameter that gets the run's agent."""

RUN_OPTIONS = ("run_id", "requester")
"""What ``Agent.start`` takes besides the run's arguments, so no parameter may be named so."""


class TakesContext(Protocol[P, R_co]):
    """A function whose first parameter, ``ctx``, gets the run's agent."""

    def __call__(self, ctx: Agent, *args: P.args, **kwargs: P.kwargs) -> R_co: ...


class RunStarter(Generic[P]):
    """Starts runs of a function agent with options: ``refund.options(run_id=..., requester=...)``."""

    def __init__(self, agent_class: type[Agent], run_id: str | None, requester: str | None) -> None:
        self._agent_class = agent_class
        self._run_id = run_id
        self._requester = requester

    def start(self, *args: P.args, **kwargs: P.kwargs) -> RunHandle:
        """Start a run in this process (``Agent.start``)."""
        return self._agent_class.start(
            *args, run_id=self._run_id, requester=self._requester, **kwargs
        )

    async def start_async(self, *args: P.args, **kwargs: P.kwargs) -> RunHandle:
        """Awaitable twin of ``start``."""
        return await self._agent_class.start_async(
            *args, run_id=self._run_id, requester=self._requester, **kwargs
        )

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> RunHandle:
        """Queue a run for the workers (``Agent.enqueue``)."""
        return self._agent_class.enqueue(
            *args, run_id=self._run_id, requester=self._requester, **kwargs
        )


class FunctionAgent(Generic[F, P]):
    """A function made an agent by ``@hitl.agent``: start runs of it as of an ``Agent`` class.

    ``start``, ``start_async`` and ``enqueue`` take the function's arguments (without ``ctx``);
    ``options(run_id=..., requester=...)`` starts with those. Other attributes are the agent
    class's (``agent_class``), so what ``Agent`` offers to start runs works here too. Calling it
    calls the plain function.
    """

    agent_class: type[Agent]
    """The ``Agent`` subclass whose run calls the function, registered under ``agent_name``."""

    def __init__(self, function: F, agent_class: type[Agent]) -> None:
        functools.update_wrapper(self, function)
        self.agent_class = agent_class
        self._function = function

    @property
    def __call__(self) -> F:
        """The plain function: called directly it runs here, not as a run."""
        return self._function

    def __get__(self, instance: object, owner: type | None = None) -> FunctionAgent[F, P]:
        """Read from a class, the agent itself, as a staticmethod (``help()`` shows a function)."""
        return self

    def __repr__(self) -> str:
        return f"<function agent {self.agent_name!r}>"

    if not TYPE_CHECKING:  # at run time only: a type checker keeps flagging misspelt names

        def __getattr__(self, name: str) -> Any:
            if name.startswith("_"):
                raise AttributeError(name)
            return getattr(self.agent_class, name)

    @property
    def agent_name(self) -> str:
        """The name runs find this agent by (the function's name unless ``name=`` says)."""
        return self.agent_class.agent_name

    def start(self, *args: P.args, **kwargs: P.kwargs) -> RunHandle:
        """Start a run with the function's arguments in this process (``Agent.start``)."""
        return self.options().start(*args, **kwargs)

    async def start_async(self, *args: P.args, **kwargs: P.kwargs) -> RunHandle:
        """Awaitable twin of ``start``."""
        return await self.options().start_async(*args, **kwargs)

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> RunHandle:
        """Queue a run for the workers (``hitl worker``) instead of running it here."""
        return self.options().enqueue(*args, **kwargs)

    def start_many(
        self,
        calls: Iterable[tuple[Any, ...] | Args],
        *,
        run_ids: Sequence[str] | None = None,
        requester: str | None = None,
    ) -> list[RunHandle]:
        """Start one run per item of ``calls`` in this process (``Agent.start_many``): each
        item a tuple of positional arguments, or ``hitl.Args(*args, **kwargs)``."""
        return self.agent_class.start_many(calls, run_ids=run_ids, requester=requester)

    async def start_many_async(
        self,
        calls: Iterable[tuple[Any, ...] | Args],
        *,
        run_ids: Sequence[str] | None = None,
        requester: str | None = None,
    ) -> list[RunHandle]:
        """Awaitable twin of ``start_many``."""
        return await self.agent_class.start_many_async(calls, run_ids=run_ids, requester=requester)

    def options(self, *, run_id: str | None = None, requester: str | None = None) -> RunStarter[P]:
        """Start runs with a ``run_id`` (the same twice starts it once) or a ``requester``.

        >>> refund.options(run_id="refund-A-1001", requester="carol").start("A-1001")
        """
        return RunStarter(self.agent_class, run_id, requester)


class _Decorator:
    """``@hitl.agent(name=..., notify=...)``: the decorator with its options."""

    def __init__(self, name: str | None, notify: Notify | None) -> None:
        self._name = name
        self._notify = notify

    @overload
    def __call__(self, function: TakesContext[P, R], /) -> FunctionAgent[TakesContext[P, R], P]: ...
    @overload
    def __call__(self, function: Callable[P, R], /) -> FunctionAgent[Callable[P, R], P]: ...
    def __call__(self, function: Callable[..., Any], /) -> FunctionAgent[Any, Any]:
        return _function_agent(function, self._name, self._notify)


@overload
def agent(function: TakesContext[P, R], /) -> FunctionAgent[TakesContext[P, R], P]: ...
@overload
def agent(function: Callable[P, R], /) -> FunctionAgent[Callable[P, R], P]: ...
@overload
def agent(*, name: str | None = None, notify: Notify | None = None) -> _Decorator: ...
def agent(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    notify: Notify | None = None,
) -> FunctionAgent[Any, Any] | _Decorator:
    """Make a function (sync or ``async``) an agent: its runs are durable, as an ``Agent``'s.

    >>> @hitl.agent                       # or @hitl.agent(name="refunds", notify=hitl.Notify(...))
    ... def refund(ctx: hitl.Agent, order_id: str) -> str:
    ...     proposal = ctx.step(draft_refund, order_id)      # or hitl.step(...) without ctx
    ...     decision = ctx.request_approval("Refund?", proposal=proposal,
    ...                                     timeout="4h", on_timeout="reject")
    ...     return decision.outcome
    >>> run = refund.start("A-1001")

    A first parameter named ``ctx`` gets the run's agent; without it, the function uses the
    module-level faces (``hitl.request_approval``, ``hitl.step``, ``hitl.status``...). The agent's
    name is the function's ``__name__`` unless ``name`` says; ``notify``: how its requests reach
    people. Calling ``refund(...)`` calls the plain function, not as a run.
    """
    if function is None:
        return _Decorator(name, notify)
    return _function_agent(function, name, notify)


def _function_agent(
    function: Callable[..., Any], name: str | None, notify: Notify | None
) -> FunctionAgent[Any, Any]:
    if not inspect.isfunction(function):
        raise TypeError(
            f"@hitl.agent decorates a function (def or async def), got {function!r}; "
            "for a class, subclass hitl.Agent."
        )
    if notify is not None and not isinstance(notify, Notify):
        raise TypeError(f"notify is a hitl.Notify, got {type(notify).__name__}.")
    if name is None and function.__name__ == "<lambda>":
        raise TypeError("A lambda has no name to run by: give it one, hitl.agent(name=...)(fn).")
    agent_name = function.__name__ if name is None else _checked_name(name)
    takes_context = _takes_context(function)
    claim(agent_name, f"{function.__module__}.{function.__qualname__}")
    return FunctionAgent(function, _agent_class(function, agent_name, notify, takes_context))


def _checked_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"An agent's name is text, got {type(name).__name__}.")
    check_text(name, "The agent's name")
    if not name.strip():
        raise ValueError("An agent's name cannot be empty: name it, or leave name= out.")
    return name


def _takes_context(function: Callable[..., Any]) -> bool:
    """Whether the function's first parameter is ``ctx``; a ``ctx`` elsewhere, or a parameter
    that shadows a run option, is refused."""
    parameters = list(inspect.signature(function).parameters.values())
    for parameter in parameters:
        if parameter.name in RUN_OPTIONS:
            raise TypeError(
                f"{function.__qualname__} has a parameter named {parameter.name!r}, which names "
                "a run's option (refund.options(run_id=..., requester=...)): rename it."
            )
    where = [i for i, parameter in enumerate(parameters) if parameter.name == CONTEXT]
    if not where:
        return False
    if where != [0] or parameters[0].kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
        raise TypeError(
            f"ctx, the run's agent, is the first parameter of {function.__qualname__} "
            "(an ordinary one, like self): move it first, or rename it if it is something else."
        )
    return True


def _agent_class(
    function: Callable[..., Any], name: str, notify: Notify | None, takes_context: bool
) -> type[Agent]:
    """The ``Agent`` subclass whose run calls ``function`` (giving it the agent as ``ctx``)."""
    namespace = {
        "agent_name": name,
        "notify": notify,
        "run": _run_calling(function, takes_context),
        "__module__": function.__module__,
        "__qualname__": function.__qualname__,
        "__doc__": function.__doc__,
    }
    return type(function.__name__, (Agent,), namespace)


def _run_calling(function: Callable[..., Any], takes_context: bool) -> Callable[..., Any]:
    """An ``Agent.run`` that calls ``function``: async if it is async, as the workflow reads it."""

    def arguments(agent: Agent, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return (agent, *args) if takes_context else args

    if inspect.iscoroutinefunction(function):

        async def run_async(self: Agent, *args: Any, **kwargs: Any) -> Any:
            called: Coroutine[Any, Any, Any] = function(*arguments(self, args), **kwargs)
            return await called

        return run_async

    def run(self: Agent, *args: Any, **kwargs: Any) -> Any:
        return function(*arguments(self, args), **kwargs)

    return run
