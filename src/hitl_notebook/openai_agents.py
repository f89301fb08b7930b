"""An OpenAI Agents SDK agent inside a hitl run: its gated tool calls wait for a person.

Install the extra: ``pip install "hitl-notebook[openai-agents]"``. Build the agent's tools with
``tools(...)`` (``hitl.approval_required`` functions become ``needs_approval`` tools; plain
functions and ``FunctionTool``s run without asking) and run it with ``await run(agent, input)``
inside an async ``hitl.Agent.run``:

>>> @hitl.approval_required(editable=["amount"], policy=lambda a: a.amount < 50)
... def refund(order_id: str, amount: float) -> str:
...     '''Refund part of an order to the customer's card.'''
...     return payments.refund(order_id, amount, idempotency_key=hitl.step_key())
>>> shop = agents.Agent(name="shop", model="gpt-5", tools=openai_agents.tools(refund, lookup))
>>> class Refunds(hitl.Agent):
...     async def run(self, prompt: str) -> str:
...         result = await openai_agents.run(shop, prompt)
...         return str(result.final_output)

What ``run`` guarantees, pass by pass (a pass is one ``Runner.run`` until the SDK stops on the
calls that need approval):

- Each model call is a durable step: a run that resumes (after parking, a restart or a crash)
  reads the model's replies back instead of calling it again.
- A pass's interruptions are decided together by one ``hitl.decide_tool_calls_async``: the hitl
  policy decides first (recorded with ``by="policy"``), the rest are asked as one batch, each
  answerable on its own. Arguments the tool's model refuses never reach a person: the model gets
  the validation errors as the call's result. Approved, the call runs with the approved, possibly
  edited, arguments (the SDK has no edits: the tool's invoker substitutes them, by call id);
  denied or timed out, the model gets the denial text as the call's result.
- Every tool body, gated or not, runs as a durable step named ``tool:<name>:<digest>``, one at a
  time in the model's order, so a replay reads each result back in the same place and a replay
  that reorders calls stops instead of handing one call another's result.

Why not ``dbos_openai_agents.DBOSRunner``: it orders a turn's tool starts with a turnstile that
waits for every function call of the model's reply, in call-id order, to start. A call that
never starts (one waiting for approval while an un-gated one of the same turn runs, or a denied
one before an approved one) blocks the rest forever. Here the model step is ours and tools run
one at a time (``max_function_tool_concurrency=1``), which orders them without waiting on calls
that do not run. Streaming is not supported.
"""

from __future__ import annotations

import dataclasses
import json
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from dbos import DBOS
from pydantic import RootModel, ValidationError

from hitl_notebook._agent.agent import Agent as HitlAgent
from hitl_notebook._agent.tools import (
    ApprovedTool,
    ToolApproval,
    ToolDecision,
    approval_of,
    decide_tool_calls_async,
    tool_digest,
    tool_step_name,
)
from hitl_notebook._agent.workflow import running_agent
from hitl_notebook._core.errors import HitlError
from hitl_notebook._core.extras import extra_required

with extra_required(
    "hitl_notebook.openai_agents", "the OpenAI Agents SDK", "openai-agents", "agents", "openai"
):
    from agents import (
        Agent,
        FunctionTool,
        Handoff,
        Model,
        ModelProvider,
        ModelResponse,
        RunConfig,
        Runner,
        RunResult,
        RunState,
        ToolApprovalItem,
        function_tool,
    )
    from agents.items import TResponseInputItem, TResponseStreamEvent
    from agents.run_config import ToolExecutionConfig
    from agents.tool_context import ToolContext


__all__ = ["run", "tool", "tools"]

MODEL_STEP = "openai_agents:model"
"""The name of the durable step each model call runs as (persisted: renaming it strands runs)."""
_APPROVAL = "__hitl_approval__"
_Invoke = Callable[[ToolContext[Any], str], Any]


def tool(fn: Callable[..., Any] | FunctionTool, **options: Any) -> FunctionTool:
    """One SDK tool: a ``hitl.approval_required`` function becomes a ``needs_approval`` tool whose
    calls ``run`` decides through hitl; a plain function becomes a ``function_tool(fn,
    **options)``; a ``FunctionTool`` is kept as it is (it runs without asking)."""
    if isinstance(fn, FunctionTool):
        return fn
    try:
        approved = approval_of(fn)
    except TypeError:
        return function_tool(fn, **options)
    made = function_tool(
        approved.fn,
        name_override=approved.approval.name,
        description_override=approved.approval.description,
        needs_approval=True,
        **options,
    )
    setattr(made, _APPROVAL, approved)
    return made


def tools(*fns: Callable[..., Any] | FunctionTool) -> list[FunctionTool]:
    """``tool(fn)`` for each: the list an ``agents.Agent(tools=...)`` takes."""
    return [tool(fn) for fn in fns]


async def run(
    agent: Agent[Any],
    input: str | list[TResponseInputItem],
    *,
    context: Any = None,
    run_config: RunConfig | None = None,
    **runner_options: Any,
) -> RunResult:
    """Run ``agent`` on ``input`` inside the running hitl agent's run, until it finishes: each
    pass's tool calls that need approval are decided through hitl (asked together, or decided by
    their policy), then the run resumes. ``context``, ``run_config`` and ``runner_options``
    (``max_turns``, ``hooks``...) are ``Runner.run``'s. Returns the SDK's last ``RunResult``."""
    host = running_agent("hitl_notebook.openai_agents.run")
    calls = _Calls(host)
    durable = _durable_agent(agent, calls, {})
    config = _durable_config(run_config or RunConfig())
    result = await Runner.run(durable, input, context=context, run_config=config, **runner_options)
    while result.interruptions:
        state = result.to_state()
        await _decide(result.interruptions, state, calls)
        result = await Runner.run(durable, state, run_config=config, **runner_options)
    return result


class _Calls:
    """What the tools of one ``run`` share: the gated tools' approvals by name, the approved
    calls of the current pass by call id, and the running agent (its run id, its call count)."""

    def __init__(self, host: HitlAgent) -> None:
        self.host = host
        self.approvals: dict[str, ToolApproval] = {}
        self.approved: dict[str, ToolDecision] = {}

    def next_plain_call(self) -> int:
        """The index of the run's next call of a tool that needs no approval (1, 2...)."""
        count = _PLAIN_CALLS.get(self.host, 0) + 1
        _PLAIN_CALLS[self.host] = count
        return count


_PLAIN_CALLS: weakref.WeakKeyDictionary[HitlAgent, int] = weakref.WeakKeyDictionary()
"""Calls of un-gated tools per running agent (a replay makes a new agent: it counts afresh)."""


async def _decide(items: Sequence[ToolApprovalItem], state: RunState[Any], calls: _Calls) -> None:
    """Decide a pass's interruptions with one ``decide_tool_calls_async`` and mark each in
    ``state``: approved (its arguments kept for the tool, by call id) or rejected."""
    calls.approved = {}
    asked: list[tuple[ToolApprovalItem, ToolApproval, Any]] = []
    for item in items:
        approval = calls.approvals.get(item.tool_name or "")
        if approval is None:
            raise HitlError(
                f"The agent stopped for approval of {item.tool_name!r}, which is not a tool made "
                "from a hitl.approval_required function: build gated tools with "
                "hitl_notebook.openai_agents.tools(...)."
            )
        try:
            arguments = approval.validate(json.loads(item.arguments or "{}"))
        except (ValueError, ValidationError) as error:
            state.reject(item, rejection_message=_invalid(approval.name, error))
            continue
        asked.append((item, approval, arguments))
    if not asked:
        return
    decided = await decide_tool_calls_async([(approval, args) for _, approval, args in asked])
    for (item, _, _), decision in zip(asked, decided, strict=True):
        if decision.approved:
            calls.approved[_call_id(item)] = decision
            state.approve(item)
        else:
            state.reject(item, rejection_message=decision.message)


def _call_id(item: ToolApprovalItem) -> str:
    call_id = item.call_id
    if call_id is None:
        raise HitlError(f"The call of {item.tool_name!r} that needs approval has no call id.")
    return call_id


def _invalid(name: str, error: ValueError) -> str:
    if isinstance(error, ValidationError):
        details = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'arguments'}: {e['msg']}"
            for e in error.errors(include_url=False)
        )
    else:
        details = f"not a JSON object ({error})"
    return f"{name} was not called: its arguments are invalid ({details})."


# -- durability: the model as a step, each tool body as a step ---------------------------------


def _durable_config(config: RunConfig) -> RunConfig:
    model = config.model
    return dataclasses.replace(
        config,
        model=_DurableModel(model) if isinstance(model, Model) else model,
        model_provider=_DurableProvider(config.model_provider),
        tool_execution=dataclasses.replace(
            config.tool_execution or ToolExecutionConfig(), max_function_tool_concurrency=1
        ),
    )


def _durable_agent(agent: Agent[Any], calls: _Calls, done: dict[int, Agent[Any]]) -> Agent[Any]:
    """A clone of ``agent`` (and of the agents it hands off to) whose model calls and tool bodies
    are durable steps."""
    if id(agent) in done:
        return done[id(agent)]
    changes: dict[str, Any] = {"tools": [_durable_tool(t, calls) for t in agent.tools]}
    if isinstance(agent.model, Model):
        changes["model"] = _DurableModel(agent.model)
    clone = agent.clone(**changes)
    done[id(agent)] = clone
    clone.handoffs = [_durable_handoff(h, calls, done) for h in agent.handoffs]
    return clone


def _durable_handoff(
    handoff: Agent[Any] | Handoff[Any, Any], calls: _Calls, done: dict[int, Agent[Any]]
) -> Agent[Any] | Handoff[Any, Any]:
    if isinstance(handoff, Agent):
        return _durable_agent(handoff, calls, done)
    invoke = handoff.on_invoke_handoff

    async def on_invoke_handoff(*args: Any, **kwargs: Any) -> Agent[Any]:
        return _durable_agent(await invoke(*args, **kwargs), calls, done)

    return dataclasses.replace(handoff, on_invoke_handoff=on_invoke_handoff)


def _durable_tool(given: Any, calls: _Calls) -> Any:
    if not isinstance(given, FunctionTool):
        return given  # hosted tools run at the provider; nothing local to make durable
    approved = getattr(given, _APPROVAL, None)
    if isinstance(approved, ApprovedTool):
        return _gated(given, approved.approval, calls)
    if given.needs_approval is not False:
        raise HitlError(
            f"The tool {given.name!r} needs approval but was not made from a "
            "hitl.approval_required function: make it with hitl_notebook.openai_agents.tool(fn) "
            "so that hitl asks, records and binds the approval."
        )
    return _plain(given, calls)


def _gated(given: FunctionTool, approval: ToolApproval, calls: _Calls) -> FunctionTool:
    """The tool runs the approved (possibly edited) arguments of its call, as a step."""
    known = calls.approvals.setdefault(approval.name, approval)
    if known is not approval:
        raise HitlError(f"Two different tools that need approval are named {approval.name!r}.")
    invoke = given.on_invoke_tool

    async def on_invoke_tool(ctx: ToolContext[Any], raw: str) -> Any:
        decided = calls.approved.pop(ctx.tool_call_id, None)
        if decided is None:
            raise HitlError(
                f"{approval.name} was called without a hitl decision: approve its calls through "
                "hitl (not RunState.approve or always_approve)."
            )
        edited = decided.arguments.model_dump_json()
        return await _step(decided.step_name, invoke, ctx, edited)

    return dataclasses.replace(given, needs_approval=True, on_invoke_tool=on_invoke_tool)


def _plain(given: FunctionTool, calls: _Calls) -> FunctionTool:
    """The tool runs as a step named by a digest of its call, like an approved one."""
    invoke = given.on_invoke_tool

    async def on_invoke_tool(ctx: ToolContext[Any], raw: str) -> Any:
        index = calls.next_plain_call()
        try:
            parsed: Any = json.loads(raw or "{}")
        except ValueError:
            parsed = raw
        digest = tool_digest(given.name, calls.host.run_id, index, RootModel[Any](parsed))
        return await _step(tool_step_name(given.name, digest), invoke, ctx, raw)

    return dataclasses.replace(given, on_invoke_tool=on_invoke_tool)


async def _step(name: str, invoke: _Invoke, ctx: ToolContext[Any], raw: str) -> Any:
    # An async def, not the SDK's invoker object: DBOS runs an async __call__ object as sync.
    async def body() -> Any:
        return await invoke(ctx, raw)

    return await DBOS.run_step_async({"name": name}, body)


class _DurableModel(Model):
    """A model whose every reply is a durable step."""

    def __init__(self, model: Model) -> None:
        self.model = model

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        async def call() -> ModelResponse:
            return await self.model.get_response(*args, **kwargs)

        return await DBOS.run_step_async({"name": MODEL_STEP}, call)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[TResponseStreamEvent]:
        raise HitlError("Streaming is not durable: use hitl_notebook.openai_agents.run.")


class _DurableProvider(ModelProvider):
    """The run's model provider, with each model it gives made durable."""

    def __init__(self, provider: ModelProvider) -> None:
        self.provider = provider

    def get_model(self, model_name: str | None) -> Model:
        model = self.provider.get_model(model_name)
        return model if isinstance(model, _DurableModel) else _DurableModel(model)

    async def aclose(self) -> None:
        await self.provider.aclose()
