"""A LangChain agent hosted in a hitl run (hitl_notebook.langgraph): its tool calls are approved in
hitl's inbox, on SQLite and Postgres.

The chat model is a stateless fake: its reply depends on the messages only (the user's prompt
scripts the tool calls of each turn; after the last turn it repeats what the tools returned).
Real model calls and tool side effects are counted in module-level lists, outside the database.
"""

from __future__ import annotations

import json
from typing import Any, TypedDict

import pytest
from dbos import DBOS
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from pydantic import BaseModel, ConfigDict, Field

import hitl_notebook as hitl
from hitl_notebook import langgraph as hitl_langgraph
from hitl_notebook import testing
from hitl_notebook._core.models import Reply

MODEL_CALLS: list[int] = []
"""One entry per real model call (the number of messages it was given)."""
REFUNDS: list[tuple[str, float]] = []
"""One entry per refund a tool really made."""
ENTERED: list[tuple[str, float]] = []
"""One entry each time the Agent Inbox tool's body starts (it re-runs from its top on resume)."""


@pytest.fixture(autouse=True)
def _counters() -> None:
    for counter in (MODEL_CALLS, REFUNDS, ENTERED):
        counter.clear()


class ScriptedChat(GenericFakeChatModel):
    """Stateless: the prompt is JSON, a list of turns, each a list of [tool, args]. Turn n (the
    number of model replies so far) calls its tools; after the last, the model says what the
    tools returned, one line each."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChat:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        MODEL_CALLS.append(len(messages))
        prompt = next(m for m in messages if isinstance(m, HumanMessage))
        turns = json.loads(str(prompt.content))
        turn = sum(isinstance(m, AIMessage) for m in messages)
        if turn < len(turns):
            calls = [
                {"name": name, "args": args, "id": f"call-{turn}-{i}"}
                for i, (name, args) in enumerate(turns[turn])
            ]
            message = AIMessage("", tool_calls=calls)
        else:
            results = [str(m.content) for m in messages if isinstance(m, ToolMessage)]
            message = AIMessage("\n".join(results))
        return ChatResult(generations=[ChatGeneration(message=message)])


class RefundArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str
    amount: float = Field(gt=0, le=1000)


@tool(args_schema=RefundArgs)
def refund(order_id: str, amount: float) -> str:
    """Refund part of an order to the customer's card."""
    REFUNDS.append((order_id, amount))
    return f"refunded {amount} on {order_id}"


@tool
def lookup(order_id: str) -> str:
    """Look an order up (needs no approval)."""
    return f"order {order_id}: 3 items"


def small_or_huge(args: RefundArgs) -> hitl.Verdict | None:
    if args.amount < 50:
        return hitl.Verdict.approve("under 50: no review needed")
    if args.amount > 900:
        return hitl.Verdict.deny("over 900: refunds that large go through finance")
    return None


BOT = create_agent(
    ScriptedChat(messages=iter([])),
    tools=[refund, lookup],
    middleware=[HumanInTheLoopMiddleware({"refund": True}), hitl_langgraph.DBOSSteps()],
)
APPROVALS = {"refund": hitl_langgraph.approval_for(refund, policy=small_or_huge)}


PER_CALL_BOT = create_agent(
    ScriptedChat(messages=iter([])),
    tools=[refund, lookup],
    middleware=[
        HumanInTheLoopMiddleware({"refund": True}, interrupt_mode="per_call"),
        hitl_langgraph.DBOSSteps(),
    ],
)


class LangBot(hitl.Agent):
    async def run(self, prompt: str, per_call: bool = False) -> str:
        bot = PER_CALL_BOT if per_call else BOT
        out = await hitl_langgraph.run(bot, {"messages": [("user", prompt)]}, approvals=APPROVALS)
        return str(out["messages"][-1].content)


@tool
async def careful_refund(order_id: str, amount: float) -> str:
    """Refund an order after a reviewer says so (Agent Inbox shape)."""
    ENTERED.append((order_id, amount))
    (response,) = interrupt(
        [
            {
                "action_request": {
                    "action": "careful_refund",
                    "args": {"order_id": order_id, "amount": amount},
                },
                "config": {
                    "allow_accept": True,
                    "allow_edit": True,
                    "allow_respond": True,
                    "allow_ignore": True,
                },
                "description": "A customer asked for this refund.",
            }
        ]
    )
    if response["type"] == "edit":
        order_id, amount = response["args"]["args"]["order_id"], response["args"]["args"]["amount"]
    elif response["type"] == "response":
        return f"not refunded: {response['args']}"
    elif response["type"] == "ignore":
        return "not refunded"

    def pay() -> str:
        REFUNDS.append((order_id, amount))
        return f"refunded {amount} on {order_id}"

    return await DBOS.run_step_async({"name": "pay"}, pay)


INBOX_BOT = create_agent(
    ScriptedChat(messages=iter([])),
    tools=[careful_refund],
    middleware=[hitl_langgraph.DBOSSteps(interrupting=["careful_refund"])],
)


class InboxBot(hitl.Agent):
    async def run(self, prompt: str) -> str:
        out = await hitl_langgraph.run(INBOX_BOT, {"messages": [("user", prompt)]})
        return str(out["messages"][-1].content)


def script(*turns: list[tuple[str, dict[str, Any]]]) -> str:
    return json.dumps([[list(call) for call in turn] for turn in turns])


A1 = ("refund", {"order_id": "A-1", "amount": 120})


def step_names(run_id: str) -> list[str]:
    return [s["function_name"] for s in DBOS.list_workflow_steps(run_id)]


@pytest.mark.usefixtures("runtime")
def test_approve_runs_the_tool_once_and_the_model_reads_its_result() -> None:
    run = LangBot.start(script([A1]))
    request = testing.wait_for_request(run)
    assert request.tool is not None
    assert (request.tool.name, request.proposal) == ("refund", {"order_id": "A-1", "amount": 120.0})
    assert request.body == "Refund part of an order to the customer's card."
    assert len(MODEL_CALLS) == 1
    stale = Reply(approve=True, by="alice", channel="python", digest="0" * 64)
    with pytest.raises(hitl.StaleAnswerError):
        hitl.store().answer(request.request_id, stale)
    assert request.tool.digest is not None
    fresh = Reply(approve=True, by="alice", channel="python", digest=request.tool.digest)
    hitl.store().answer(request.request_id, fresh)
    assert run.result(timeout=60) == "refunded 120.0 on A-1"
    assert REFUNDS == [("A-1", 120.0)]
    assert len(MODEL_CALLS) == 2
    (decision,) = run.decisions()
    assert (decision.outcome, decision.by, decision.tool) == ("approved", "alice", "refund")
    assert decision.digest is not None
    assert hitl_langgraph.MODEL_STEP in step_names(run.id)
    assert f"tool:refund:{decision.digest[:12]}" in step_names(run.id)


@pytest.mark.usefixtures("runtime")
def test_an_invalid_edit_is_refused_and_a_valid_one_runs_the_tool_with_it() -> None:
    run = LangBot.start(script([A1]))
    request = testing.wait_for_request(run)
    for bad in ({"order_id": "A-1", "amount": 5000}, {"order_id": "A-1", "amount": 99, "x": 1}):
        with pytest.raises(hitl.InvalidAnswerError):
            hitl.respond(request.request_id, approve=True, value=bad, by="alice")
    assert [r.request_id for r in run.requests(open_only=True)] == [request.request_id]
    assert run.status is not None and run.status.status == "waiting"
    hitl.respond(
        request.request_id, approve=True, value={"order_id": "A-1", "amount": 99}, by="alice"
    )
    reply = run.result(timeout=60)
    assert reply.endswith("refunded 99.0 on A-1")
    assert "Executed instead: refund" in reply  # LangChain's notice: the model learns of the edit
    assert REFUNDS == [("A-1", 99.0)]
    (decision,) = hitl.decisions(run.id).to_dict("records")
    assert decision["outcome"] == "edited"
    assert (json.loads(decision["proposal"]), json.loads(decision["value"])) == (
        {"order_id": "A-1", "amount": 120.0},
        {"order_id": "A-1", "amount": 99.0},
    )


@pytest.mark.usefixtures("runtime")
def test_a_denial_reaches_the_model_with_the_comment_and_the_tool_never_runs() -> None:
    run = LangBot.start(script([A1]))
    request = testing.wait_for_request(run)
    hitl.respond(request.request_id, approve=False, by="bob", comment="order already refunded")
    reply = run.result(timeout=60)
    assert "order already refunded" in reply
    assert reply.startswith("User rejected the tool call for `refund`")
    assert REFUNDS == []
    assert not any(name.startswith("tool:") for name in step_names(run.id))


@pytest.mark.usefixtures("runtime")
@pytest.mark.parametrize("per_call", [False, True], ids=["batched", "per_call"])
def test_policies_decide_first_and_the_rest_of_a_turn_is_asked_together(per_call: bool) -> None:
    """One turn: a small refund (policy approves), a huge one (policy denies), a middling one
    (asked), and a lookup no one needs to approve; with HumanInTheLoopMiddleware in either
    mode (one interrupt per turn, or one per call: still one batch of hitl requests)."""
    turn = [
        ("refund", {"order_id": "S-1", "amount": 20}),
        ("refund", {"order_id": "H-1", "amount": 950}),
        ("lookup", {"order_id": "M-1"}),
        ("refund", {"order_id": "M-1", "amount": 300}),
    ]
    run = LangBot.start(script(turn), per_call)
    request = testing.wait_for_request(run)
    assert [r.proposal for r in run.requests()] == [
        {"order_id": "S-1", "amount": 20.0},
        {"order_id": "H-1", "amount": 950.0},
        {"order_id": "M-1", "amount": 300.0},
    ]
    assert request.proposal == {"order_id": "M-1", "amount": 300.0}
    assert [r.request_id for r in run.requests(open_only=True)] == [request.request_id]
    hitl.respond(request.request_id, approve=True, by="carol")
    reply = run.result(timeout=60)
    assert sorted(reply.splitlines()) == sorted(
        [
            "refunded 20.0 on S-1",
            "User rejected the tool call for `refund` with reason: The call to refund was "
            "denied by policy: over 900: refunds that large go through finance",
            "order M-1: 3 items",
            "refunded 300.0 on M-1",
        ]
    )
    assert sorted(REFUNDS) == [("M-1", 300.0), ("S-1", 20.0)]
    frame = hitl.decisions(run.id)
    rows = {json.loads(r["proposal"])["order_id"]: r for r in frame.to_dict("records")}
    assert (rows["S-1"]["by"], rows["S-1"]["outcome"]) == ("policy", "approved")
    assert rows["S-1"]["comment"] == "under 50: no review needed"
    assert (rows["H-1"]["by"], rows["H-1"]["outcome"]) == ("policy", "rejected")
    assert (rows["M-1"]["by"], rows["M-1"]["tool"]) == ("carol", "refund")
    assert len(MODEL_CALLS) == 2


@pytest.mark.usefixtures("runtime")
def test_arguments_that_do_not_fit_reach_no_one_and_the_model_reads_why() -> None:
    run = LangBot.start(script([("refund", {"order_id": "A-1", "amount": "lots"})]))
    reply = run.result(timeout=60)
    assert "Invalid arguments for refund: amount: Input should be a valid number" in reply
    assert run.requests() == []
    assert REFUNDS == []


@pytest.mark.usefixtures("runtime")
def test_a_second_identical_call_in_the_same_run_asks_again() -> None:
    run = LangBot.start(script([A1], [A1]))
    first = testing.wait_for_request(run)
    hitl.respond(first.request_id, approve=True, by="alice")
    second = testing.wait_until(
        lambda: next(
            (r for r in run.requests(open_only=True) if r.request_id != first.request_id), None
        ),
        timeout=60,
        message="the second call's own request",
    )
    assert second.proposal == first.proposal
    assert second.tool is not None and first.tool is not None
    assert second.tool.digest != first.tool.digest
    hitl.respond(second.request_id, approve=True, by="alice")
    assert run.result(timeout=60).splitlines() == ["refunded 120.0 on A-1"] * 2
    assert REFUNDS == [("A-1", 120.0)] * 2
    assert len(MODEL_CALLS) == 3


def test_a_restart_asks_nothing_new_calls_the_model_once_and_runs_each_tool_once(
    db_url: str,
) -> None:
    """Turn 1 (a refund the policy approves, one a person approves, a lookup) runs; turn 2's
    refund waits; shut down. The next launch on the same database replays the run: the model
    calls and the tools' steps are read back, the decisions too, and the waiting request is the
    same one; answered, the second refund runs once."""
    turn1 = [("refund", {"order_id": "S-1", "amount": 20}), A1, ("lookup", {"order_id": "A-1"})]
    turn2 = [("refund", {"order_id": "B-1", "amount": 200})]
    with testing.launched(db_url, executor="pytest", park_after=None):
        run = LangBot.start(script(turn1, turn2))
        first = testing.wait_for_request(run)
        hitl.respond(first.request_id, approve=True, by="alice")
        second = testing.wait_until(
            lambda: next(
                (r for r in run.requests(open_only=True) if r.request_id != first.request_id),
                None,
            ),
            timeout=60,
            message="turn 2's request",
        )
        asked = [r.request_id for r in run.requests()]
        assert len(MODEL_CALLS) == 2
        assert sorted(REFUNDS) == [("A-1", 120.0), ("S-1", 20.0)]
    with testing.launched(db_url, executor="pytest", park_after=None):
        hitl.respond(second.request_id, approve=True, by="bob")
        reply = run.result(timeout=60)
        assert reply.splitlines()[-1] == "refunded 200.0 on B-1"
        assert [r.request_id for r in run.requests()] == asked
        assert sorted(REFUNDS) == [("A-1", 120.0), ("B-1", 200.0), ("S-1", 20.0)]
        assert len(MODEL_CALLS) == 3  # turn 1 and turn 2 were read back from their steps


def test_a_run_that_parks_at_every_wait_replays_without_calling_or_running_twice(
    db_url: str,
) -> None:
    """park_after=0: each answer resumes the run by replaying it from the top."""
    turn1 = [("refund", {"order_id": "P-1", "amount": 100}), ("lookup", {"order_id": "P-1"})]
    with testing.launched(db_url, executor="pytest", park_after=0):
        run = LangBot.start(script(turn1, [A1]))
        first = testing.wait_for_request(run)
        hitl.respond(first.request_id, approve=True, value={"order_id": "P-1", "amount": 90})
        second = testing.wait_until(
            lambda: next(
                (r for r in run.requests(open_only=True) if r.request_id != first.request_id),
                None,
            ),
            timeout=60,
            message="turn 2's request",
        )
        hitl.respond(second.request_id, approve=True)
        assert run.result(timeout=60).splitlines()[-1] == "refunded 120.0 on A-1"
        assert REFUNDS == [("P-1", 90.0), ("A-1", 120.0)]
        assert len(MODEL_CALLS) == 3
        steps = step_names(run.id)
        digests = {d.digest for d in run.decisions()}
        assert {f"tool:refund:{d[:12]}" for d in digests if d} <= set(steps)
        assert sum(name.startswith("tool:") for name in steps) == 3  # refund, lookup, refund


@pytest.mark.usefixtures("hot_runtime")
@pytest.mark.parametrize(
    ("answer", "reply", "refunds"),
    [
        ({"approve": True}, "refunded 120.0 on B-2", [("B-2", 120.0)]),
        (
            {"approve": True, "value": {"order_id": "B-2", "amount": 80}},
            "refunded 80.0 on B-2",
            [("B-2", 80.0)],
        ),
        ({"approve": False, "comment": "ask finance"}, "ask finance", []),
    ],
)
def test_a_tool_calling_interrupt_with_the_agent_inbox_shape(
    answer: dict[str, Any], reply: str, refunds: list[tuple[str, float]]
) -> None:
    """The tool asks with interrupt([HumanInterrupt]); hitl answers it with a HumanResponse. On
    resume the tool's body runs again from its top (entered twice), its side effect once."""
    run = InboxBot.start(script([("careful_refund", {"order_id": "B-2", "amount": 120})]))
    request = testing.wait_for_request(run)
    assert request.tool is not None and request.tool.name == "careful_refund"
    assert request.body == "A customer asked for this refund."
    hitl.respond(request.request_id, by="dana", **answer)
    assert reply in run.result(timeout=60)
    assert refunds == REFUNDS
    assert ENTERED == [("B-2", 120.0)] * 2
    assert len(MODEL_CALLS) == 2


INTERRUPTING_IN_A_STEP = create_agent(
    ScriptedChat(messages=iter([])),
    tools=[careful_refund],
    middleware=[hitl_langgraph.DBOSSteps()],
)


class InterruptInAStep(hitl.Agent):
    async def run(self, prompt: str) -> str:
        out = await hitl_langgraph.run(INTERRUPTING_IN_A_STEP, {"messages": [("user", prompt)]})
        return str(out["messages"][-1].content)


@pytest.mark.usefixtures("runtime")
def test_a_tool_that_interrupts_inside_its_step_fails_clearly() -> None:
    """A step cannot stop for an interrupt: the run fails, naming the setting to use."""
    run = InterruptInAStep.start(script([("careful_refund", {"order_id": "C-3", "amount": 1})]))
    with pytest.raises(
        hitl.RunFailedError, match=r"DBOSSteps\(interrupting=\['careful_refund'\]\)"
    ):
        run.result(timeout=60)
    assert REFUNDS == []


@hitl.approval_required(editable=["amount"])
def issue_refund(order_id: str, amount: float) -> str:
    """Issue a refund to the customer's card."""
    REFUNDS.append((order_id, amount))
    return f"refunded {amount} on {order_id}"


class Order(TypedDict):
    order_id: str
    amount: float
    result: str


async def review(order: Order) -> dict[str, str]:
    """A graph node asking in the Agent Inbox shape (one dict, not a list); responding is not
    allowed, so a denial comes back as ``ignore``."""
    ENTERED.append((order["order_id"], order["amount"]))
    args = {"order_id": order["order_id"], "amount": order["amount"]}
    response = interrupt(
        {
            "action_request": {"action": "issue_refund", "args": args},
            "config": {
                "allow_accept": True,
                "allow_edit": True,
                "allow_respond": False,
                "allow_ignore": True,
            },
            "description": "Refund requested by the customer.",
        }
    )
    if response["type"] == "ignore":
        return {"result": "skipped"}
    if response["type"] == "edit":
        args = response["args"]["args"]
    plain = hitl.approval_of(issue_refund).fn
    return {"result": await DBOS.run_step_async({"name": "issue_refund"}, plain, **args)}


REVIEW_GRAPH = StateGraph(Order).add_node(review).add_edge(START, "review").add_edge("review", END)


class NodeBot(hitl.Agent):
    async def run(self, order_id: str, amount: float) -> str:
        order = {"order_id": order_id, "amount": amount, "result": ""}
        out = await hitl_langgraph.run(
            REVIEW_GRAPH.compile(), order, approvals={"issue_refund": issue_refund}
        )
        return str(out["result"])


@pytest.mark.usefixtures("hot_runtime")
def test_a_node_calling_interrupt_with_the_agent_inbox_shape() -> None:
    """Approved with an edit of the one editable argument (an edit of another is refused); a
    denial comes back as ``ignore``. The node runs again from its top on resume."""
    run = NodeBot.start("N-1", 300.0)
    request = testing.wait_for_request(run)
    assert request.tool is not None
    assert (request.tool.name, request.tool.editable) == ("issue_refund", ["amount"])
    with pytest.raises(hitl.InvalidAnswerError, match="order_id: may not be edited"):
        hitl.respond(request.request_id, approve=True, value={"order_id": "X", "amount": 300})
    hitl.respond(request.request_id, approve=True, value={"order_id": "N-1", "amount": 250})
    assert run.result(timeout=60) == "refunded 250.0 on N-1"
    assert ENTERED == [("N-1", 300.0)] * 2
    denied = NodeBot.start("N-2", 50.0)
    hitl.respond(testing.wait_for_request(denied).request_id, approve=False, comment="no")
    assert denied.result(timeout=60) == "skipped"
    assert REFUNDS == [("N-1", 250.0)]


def test_as_tool_runs_the_plain_function_and_keeps_its_argument_model() -> None:
    """An approval_required function as a LangChain tool: no approval inside (run() asks), and
    approval_for reuses its argument model (the store's edit check resolves it)."""
    as_langchain = hitl_langgraph.as_tool(issue_refund)
    assert as_langchain.invoke({"order_id": "Z-1", "amount": 1}) == "refunded 1.0 on Z-1"
    assert REFUNDS == [("Z-1", 1.0)]
    approval = hitl_langgraph.approval_for(as_langchain)
    assert approval.arguments is hitl.approval_of(issue_refund).approval.arguments
