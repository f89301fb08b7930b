"""The ``_async`` faces are typed as precisely as their sync faces: mypy checks this file (see
``[tool.mypy] files``); it is never run."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, assert_type

from pydantic import BaseModel

import hitl_notebook as hitl


class Refund(BaseModel):
    amount: float


async def awaited_faces(store: hitl.Store, run: hitl.RunHandle, agent: hitl.Agent) -> None:
    """Each awaited face has the type of its sync face's result."""
    assert_type(await hitl.respond_async("r", approve=True), hitl.Decision)
    assert_type(await store.respond_async("r", choice="ups", by="alice"), hitl.Decision)
    assert_type(await store.respond_many_async(["r"], approve=True), hitl.BulkResult)
    assert_type(await store.vote_async("r", approve=True, by="alice"), hitl.Vote)
    assert_type(await hitl.vote_async("r", approve=False), hitl.Vote)
    assert_type(await store.enqueue_async("RefundAgent", "A-1", run_id="a"), str)
    assert_type(await store.inbox_async(agent="RefundAgent", sort="deadline"), hitl.Inbox)
    assert_type(await run.wait_for_request_async(timeout=5), hitl.Request)
    assert_type(await run.wait_async(timeout=5), str)
    assert_type(await agent.request_approval_async("Refund?", timeout="4h"), hitl.Decision)
    assert_type(await agent.request_edit_async("Fix", Refund(amount=1)), hitl.Decision)
    assert_type(await agent.request_choice_async("Pick", ["a", "b"]), hitl.Decision)
    assert_type(await agent.request_text_async("Say", default="x"), hitl.Decision)
    assert_type(await agent.ask_async(hitl.Question.text("Say")), list[hitl.Decision])
    # The faces check their arguments (an ignore that nothing needs fails the check):
    await store.respond_async("r", approve="yes")  # type: ignore[arg-type]
    await agent.request_choice_async("Pick", ["a", "b"], defualt="a")  # type: ignore[call-arg]


def coroutines(store: hitl.Store, agent: hitl.Agent) -> None:
    """A face returns a coroutine (``asyncio.run`` and ``create_task`` take it), and a sync face
    returns its result."""
    assert_type(store.inbox_async(), Coroutine[Any, Any, hitl.Inbox]).close()
    assert_type(agent.request_text("Say"), hitl.Decision)
    assert_type(hitl.respond("r", text="x"), hitl.Decision)


@hitl.approval_required(editable=["amount"])
def _typed_tool(order_id: str, amount: float) -> str:
    """A tool whose decorated type is the function's own."""
    return order_id


@hitl.approval_required
def _bare_tool(ticket: int) -> int:
    """The decorator without options."""
    return ticket


def tool_faces() -> None:
    """A tool keeps its function's type, with options or without."""
    assert_type(_typed_tool("A-1", 1.0), str)
    assert_type(_bare_tool(1), int)


@hitl.agent
def _refund(ctx: hitl.Agent, order_id: str, amount: float = 1.0) -> str:
    """A function agent with ``ctx``: its runs take the arguments after it."""
    return order_id


@hitl.agent(name="typed-notify")
async def _notified(order_id: str) -> int:
    """An async function agent without ``ctx``, decorated with options."""
    return 1


def function_agent_faces() -> None:
    """A function agent starts runs with its function's arguments, without ``ctx``; called, it
    is the plain function."""
    assert_type(_refund.start("A-1", amount=2.0), hitl.RunHandle)
    assert_type(_refund.enqueue("A-1"), hitl.RunHandle)
    assert_type(_refund.options(run_id="r", requester="carol").start("A-1"), hitl.RunHandle)
    assert_type(_notified.start("A-1"), hitl.RunHandle)
    assert_type(_refund.start_many([("A-1",), hitl.Args("A-2", amount=3.0)]), list[hitl.RunHandle])
    assert_type(_refund(hitl.Agent(), "A-1"), str)
    assert_type(_notified("A-1"), Coroutine[Any, Any, int]).close()
    assert_type(_refund.agent_class, type[hitl.Agent])
    _refund.start(1)  # type: ignore[arg-type]
    _refund.start("A-1", amont=2.0)  # type: ignore[call-arg]
    _notified.start("A-1", run_id="r")  # type: ignore[call-arg]


async def run_faces() -> None:
    """The module-level faces have the types of the agent's methods."""
    assert_type(hitl.request_approval("Refund?", timeout="4h"), hitl.Decision)
    assert_type(await hitl.request_choice_async("Pick", ["a", "b"]), hitl.Decision)
    assert_type(hitl.request_edit("Fix", Refund(amount=1)), hitl.Decision)
    assert_type(await hitl.request_text_async("Say", default="x"), hitl.Decision)
    assert_type(hitl.ask(hitl.Question.text("Say")), list[hitl.Decision])
    assert_type(await hitl.ask_async(hitl.Question.text("Say")), list[hitl.Decision])
    assert_type(hitl.status("working", progress=0.5), None)
    assert_type(await hitl.status_async("working"), None)
    assert_type(hitl.step(_bare_tool, 1), int)
    assert_type(await hitl.step_async(_bare_tool, 1), int)
    hitl.request_choice("Pick", ["a", "b"], defualt="a")  # type: ignore[call-arg]
    hitl.step(_bare_tool, "1")  # type: ignore[arg-type]
