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
