"""Tool calls that wait for a person: ``hitl.approval_required``, and what the LLM adapters share.

An LLM (or the agent's own code) calls a tool; inside a run the call becomes an approval request
that shows the tool's name, its docstring and its arguments (the proposal, which a person may edit
where allowed). The request is bound to that exact call by a digest over the tool, the run, the
call's index in the run and the canonical JSON of the validated arguments: an answer given for
another digest is refused, and a replay that calls the tool with other arguments stops with
``ToolReplayError`` instead of running what nobody approved.

Approved, the tool runs as a durable step named ``tool:<name>:<digest>``, so a run that resumes
(after parking, a restart or a crash) reads its result back instead of running it again. Denied,
it raises ``ToolDenied`` or returns the denial for the model. A policy may decide first: its
verdict is stored like a person's decision (``by="policy"``, its reason as the comment), and a
replay reads the stored verdict.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import string
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar, cast, overload

from dbos import DBOS
from pydantic import BaseModel, ConfigDict, create_model

from hitl_notebook._agent.agent import Agent, typed_decision
from hitl_notebook._agent.program import decide_at_once
from hitl_notebook._agent.questions import OnTimeout, Question
from hitl_notebook._agent.workflow import running_agent
from hitl_notebook._core.errors import ToolDenied, ToolReplayError, denial_text
from hitl_notebook._core.models import Decision, Outcome, ToolCall
from hitl_notebook._core.notify import Notify
from hitl_notebook._core.sync_async import Program, run_async, run_sync
from hitl_notebook._core.times import Timeout
from hitl_notebook._core.values import check_text

__all__ = [
    "ApprovedTool",
    "OnDeny",
    "Policy",
    "ToolApproval",
    "ToolDecision",
    "Verdict",
    "approval_of",
    "approval_required",
    "arguments_model",
    "decide_tool_calls",
    "decide_tool_calls_async",
    "tool_digest",
    "tool_step_name",
]

F = TypeVar("F", bound=Callable[..., Any])

OnDeny = Literal["raise", "message"]
POLICY = "policy"
"""Who decided a call a policy decided (the decision's ``by`` and ``channel``)."""
TITLE_ARGUMENTS_WIDTH = 60


@dataclass(frozen=True)
class Verdict:
    """A policy's decision on a tool call, with the reason recorded beside it.

    >>> def small_refunds(args: Refund) -> hitl.Verdict | None:
    ...     if args.amount < 50:
    ...         return hitl.Verdict.approve("under 50: no review needed")
    ...     if args.amount > 10_000:
    ...         return hitl.Verdict.deny("over 10,000: refunds that large go through finance")
    ...     return None                              # a person decides
    """

    approved: bool
    reason: str

    def __post_init__(self) -> None:
        check_text(self.reason, "reason")
        if not self.reason.strip():
            raise ValueError("A verdict needs a reason: it is recorded as the decision's comment.")

    @classmethod
    def approve(cls, reason: str) -> Verdict:
        """Approve the call without asking anyone."""
        return cls(True, reason)

    @classmethod
    def deny(cls, reason: str) -> Verdict:
        """Deny the call without asking anyone; ``reason`` is what the model (or caller) reads."""
        return cls(False, reason)


Policy = Callable[[Any], "Verdict | bool | None"]
"""Decides a tool call before anyone is asked, from its validated arguments (an instance of the
tool's argument model): a ``Verdict``, ``True`` (approve), or ``None``/``False`` (ask a person)."""


@dataclass(frozen=True)
class ToolApproval:
    """How calls of one tool are approved: who is asked, what they see and may change, until
    when, and what a policy decides first. ``approval_required`` builds one from a function;
    the adapters build one per tool of an LLM framework."""

    name: str
    arguments: type[BaseModel]
    """The tool's arguments as a pydantic model (``extra="forbid"``): what is validated, shown,
    edited, and digested."""
    description: str | None = None
    title: str | None = None
    """A template over the arguments and ``{tool}`` (``"Refund {amount} to {order_id}?"``);
    default ``Run tool(arguments)?``."""
    body: str | None = None
    assignees: tuple[str, ...] = ()
    allow_requester: bool = True
    timeout: Timeout | None = None
    on_timeout: OnTimeout = "reject"
    editable: tuple[str, ...] | None = None
    """The arguments a person may change (None: all; empty: none)."""
    policy: Policy | None = None
    on_deny: OnDeny = "raise"
    notify: Notify | None = None
    """How the request reaches people away from the notebook (channels, reminders, escalation)."""
    _fields: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_text(self.name, "tool name")
        if self.on_deny not in ("raise", "message"):
            raise ValueError(f"on_deny must be 'raise' or 'message', not {self.on_deny!r}")
        fields = frozenset(self.arguments.model_fields)
        object.__setattr__(self, "_fields", fields)
        unknown = sorted(set(self.editable or ()) - fields)
        if unknown:
            raise ValueError(
                f"editable names {unknown}, which {self.name} does not take "
                f"(its arguments: {sorted(fields)})"
            )
        if self.title is not None:
            named = {name for _, name, _, _ in string.Formatter().parse(self.title) if name}
            if named - fields - {"tool"}:
                raise ValueError(
                    f"The title template names {sorted(named - fields - {'tool'})}: use the "
                    f"tool's arguments {sorted(fields)} or {{tool}}."
                )
        # Validate the options the question will carry, now rather than at the first call.
        Question.approval("check", timeout=self.timeout, on_timeout=self.on_timeout)

    def validate(self, arguments: Mapping[str, Any] | BaseModel) -> BaseModel:
        """The call's arguments checked against the tool's model (pydantic's ValidationError
        when they do not fit)."""
        raw = arguments.model_dump() if isinstance(arguments, BaseModel) else arguments
        return self.arguments.model_validate(raw)

    def verdict(self, arguments: BaseModel) -> Verdict | None:
        """What the policy decides for these arguments (None: ask a person)."""
        if self.policy is None:
            return None
        decided = self.policy(arguments)
        if isinstance(decided, Verdict):
            return decided
        if decided is True:
            return Verdict.approve(f"{_callable_name(self.policy)} approved it")
        if decided is False or decided is None:
            return None
        raise TypeError(
            f"The policy of {self.name} returned {decided!r}: return a hitl.Verdict, True "
            "(approve) or None (ask a person)."
        )

    def question(self, call: ToolCall, arguments: BaseModel) -> Question:
        """The approval request for one call: the arguments are the proposal."""
        values = {name: getattr(arguments, name) for name in self._fields}
        title = (
            self.title.format(tool=self.name, **values)
            if self.title is not None
            else f"Run {self.name}({_short(arguments)})?"
        )
        body = self.body if self.body is not None else self.description
        asked = Question.approval(
            title,
            body=body,
            proposal=arguments,
            timeout=self.timeout,
            on_timeout=self.on_timeout,
            assignees=self.assignees,
            key=f"tool{call.call_index}",
            allow_requester=self.allow_requester,
            notify=self.notify,
        )
        return replace(asked, tool=call)


@dataclass(frozen=True)
class ToolDecision:
    """What was decided for one tool call."""

    approval: ToolApproval
    decision: Decision
    arguments: BaseModel
    """What the tool runs with: the approved (possibly edited) arguments; the proposed ones when
    denied."""

    @property
    def approved(self) -> bool:
        """True when the tool may run (with ``arguments``)."""
        return bool(self.decision.approved)

    @property
    def edited(self) -> bool:
        """True when a person changed the arguments before approving."""
        return self.decision.outcome is Outcome.EDITED

    @property
    def digest(self) -> str:
        """The digest of the call the decision is bound to."""
        assert self.decision.digest is not None
        return self.decision.digest

    @property
    def step_name(self) -> str:
        """The name of the durable step the approved tool runs as."""
        return tool_step_name(self.approval.name, self.digest)

    @property
    def message(self) -> str:
        """For a denied call, what the model is told (the person's comment, or the timeout)."""
        return denial_text(
            self.approval.name, self.decision.by, self.decision.comment, self.decision.timed_out
        )

    def denied(self) -> ToolDenied:
        """The ``ToolDenied`` error of a denied call."""
        d = self.decision
        return ToolDenied(self.approval.name, d.request_id, d.by, d.comment, d.timed_out)


def tool_digest(name: str, run_id: str, call_index: int, arguments: BaseModel) -> str:
    """sha256 over the tool, the run, the call's index and the canonical JSON of the validated
    arguments (sorted keys, no spaces, UTF-8): ``120`` and ``120.0`` for a float digest alike."""
    canonical = json.dumps(
        arguments.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    text = f"{name}\n{run_id}\n{call_index}\n{canonical}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def tool_step_name(name: str, digest: str) -> str:
    """The durable step an approved call runs as (the digest in the name: a replay that reorders
    calls stops at the mismatch instead of reading another call's result)."""
    return f"tool:{name}:{digest[:12]}"


def decide_tool_calls(calls: Sequence[tuple[ToolApproval, BaseModel]]) -> list[ToolDecision]:
    """Decide tool calls of the running agent, together: each policy verdict is recorded at once,
    the rest are asked as one batch (each answerable on its own). ``calls`` are validated
    arguments (``ToolApproval.validate``)."""
    agent = running_agent("Deciding a tool call")
    return run_sync(_decide(agent, calls))


async def decide_tool_calls_async(
    calls: Sequence[tuple[ToolApproval, BaseModel]],
) -> list[ToolDecision]:
    """Awaitable twin of ``decide_tool_calls``."""
    agent = running_agent("Deciding a tool call")
    return await run_async(_decide(agent, calls))


def _decide(
    agent: Agent, calls: Sequence[tuple[ToolApproval, BaseModel]]
) -> Program[list[ToolDecision]]:
    drafts = []
    for approval, arguments in calls:
        index = agent._next_tool_call()
        digest = tool_digest(approval.name, agent.run_id, index, arguments)
        call = ToolCall(
            name=approval.name,
            description=approval.description,
            digest=digest,
            call_index=index,
            editable=list(approval.editable) if approval.editable is not None else None,
        )
        drafts.append((approval, arguments, approval.question(call, arguments)))
    decided: dict[int, Decision] = {}
    for position, (approval, arguments, question) in enumerate(drafts):
        verdict = approval.verdict(arguments)
        if verdict is not None:
            decision = yield from decide_at_once(
                agent._db,
                agent._request_fields(question),
                question.timeout,
                approve=verdict.approved,
                by=POLICY,
                reason=verdict.reason,
            )
            decided[position] = typed_decision(decision, approval.arguments)
    asked = [position for position in range(len(drafts)) if position not in decided]
    if asked:
        answered = yield from agent._ask_program([drafts[position][2] for position in asked])
        decided |= dict(zip(asked, answered, strict=True))
    results = []
    for position, (approval, arguments, question) in enumerate(drafts):
        decision = decided[position]
        assert question.tool is not None
        if decision.digest != question.tool.digest:
            raise ToolReplayError(decision.request_id, approval.name)
        runs_with = (
            decision.value if decision.approved and decision.value is not None else arguments
        )
        results.append(ToolDecision(approval, decision, approval.validate(runs_with)))
    return results


@overload
def approval_required(fn: F, /) -> F: ...


@overload
def approval_required(
    *,
    title: str | None = None,
    body: str | None = None,
    assignees: Sequence[str] = (),
    allow_requester: bool = True,
    timeout: Timeout | None = None,
    on_timeout: OnTimeout = "reject",
    editable: Sequence[str] | None = None,
    policy: Policy | None = None,
    on_deny: OnDeny = "raise",
    notify: Notify | None = None,
) -> Callable[[F], F]: ...


def approval_required(
    fn: F | None = None,
    /,
    *,
    title: str | None = None,
    body: str | None = None,
    assignees: Sequence[str] = (),
    allow_requester: bool = True,
    timeout: Timeout | None = None,
    on_timeout: OnTimeout = "reject",
    editable: Sequence[str] | None = None,
    policy: Policy | None = None,
    on_deny: OnDeny = "raise",
    notify: Notify | None = None,
) -> F | Callable[[F], F]:
    """Make a function (sync or async) a tool that a person approves, call by call.

    >>> @hitl.approval_required(title="Refund {amount} on order {order_id}?", editable=["amount"],
    ...                         assignees=["finance"], timeout="4h",
    ...                         policy=lambda args: args.amount < 50)
    ... def refund(order_id: str, amount: float) -> str:
    ...     '''Refund part of an order to the customer's card.'''
    ...     return payments.refund(order_id, amount, idempotency_key=hitl.step_key())

    Called inside a run, ``refund("A-1", 120.0)`` validates the arguments against the signature,
    asks one approval request (unless the policy decides) and waits durably. Approved, the tool
    runs as a durable step with the approved, possibly edited, arguments and its result is
    returned; denied (or at the deadline, with ``on_timeout="reject"``), it raises ``ToolDenied``
    carrying the comment, or with ``on_deny="message"`` returns the denial text for the model.

    ``editable``: the arguments a person may change (default all; ``[]`` none). ``policy``: a
    callable given the validated arguments that returns ``hitl.Verdict.approve/deny(reason)``,
    ``True`` (approve) or ``None`` (ask a person); its verdict is recorded with ``by="policy"``.
    ``assignees``, ``allow_requester``, ``timeout``, ``on_timeout`` and ``notify`` are as for
    ``request_approval``.

    Outside a run a call raises ``HitlError``; ``hitl.approval_of(refund).fn`` is the plain function.
    """

    def decorate(function: F) -> F:
        approval = ToolApproval(
            name=function.__name__,
            arguments=arguments_model(function),
            description=inspect.getdoc(function),
            title=title,
            body=body,
            assignees=tuple(assignees),
            allow_requester=allow_requester,
            timeout=timeout,
            on_timeout=on_timeout,
            editable=tuple(editable) if editable is not None else None,
            policy=policy,
            on_deny=on_deny,
            notify=notify,
        )
        return _gated(function, ApprovedTool(function, approval))

    return decorate if fn is None else decorate(fn)


def approval_of(tool: Callable[..., Any]) -> ApprovedTool:
    """The approval settings and the plain function of a tool made by ``approval_required``."""
    found = getattr(tool, "__hitl_approval__", None)
    if not isinstance(found, ApprovedTool):
        raise TypeError(f"{tool!r} is not a tool made by hitl.approval_required.")
    return found


@dataclass(frozen=True)
class ApprovedTool:
    """A tool function and how its calls are approved."""

    fn: Callable[..., Any]
    """The plain function: calling it runs the tool with no approval and no step."""
    approval: ToolApproval

    def bind(self, *args: Any, **kwargs: Any) -> BaseModel:
        """The call's arguments, validated against the tool's model."""
        try:
            bound = inspect.signature(self.fn).bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{self.approval.name}(): {error}") from None
        return self.approval.validate(bound.arguments)

    def outcome(self, decided: ToolDecision) -> Any:
        """What a denied call gives back: the denial text, or ``ToolDenied`` raised."""
        if self.approval.on_deny == "message":
            return decided.message
        raise decided.denied()


def _gated(function: F, tool: ApprovedTool) -> F:
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def call_async(*args: Any, **kwargs: Any) -> Any:
            arguments = tool.bind(*args, **kwargs)
            (decided,) = await decide_tool_calls_async([(tool.approval, arguments)])
            if not decided.approved:
                return tool.outcome(decided)
            return await DBOS.run_step_async(
                {"name": decided.step_name}, function, **_keywords(decided.arguments)
            )

        gated: Any = call_async
    else:

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            arguments = tool.bind(*args, **kwargs)
            (decided,) = decide_tool_calls([(tool.approval, arguments)])
            if not decided.approved:
                return tool.outcome(decided)
            return DBOS.run_step(
                {"name": decided.step_name}, function, **_keywords(decided.arguments)
            )

        gated = call
    gated.__hitl_approval__ = tool
    # The store validates an edit with the model itself where ``module:qualname`` resolves.
    gated.Args = tool.approval.arguments
    return cast("F", gated)


def arguments_model(function: Callable[..., Any]) -> type[BaseModel]:
    """A pydantic model of a function's parameters (``extra="forbid"``), found by the store at
    ``<module>:<function qualname>.Args`` (where the function is reachable from its module)."""
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except NameError as error:
        raise TypeError(
            f"{function.__name__}: its annotations must resolve to validate its arguments "
            f"({error})."
        ) from None
    fields: dict[str, Any] = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
            inspect.Parameter.POSITIONAL_ONLY,
        ):
            raise TypeError(
                f"{function.__name__}: a tool that needs approval takes named parameters only "
                f"(not {parameter}), so that a person sees and edits each one."
            )
        annotation = hints.get(parameter.name, Any)
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[parameter.name] = (annotation, default)
    model = create_model(
        f"{function.__name__}_arguments",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    model.__module__ = function.__module__
    model.__qualname__ = f"{function.__qualname__}.Args"
    return cast("type[BaseModel]", model)


def _keywords(arguments: BaseModel) -> dict[str, Any]:
    return {name: getattr(arguments, name) for name in type(arguments).model_fields}


def _short(arguments: BaseModel) -> str:
    text = ", ".join(
        f"{name}={json.dumps(value, ensure_ascii=False)}"
        for name, value in arguments.model_dump(mode="json").items()
    )
    if len(text) > TITLE_ARGUMENTS_WIDTH:
        return text[: TITLE_ARGUMENTS_WIDTH - 1] + "…"
    return text


def _callable_name(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__name__", "")
    return "the policy" if not name or name == "<lambda>" else f"policy {name}"
