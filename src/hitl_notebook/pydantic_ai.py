"""pydantic-ai agents whose tool calls wait for a person, hosted in a hitl run.

Needs the extra: ``pip install "hitl-notebook[pydantic-ai]"``.

>>> import hitl_notebook as hitl
>>> from pydantic_ai import Agent
>>> from hitl_notebook import pydantic_ai as hitl_pai
>>>
>>> @hitl.approval_required(title="Refund {amount} on {order_id}?", editable=["amount"],
...                         policy=lambda args: args.amount < 50)
... def refund(order_id: str, amount: float) -> str:
...     '''Refund part of an order to the customer's card.'''
...     return payments.refund(order_id, amount)
>>>
>>> def lookup(order_id: str) -> str:
...     '''What the order holds.'''
...     return orders.describe(order_id)
>>>
>>> support = Agent("openai:gpt-5", name="support",
...                 capabilities=hitl_pai.capabilities([refund, lookup]))
>>>
>>> class Support(hitl.Agent):
...     async def run(self, message: str) -> str:
...         return (await support.run(message)).output    # or support.run_sync() in a sync run

``capabilities(tools)`` gives the agent its tools and what makes them durable, attached at
construction (pydantic-ai refuses durable capabilities given per run):

- ``DBOSDurability(parallel_execution_mode="sequential")``: each model request is a DBOS step of
  the hitl run, so a replay (after parking, a restart or a crash) reads the model's answers back
  instead of calling the model again; tools run one at a time, in the model's order.
- a tool made by ``hitl.approval_required`` is registered with ``requires_approval=True``:
  pydantic-ai validates the model's arguments first (invalid ones go back to the model, no person
  sees them), then defers the call. All deferred calls of one model turn are decided together by
  one ``hitl.decide_tool_calls_async`` (policies first, then one batch of requests, each answerable
  on its own). Approved, the tool runs with the approved, possibly edited, arguments; denied or
  timed out, the model reads the denial (the person's comment) as the tool's result.
- every tool body, gated or not, runs as a DBOS step named ``tool:<name>:<digest>``: a replay
  never runs a tool twice, and a replay that reorders calls stops instead of swapping results.

A plain function in ``tools`` runs without asking; a digest over its run, its index among the
run's un-gated calls and its arguments names its step. Tools registered on the agent by other
means also run as steps; a tool registered with ``requires_approval=True`` by other means is
refused at its first call (give it to ``capabilities`` made by ``hitl.approval_required``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dbos import DBOS
from pydantic import RootModel, ValidationError

from hitl_notebook._agent.agent import Agent as HitlAgent
from hitl_notebook._agent.tools import (
    ToolApproval,
    ToolDecision,
    approval_of,
    decide_tool_calls_async,
    tool_digest,
    tool_step_name,
)
from hitl_notebook._agent.workflow import running_agent
from hitl_notebook._core.errors import HitlError, ToolReplayError
from hitl_notebook._core.extras import extra_required

with extra_required("hitl_notebook.pydantic_ai", "pydantic-ai", "pydantic-ai", "pydantic_ai"):
    from pydantic_ai import (
        DeferredToolRequests,
        DeferredToolResults,
        RunContext,
        Tool,
        ToolApproved,
        ToolDenied,
    )
    from pydantic_ai.capabilities import AbstractCapability, HandleDeferredToolCalls, Toolset
    from pydantic_ai.durable_exec.dbos import DBOSDurability
    from pydantic_ai.messages import ToolCallPart
    from pydantic_ai.tools import ToolDefinition
    from pydantic_ai.toolsets import FunctionToolset


__all__ = ["capabilities"]


def capabilities(tools: Sequence[Callable[..., Any]]) -> list[AbstractCapability[Any]]:
    """What a ``pydantic_ai.Agent`` needs to run ``tools`` inside a hitl run, approval included:
    pass it as ``capabilities=`` when constructing the agent (which needs a ``name=``).

    ``tools``: functions made by ``hitl.approval_required`` (a person, or its policy, approves
    each call) and plain functions (they run without asking); each may take pydantic-ai's
    ``RunContext`` first. Every tool body runs as a durable step of the run.
    """
    approvals: dict[str, ToolApproval] = {}
    toolset: FunctionToolset[Any] = FunctionToolset()
    for tool in tools:
        gated = getattr(tool, "__hitl_approval__", None)
        if gated is None:
            toolset.add_tool(Tool(tool))
            continue
        approved = approval_of(tool)
        name = approved.approval.name
        if name in approvals:
            raise ValueError(f"Two tools are named {name!r}: a tool's name must be unique.")
        approvals[name] = approved.approval
        toolset.add_tool(
            Tool(
                approved.fn,
                name=name,
                description=approved.approval.description,
                requires_approval=True,
            )
        )
    steps = _ToolSteps(approvals)
    return [
        DBOSDurability(parallel_execution_mode="sequential"),
        Toolset(toolset),
        HandleDeferredToolCalls(handler=steps.decide),
        steps,
    ]


@dataclass
class _RunCalls:
    """What one execution of a hitl run knows of its tool calls (made again by a replay)."""

    decided: dict[str, ToolDecision] = field(default_factory=dict)
    """The latest decision for each model tool call id."""
    ungated: int = 0
    """How many un-gated tool calls the run made so far."""


class _Arguments(RootModel[dict[str, Any]]):
    """An un-gated call's validated arguments, digested like a gated call's."""


_runs: weakref.WeakKeyDictionary[HitlAgent, _RunCalls] = weakref.WeakKeyDictionary()


def _run_calls(what: str) -> tuple[HitlAgent, _RunCalls]:
    agent = running_agent(what)
    return agent, _runs.setdefault(agent, _RunCalls())


@dataclass
class _ToolSteps(AbstractCapability[Any]):
    """Decides a model turn's deferred calls and runs every tool body as a durable step."""

    approvals: dict[str, ToolApproval]

    async def decide(
        self, ctx: RunContext[Any], requests: DeferredToolRequests
    ) -> DeferredToolResults:
        """The ``HandleDeferredToolCalls`` handler: one decision round for the turn's calls."""
        _, run = _run_calls("A pydantic-ai tool call that needs approval")
        results: dict[str, ToolApproved | ToolDenied] = {}
        asked: list[tuple[ToolCallPart, ToolApproval]] = []
        calls = []
        for part in requests.approvals:
            approval = self._approval(part.tool_name)
            raw = requests.validated_args.get(part.tool_call_id) or part.args_as_dict()
            try:
                arguments = approval.validate(raw)
            except ValidationError as error:  # pydantic-ai validated them: only a schema mismatch
                results[part.tool_call_id] = ToolDenied(f"Invalid arguments: {error}")
                continue
            asked.append((part, approval))
            calls.append((approval, arguments))
        decisions = await decide_tool_calls_async(calls) if calls else []
        for (part, _), decided in zip(asked, decisions, strict=True):
            run.decided[part.tool_call_id] = decided
            results[part.tool_call_id] = (
                ToolApproved(override_args=decided.arguments.model_dump())
                if decided.approved
                else ToolDenied(decided.message)
            )
        return requests.build_results(approvals=results)

    async def wrap_tool_execute(
        self,
        ctx: RunContext[Any],
        *,
        call: ToolCallPart,
        tool_def: ToolDefinition,
        args: dict[str, Any],
        handler: Callable[[dict[str, Any]], Any],
    ) -> Any:
        """Run the tool's body (and its hooks) as the durable step of this call."""
        agent, run = _run_calls("A pydantic-ai tool")
        if tool_def.name in self.approvals or tool_def.kind == "unapproved":
            step = self._approved_step(run, call, tool_def.name, args)
        else:
            run.ungated += 1
            digest = tool_digest(tool_def.name, agent.run_id, run.ungated, _Arguments(args))
            step = tool_step_name(tool_def.name, digest)

        async def body() -> Any:
            return await handler(args)

        return await DBOS.run_step_async({"name": step}, body)

    def _approved_step(
        self, run: _RunCalls, call: ToolCallPart, name: str, args: dict[str, Any]
    ) -> str:
        decided = run.decided.get(call.tool_call_id)
        if decided is None or decided.approval.name != name or not decided.approved:
            raise HitlError(
                f"The tool {name} needs approval, but its call {call.tool_call_id} was not "
                "approved through hitl: give the tool to hitl_notebook.pydantic_ai.capabilities."
            )
        runs_with = decided.approval.validate(args).model_dump(mode="json")
        if runs_with != decided.arguments.model_dump(mode="json"):
            raise ToolReplayError(decided.decision.request_id, name)
        return decided.step_name

    def _approval(self, name: str) -> ToolApproval:
        found = self.approvals.get(name)
        if found is None:
            raise HitlError(
                f"The tool {name} needs approval but hitl does not know how to ask for it: make "
                "it with hitl.approval_required and give it to hitl_notebook.pydantic_ai."
                "capabilities."
            )
        return found
