"""The request methods every agent has: approval, edit, choice, text and input, each with its
``_async`` face.

Each asks one question and returns its decision. A request method takes the arguments of the
``Question`` builder of its kind (``request_approval`` those of ``Question.approval``), and its two
faces drive one program (``_core.sync_async``): ``run_sync`` in a sync agent, ``run_async`` in an
async one. ``Agent`` defines the program that asks (``_ask_program``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Concatenate, ParamSpec

from hitl_notebook._agent.questions import Question
from hitl_notebook._core.models import Decision
from hitl_notebook._core.sync_async import Program, run_async, run_sync

__all__ = ["RequestMethods"]

P = ParamSpec("P")

RequestMethod = Callable[Concatenate["RequestMethods", P], Decision]
AsyncRequestMethod = Callable[Concatenate["RequestMethods", P], Coroutine[Any, Any, Decision]]


def _request_methods(
    build: Callable[P, Question], doc: str
) -> tuple[RequestMethod[P], AsyncRequestMethod[P]]:
    """A request method and its ``_async`` face: both ask the one question ``build`` makes."""

    def program(agent: RequestMethods, /, *args: P.args, **kwargs: P.kwargs) -> Program[Decision]:
        (decision,) = yield from agent._ask_program([build(*args, **kwargs)])
        return decision

    def request(agent: RequestMethods, /, *args: P.args, **kwargs: P.kwargs) -> Decision:
        return run_sync(program(agent, *args, **kwargs))

    async def request_async(
        agent: RequestMethods, /, *args: P.args, **kwargs: P.kwargs
    ) -> Decision:
        return await run_async(program(agent, *args, **kwargs))

    name = f"request_{build.__name__}"
    arguments = inspect.signature(build).parameters.values()
    receiver = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    signature = inspect.Signature([receiver, *arguments], return_annotation="Decision")
    _name(request, name, doc, signature)
    _name(request_async, f"{name}_async", f"Awaitable twin of ``{name}``.", signature)
    return request, request_async


def _name(method: Callable[..., Any], name: str, doc: str, signature: inspect.Signature) -> None:
    """What ``help()`` and the notebook show: the method's name, docstring and signature."""
    method.__name__ = name
    method.__qualname__ = f"RequestMethods.{name}"
    method.__doc__ = doc
    method.__signature__ = signature  # type: ignore[attr-defined]


class RequestMethods:
    """``request_approval``, ``request_edit``, ``request_choice``, ``request_text``,
    ``request_input`` and their ``_async`` faces."""

    _ask_program: Callable[[Sequence[Question]], Program[list[Decision]]]

    request_approval, request_approval_async = _request_methods(
        Question.approval,
        """Ask a human to approve or reject; a ``proposal`` (pydantic model) may be edited first.

        ``decision.approved`` says whether to go ahead; ``decision.value`` is the (possibly edited)
        proposal as an instance of its model. At the deadline ``on_timeout`` applies: approve,
        reject, or raise RequestTimeoutError.
        """,
    )
    request_edit, request_edit_async = _request_methods(
        Question.edit,
        """Ask a human to review and edit ``proposal``; ``decision.value`` is the edited model.""",
    )
    request_choice, request_choice_async = _request_methods(
        Question.choice,
        """Ask a human to pick one of ``options``; at the deadline ``default`` applies (or it raises).

        ``multiple=True, min=1, max=3``: pick several; ``decision.value`` is the list of picked
        options, in the options' order.
        """,
    )
    request_text, request_text_async = _request_methods(
        Question.text,
        """Ask a human for a free-text answer; at the deadline ``default`` applies (or it raises).""",
    )
    request_input, request_input_async = _request_methods(
        Question.input,
        """Ask a human to fill in the pydantic ``model`` from scratch (a blank form, its defaults
        filled in); ``decision.value`` is an instance of ``model``. At the deadline ``default``
        (an instance) applies, or it raises. It is answered, never declined.
        """,
    )
