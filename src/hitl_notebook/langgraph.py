"""LangGraph / LangChain agents inside a hitl run: their tool approvals answered in hitl's inbox.

Needs the extra: ``pip install "hitl-notebook[langgraph]"`` (langgraph and langchain; importing
this module without them fails).

>>> from langchain.agents import create_agent
>>> from langchain.agents.middleware import HumanInTheLoopMiddleware
>>> from hitl_notebook import langgraph as hitl_langgraph
>>>
>>> bot = create_agent(model, tools=[refund, lookup], middleware=[
...     HumanInTheLoopMiddleware({"refund": True}),   # asks before refund runs
...     hitl_langgraph.DBOSSteps(),                   # after it: model and tool calls are steps
... ])
>>>
>>> class Support(hitl.Agent):
...     async def run(self, prompt: str) -> str:
...         out = await hitl_langgraph.run(bot, {"messages": [("user", prompt)]}, approvals={
...             "refund": hitl_langgraph.approval_for(refund, editable=["amount"],
...                                                   policy=lambda a: a.amount < 50)})
...         return out["messages"][-1].content

``run`` invokes the agent; each time it stops on interrupts, their tool calls become hitl approval
requests, asked together (one batch per stop, each answerable on its own; a policy decides first
and is recorded with ``by="policy"``), and the agent resumes with the decisions: approved,
edited (the tool runs with the approved arguments), or denied (the model reads the comment).
Three interrupt shapes are understood:

- ``HumanInTheLoopMiddleware`` in ``"batched"`` mode (``HITLRequest``: ``action_requests``) and
  ``"per_call"`` mode (``ToolApprovalRequest``), resumed with approve / edit / reject decisions;
- the Agent Inbox shape: a tool or node calls ``interrupt([{"action_request": {"action": name,
  "args": {...}}, "config": {"allow_accept": .., "allow_edit": .., "allow_respond": ..,
  "allow_ignore": ..}, "description": ..}])`` (or with the dict alone) and gets back a list of (or
  one) ``{"type": "accept" | "edit" | "response" | "ignore", "args": ..}``: accept, edit with
  ``{"action", "args"}``, and a denial as ``response`` with the comment (``ignore`` where
  responding is not allowed). On resume LangGraph runs that tool or node again **from its top**:
  code before ``interrupt()`` runs once more each time, so keep side effects after it, in a
  durable step (``DBOS.run_step_async``), and list the tool in ``DBOSSteps(interrupting=...)``.

Durability: ``DBOSSteps`` makes every model call a step named ``langchain.model`` and every tool
call a step named ``tool:<name>:<digest>`` (an approved call's digest is its decision's), so a
run that resumes after parking, a restart or a crash reads them back: the model is not called
again and a tool never runs twice. ``run`` gives the agent a fresh in-memory checkpointer on each
execution (DBOS is the record; a persistent checkpointer would see the prompt twice on replay).
LangGraph starts a turn's tool calls together; their steps are numbered in the order they start,
and the digest in each step's name stops a replay that would read another call's result.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from dbos import DBOS
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from hitl_notebook._agent.tools import (
    ApprovedTool,
    ToolApproval,
    ToolDecision,
    approval_of,
    decide_tool_calls_async,
    tool_step_name,
)
from hitl_notebook._agent.workflow import running_agent
from hitl_notebook._core.errors import HitlError
from hitl_notebook._core.extras import extra_required

with extra_required(
    "hitl_notebook.langgraph",
    "LangGraph",
    "langgraph",
    "langchain",
    "langchain_core",
    "langgraph",
):
    from langchain.agents.middleware import AgentMiddleware
    from langchain.agents.middleware.types import ModelRequest, ModelResponse
    from langchain_core.messages import AIMessage, ToolMessage
    from langchain_core.tools import BaseTool
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.errors import GraphBubbleUp
    from langgraph.prebuilt import ToolNode
    from langgraph.prebuilt.tool_node import ToolCallRequest
    from langgraph.pregel import Pregel
    from langgraph.types import Command, Interrupt


__all__ = ["DBOSSteps", "ToolCallStepError", "approval_for", "as_tool", "run"]

MODEL_STEP = "langchain.model"
"""The name of the durable step each model call runs as (persisted: do not rename)."""

ApprovalSpec = ToolApproval | BaseTool | Callable[..., Any]
"""What ``approvals`` maps a tool name to: a ``ToolApproval``, a LangChain tool (approved with
its argument schema) or a function made by ``hitl.approval_required``."""

_steps: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "hitl_langgraph_steps", default=None
)
"""While ``run`` drives an agent: the step name of each decided tool call, by tool call id."""


class ToolCallStepError(HitlError):
    """A tool called ``interrupt()`` inside the durable step ``DBOSSteps`` runs it in."""


class DBOSSteps(AgentMiddleware):
    """Middleware that runs model calls and tool calls as DBOS steps (async agents only).

    List it after ``HumanInTheLoopMiddleware`` so that a tool's step runs the call as edited.
    ``interrupting``: tools whose body calls ``interrupt()`` itself (the Agent Inbox shape);
    they run outside a step, since a step may not stop for an interrupt.
    """

    def __init__(self, interrupting: Sequence[str] = ()) -> None:
        super().__init__()
        self.interrupting = frozenset(interrupting)

    async def awrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], Awaitable[ModelResponse]],
    ) -> ModelResponse:
        async def call() -> ModelResponse:
            return await handler(request)

        return await DBOS.run_step_async({"name": MODEL_STEP}, call)

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        tool_call = request.tool_call
        if tool_call["name"] in self.interrupting:
            return await handler(request)

        async def call() -> ToolMessage | Command[Any]:
            try:
                return await handler(request)
            except GraphBubbleUp:
                raise ToolCallStepError(
                    f"The tool {tool_call['name']} called interrupt() inside its durable step: "
                    f"list it in DBOSSteps(interrupting=[{tool_call['name']!r}]) and put its side "
                    "effects in a step after the interrupt."
                ) from None

        return await DBOS.run_step_async({"name": _step_name(tool_call)}, call)


def _step_name(tool_call: Mapping[str, Any]) -> str:
    """A decided call's step is named by its decision's digest; any other by a digest over the
    tool, the run, the call's id and its arguments as given."""
    decided = _steps.get() or {}
    call_id = tool_call.get("id") or ""
    if call_id in decided:
        return decided[call_id]
    canonical = json.dumps(
        tool_call["args"], sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    text = f"{tool_call['name']}\n{DBOS.workflow_id}\n{call_id}\n{canonical}"
    return tool_step_name(tool_call["name"], hashlib.sha256(text.encode()).hexdigest())


def approval_for(tool: BaseTool, **options: Any) -> ToolApproval:
    """A ``ToolApproval`` for a LangChain tool: its name, description and argument schema (the
    edit form; arguments it does not declare are refused), with ``ToolApproval``'s options
    (``title``, ``assignees``, ``timeout``, ``editable``, ``policy``...)."""
    return ToolApproval(
        name=tool.name,
        arguments=_arguments_model(tool),
        description=tool.description or None,
        **options,
    )


def _arguments_model(tool: BaseTool) -> type[BaseModel]:
    """The tool's arguments as the model sees them, refusing names it does not declare: its own
    ``args_schema`` where that is a pydantic model of exactly those arguments (validators and
    all), else a model built from the fields of its ``tool_call_schema``."""
    schema = tool.tool_call_schema
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        raise TypeError(
            f"The tool {tool.name} describes its arguments with a JSON schema, not a pydantic "
            "model: give run() a hitl.ToolApproval for it."
        )
    declared = tool.args_schema
    if (
        isinstance(declared, type)
        and issubclass(declared, BaseModel)
        and declared.model_fields.keys() == schema.model_fields.keys()
    ):
        if declared.model_config.get("extra") == "forbid":
            return declared
        strict = cast(
            "type[BaseModel]",
            type(declared.__name__, (declared,), {"model_config": ConfigDict(extra="forbid")}),
        )
        # The store validates an edit with the class at module:qualname, where it resolves:
        # the declared one (the same fields and validators; unknown names fail its JSON schema).
        strict.__module__, strict.__qualname__ = declared.__module__, declared.__qualname__
        return strict
    # LangChain's generated schemas publish a JSON schema of their own: build a plain model.
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in schema.model_fields.items()
    }
    return cast(
        "type[BaseModel]",
        create_model(
            schema.__name__,
            __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True),
            __doc__=schema.__doc__,
            **fields,
        ),
    )


def as_tool(fn: Callable[..., Any]) -> BaseTool:
    """A LangChain tool running the plain function of a tool made by ``hitl.approval_required``
    (its approval comes from ``run``; the function is not asked twice)."""
    from langchain_core.tools import StructuredTool  # noqa: PLC0415 - one class, here only

    approved = approval_of(fn)
    return StructuredTool.from_function(
        func=approved.fn,
        name=approved.approval.name,
        description=approved.approval.description or approved.approval.name,
        args_schema=approved.approval.arguments,
    )


async def run(
    agent: Pregel,  # type: ignore[type-arg]
    input: Any,
    *,
    approvals: Mapping[str, ApprovalSpec] | None = None,
    config: Mapping[str, Any] | None = None,
) -> Any:
    """Run a LangGraph graph (``create_agent`` or your own) in the running async hitl agent,
    answering its interrupts through hitl's inbox; returns the graph's final value.

    ``approvals`` maps a tool (or action) name to its ``ToolApproval``, LangChain tool or
    ``hitl.approval_required`` function; a tool of the graph that is not named is approved with
    its own argument schema (``approval_for``). Arguments that do not fit the schema reach no one:
    the call is refused with the errors, for the model to read.
    """
    running_agent("hitl_notebook.langgraph.run")
    tools = _graph_tools(agent)
    table = _Approvals(tools, dict(approvals or {}))
    fresh = agent.copy(update={"checkpointer": InMemorySaver()})
    configurable = dict((config or {}).get("configurable", {}))
    configurable.setdefault("thread_id", DBOS.workflow_id)
    settings = {**(config or {}), "configurable": configurable}
    decided_steps: dict[str, str] = {}
    token = _steps.set(decided_steps)
    try:
        out = await fresh.ainvoke(input, settings, version="v2")  # type: ignore[call-overload]
        while out.interrupts:
            stops = [
                await _Stop.read(interrupt, table, fresh, settings) for interrupt in out.interrupts
            ]
            calls = [call for stop in stops for call in stop.calls if call.arguments is not None]
            decisions = await decide_tool_calls_async(
                [(call.approval, call.arguments) for call in calls if call.arguments is not None]
            )
            for call, decision in zip(calls, decisions, strict=True):
                call.decision = decision
                if call.tool_call_id:
                    decided_steps[call.tool_call_id] = decision.step_name
            resume = {stop.interrupt.id: stop.resume() for stop in stops}
            out = await fresh.ainvoke(  # type: ignore[call-overload]
                Command(resume=resume), settings, version="v2"
            )
        return out.value
    finally:
        _steps.reset(token)


def _graph_tools(agent: Pregel) -> dict[str, BaseTool]:  # type: ignore[type-arg]
    found: dict[str, BaseTool] = {}
    for node in agent.nodes.values():
        if isinstance(node.bound, ToolNode):
            found |= node.bound.tools_by_name
    return found


class _Approvals:
    """The ``ToolApproval`` of each tool name, built once per ``run``."""

    def __init__(self, tools: dict[str, BaseTool], given: dict[str, ApprovalSpec]) -> None:
        self._tools = tools
        self._given = given
        self._built: dict[str, ToolApproval] = {}

    def __getitem__(self, name: str) -> ToolApproval:
        if name not in self._built:
            self._built[name] = self._build(name)
        return self._built[name]

    def _build(self, name: str) -> ToolApproval:
        spec = self._given.get(name) or self._tools.get(name)
        if spec is None:
            raise HitlError(
                f"Nothing says how to approve {name!r}: give run() approvals={{{name!r}: "
                "hitl.ToolApproval(...)}} (or a LangChain tool or a hitl.approval_required "
                "function)."
            )
        if isinstance(spec, ToolApproval):
            return spec
        if isinstance(spec, BaseTool):
            return approval_for(spec)
        found = getattr(spec, "__hitl_approval__", None)
        if isinstance(found, ApprovedTool):
            return found.approval
        raise TypeError(
            f"approvals[{name!r}] is {spec!r}: give a hitl.ToolApproval, a LangChain tool or a "
            "function made by hitl.approval_required."
        )


@dataclass
class _Call:
    """One tool call of an interrupt, and what was decided for it."""

    name: str
    approval: ToolApproval
    arguments: BaseModel | None
    """The validated arguments (None when they do not fit: refused without asking)."""
    problem: str = ""
    tool_call_id: str | None = None
    decision: ToolDecision | None = None

    @classmethod
    def of(
        cls,
        table: _Approvals,
        name: str,
        args: Any,
        *,
        editable: bool,
        description: str | None = None,
        tool_call_id: str | None = None,
    ) -> _Call:
        approval = table[name]
        if not editable:
            approval = replace(approval, editable=())
        if description and approval.body is None:
            approval = replace(approval, body=description)
        try:
            arguments: BaseModel | None = approval.validate(args or {})
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in error.errors()
            )
            return cls(name, approval, None, f"Invalid arguments for {name}: {problems}")
        return cls(name, approval, arguments, tool_call_id=tool_call_id)

    @property
    def edited_args(self) -> dict[str, Any]:
        assert self.decision is not None
        return self.decision.arguments.model_dump(mode="json")

    def langchain_decision(self, allowed: Sequence[str]) -> dict[str, Any]:
        """The ``HumanInTheLoopMiddleware`` decision."""
        d = self.decision
        if d is None:
            return {"type": "reject", "message": self.problem}
        if d.approved and (d.edited or "approve" not in allowed):
            return {"type": "edit", "edited_action": {"name": self.name, "args": self.edited_args}}
        if d.approved:
            return {"type": "approve"}
        if "reject" not in allowed and "respond" in allowed:
            return {"type": "respond", "message": d.message}
        return {"type": "reject", "message": d.message}

    def inbox_response(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The Agent Inbox ``HumanResponse``."""
        d = self.decision
        message = self.problem if d is None else d.message
        if d is not None and d.approved:
            if d.edited or not config.get("allow_accept", True):
                return {"type": "edit", "args": {"action": self.name, "args": self.edited_args}}
            return {"type": "accept", "args": None}
        if config.get("allow_respond", True) or not config.get("allow_ignore", False):
            return {"type": "response", "args": message}
        return {"type": "ignore", "args": None}


@dataclass
class _Stop:
    """One interrupt: its tool calls and how to resume it."""

    interrupt: Interrupt
    calls: list[_Call]
    resume: Callable[[], Any]

    @classmethod
    async def read(
        cls,
        interrupt: Interrupt,
        table: _Approvals,
        graph: Pregel,  # type: ignore[type-arg]
        settings: Mapping[str, Any],
    ) -> _Stop:
        value = interrupt.value
        if isinstance(value, Mapping) and "action_requests" in value:
            return await cls._batched(interrupt, table, graph, settings)
        if isinstance(value, Mapping) and value.get("type") == "tool_approval":
            return cls._per_call(interrupt, table)
        items = value if isinstance(value, list) else [value]
        if items and all(isinstance(i, Mapping) and "action_request" in i for i in items):
            return cls._inbox(interrupt, table, listed=isinstance(value, list))
        raise HitlError(
            "The graph stopped on an interrupt hitl cannot answer: its value is neither "
            "HumanInTheLoopMiddleware's request nor the Agent Inbox shape "
            f"({{'action_request': ..., 'config': ...}}): {value!r}"
        )

    @classmethod
    async def _batched(
        cls,
        interrupt: Interrupt,
        table: _Approvals,
        graph: Pregel,  # type: ignore[type-arg]
        settings: Mapping[str, Any],
    ) -> _Stop:
        actions = interrupt.value["action_requests"]
        configs = interrupt.value.get("review_configs") or []
        allowed = {c["action_name"]: c["allowed_decisions"] for c in configs}
        ids = await _tool_call_ids(graph, settings, actions)
        calls = [
            _Call.of(
                table,
                a["name"],
                a["args"],
                editable="edit" in allowed.get(a["name"], ("edit",)),
                tool_call_id=call_id,
            )
            for a, call_id in zip(actions, ids, strict=True)
        ]

        def resume() -> dict[str, Any]:
            return {
                "decisions": [
                    call.langchain_decision(allowed.get(call.name, ("approve", "edit", "reject")))
                    for call in calls
                ]
            }

        return cls(interrupt, calls, resume)

    @classmethod
    def _per_call(cls, interrupt: Interrupt, table: _Approvals) -> _Stop:
        value = interrupt.value
        call = _Call.of(table, value["name"], value["args"], editable=True)
        call.tool_call_id = value.get("tool_call_id")
        return cls(
            interrupt, [call], lambda: call.langchain_decision(("approve", "edit", "reject"))
        )

    @classmethod
    def _inbox(cls, interrupt: Interrupt, table: _Approvals, *, listed: bool) -> _Stop:
        items = interrupt.value if listed else [interrupt.value]
        calls = [
            _Call.of(
                table,
                item["action_request"]["action"],
                item["action_request"].get("args"),
                editable=bool((item.get("config") or {}).get("allow_edit", True)),
                description=item.get("description"),
            )
            for item in items
        ]

        def resume() -> Any:
            answers = [
                call.inbox_response(item.get("config") or {})
                for call, item in zip(calls, items, strict=True)
            ]
            return answers if listed else answers[0]

        return cls(interrupt, calls, resume)


async def _tool_call_ids(
    graph: Pregel,  # type: ignore[type-arg]
    settings: Mapping[str, Any],
    actions: Sequence[Mapping[str, Any]],
) -> list[str | None]:
    """The tool call ids of a batched request's actions: the last model message's calls, matched
    in order by name and arguments (the request does not carry them)."""
    state = await graph.aget_state(settings)  # type: ignore[arg-type]
    messages = state.values.get("messages", []) if isinstance(state.values, dict) else []
    last = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
    pending = list(last.tool_calls) if last is not None else []
    ids: list[str | None] = []
    for action in actions:
        found = next(
            (
                i
                for i, c in enumerate(pending)
                if c["name"] == action["name"] and c["args"] == action["args"]
            ),
            None,
        )
        ids.append(pending[found].get("id") if found is not None else None)
        if found is not None:
            pending = pending[found + 1 :]
    return ids
