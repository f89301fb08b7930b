"""The running agent's methods as module-level functions: ``hitl.request_approval(...)`` in a run.

Each face finds the agent whose run is executing here (``_agent.workflow.running_agent``) and
calls its method of the same name, so it works in an ``@hitl.agent`` function, in an
``Agent.run`` and in what they call; outside a run it raises HitlError. The request faces are
made from ``RequestMethods``, one for each of its ``request_*`` methods, so a request kind added
there has its face here too.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from hitl_notebook._agent.agent import Agent
from hitl_notebook._agent.request_methods import RequestMethods
from hitl_notebook._agent.workflow import running_agent

__all__ = [
    "ask",
    "ask_async",
    "request_approval",
    "request_approval_async",
    "request_choice",
    "request_choice_async",
    "request_edit",
    "request_edit_async",
    "request_input",
    "request_input_async",
    "request_text",
    "request_text_async",
    "status",
    "status_async",
    "step",
    "step_async",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def _face(method: Callable[Concatenate[Agent, P], R]) -> Callable[P, R]:
    """``method`` of the running agent, as a function."""
    name = method.__name__

    def face(*args: P.args, **kwargs: P.kwargs) -> R:
        method_of_run: Callable[P, R] = getattr(running_agent(f"hitl.{name}"), name)
        return method_of_run(*args, **kwargs)

    return _named(face, method)


def _async_face(
    method: Callable[Concatenate[Agent, P], Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """``method`` (async) of the running agent, as an async function."""
    name = method.__name__

    async def face(*args: P.args, **kwargs: P.kwargs) -> R:
        method_of_run: Callable[P, Awaitable[R]] = getattr(running_agent(f"hitl.{name}"), name)
        return await method_of_run(*args, **kwargs)

    return _named(face, method)


def _named(face: Callable[P, R], method: Callable[..., Any]) -> Callable[P, R]:
    """What ``help()`` shows: the method's name, docstring and signature without ``self``."""
    signature = inspect.signature(method)
    face.__name__ = face.__qualname__ = method.__name__
    face.__doc__ = method.__doc__
    face.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=list(signature.parameters.values())[1:]
    )
    return face


def _request_faces() -> dict[str, Callable[..., Any]]:
    """A face for each ``request_*`` method of ``RequestMethods``."""
    return {
        name: _async_face(method) if inspect.iscoroutinefunction(method) else _face(method)
        for name, method in vars(RequestMethods).items()
        if name.startswith("request_")
    }


_REQUEST_FACES = _request_faces()
globals().update(_REQUEST_FACES)

if TYPE_CHECKING:  # the faces made above, as type checkers see them
    request_approval = _face(RequestMethods.request_approval)
    request_approval_async = _async_face(RequestMethods.request_approval_async)
    request_edit = _face(RequestMethods.request_edit)
    request_edit_async = _async_face(RequestMethods.request_edit_async)
    request_choice = _face(RequestMethods.request_choice)
    request_choice_async = _async_face(RequestMethods.request_choice_async)
    request_input = _face(RequestMethods.request_input)
    request_input_async = _async_face(RequestMethods.request_input_async)
    request_text = _face(RequestMethods.request_text)
    request_text_async = _async_face(RequestMethods.request_text_async)

ask = _face(Agent.ask)
ask_async = _async_face(Agent.ask_async)
status = _face(Agent.status)
status_async = _async_face(Agent.status_async)


def step(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn(*args, **kwargs)`` as a durable step of the running agent (``Agent.step``)."""
    return running_agent("hitl.step").step(fn, *args, **kwargs)


async def step_async(
    fn: Callable[P, Awaitable[T]] | Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """Awaitable twin of ``step``; ``fn`` may be sync (it then runs in a worker thread) or async."""
    return await running_agent("hitl.step_async").step_async(fn, *args, **kwargs)
