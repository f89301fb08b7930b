"""A pydantic-ai refund agent hosted in hitl runs, for tests/test_tool_pydantic_ai.py.

The model is a stateless ``FunctionModel``: the prompt is a JSON script of model turns (each a
list of ``[tool, arguments]`` calls), and the reply depends only on the messages it is given (how
many responses the history holds picks the turn; after the last turn it answers with the tool
results). Real model calls and tool side effects are counted here, outside the database.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field
from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

import hitl_notebook as hitl
from hitl_notebook import pydantic_ai as hitl_pai

MODEL_CALLS: list[int] = []
"""One entry per real model call (a replay reads the model's answers back and adds none)."""
REFUNDS: list[tuple[str, float]] = []
"""One entry per run of the refund tool's body."""
LOOKUPS: list[str] = []
"""One entry per run of the (un-gated) lookup tool's body."""


def reset() -> None:
    """Forget what earlier tests counted."""
    MODEL_CALLS.clear()
    REFUNDS.clear()
    LOOKUPS.clear()


def script(*turns: list[tuple[str, Any]]) -> str:
    """The prompt that makes the model call these tools, turn by turn (arguments as a dict, or as
    the JSON text a model sends)."""
    return json.dumps([[[name, arguments] for name, arguments in turn] for turn in turns])


def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """The fake LLM: the next scripted turn, or the tool results once the script is done."""
    MODEL_CALLS.append(1)
    prompt = next(
        part.content
        for message in messages
        for part in message.parts
        if isinstance(part, UserPromptPart)
    )
    turns = json.loads(str(prompt))
    turn = sum(isinstance(message, ModelResponse) for message in messages)
    if turn < len(turns):
        return ModelResponse(
            parts=[
                ToolCallPart(name, arguments, tool_call_id=f"call-{turn}-{position}")
                for position, (name, arguments) in enumerate(turns[turn])
            ]
        )
    results = [
        f"{part.tool_name}: {part.content}"
        for message in messages
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    ]
    return ModelResponse(parts=[TextPart(" | ".join(results))])


def small_or_huge(arguments: Any) -> hitl.Verdict | None:
    """Refunds under 50 need no review; over 5,000 are never made here."""
    if arguments.amount < 50:
        return hitl.Verdict.approve("under 50: no review needed")
    if arguments.amount > 5000:
        return hitl.Verdict.deny("over 5,000: refunds that large go through finance")
    return None


@hitl.approval_required(
    title="Refund {amount} on order {order_id}?", editable=["amount"], policy=small_or_huge
)
def refund(order_id: str, amount: Annotated[float, Field(gt=0)]) -> str:
    """Refund part of an order to the customer's card."""
    REFUNDS.append((order_id, amount))
    return f"refunded {amount} on {order_id}"


def lookup(order_id: str) -> str:
    """What the order holds."""
    LOOKUPS.append(order_id)
    return f"{order_id} holds shoes"


refunds = Agent(
    FunctionModel(model),
    name="refunds",
    capabilities=hitl_pai.capabilities([refund, lookup]),
)


class RefundDesk(hitl.Agent):
    """Runs the pydantic-ai agent (async)."""

    async def run(self, prompt: str) -> str:
        return (await refunds.run(prompt)).output


class SyncRefundDesk(hitl.Agent):
    """Runs the pydantic-ai agent from a sync run (``run_sync``)."""

    def run(self, prompt: str) -> str:
        return refunds.run_sync(prompt).output
