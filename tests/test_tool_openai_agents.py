"""An OpenAI Agents SDK agent in a hitl run: its gated tool calls wait for a person, on SQLite and
Postgres.

The model is a stateless fake: its reply depends only on the prompt (a plan of turns) and the
calls the input already holds, so a replay that reads the model's replies back stays in step.
Model calls and tool side effects are counted in lists of this process, outside the database.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from agents import Agent, Model, ModelResponse, Usage, function_tool, set_tracing_disabled
from agents.testing import assistant_message, function_call

import hitl_notebook as hitl
from hitl_notebook import openai_agents, testing
from hitl_notebook._core.models import Reply

set_tracing_disabled(True)

MODEL_CALLS: list[str] = []
"""The prompt of each real model call (a replay that reads a reply back adds nothing)."""
RAN: list[tuple[Any, ...]] = []
"""Each tool body that ran, with its arguments."""


def small_or_huge(args: Any) -> hitl.Verdict | None:
    if args.amount < 10:
        return hitl.Verdict.approve("under 10: no review needed")
    if args.amount > 1000:
        return hitl.Verdict.deny("over 1000: finance decides those")
    return None


@hitl.approval_required(
    title="Refund {amount} on {order_id}?", editable=["amount"], policy=small_or_huge
)
def refund(order_id: str, amount: float) -> str:
    """Refund part of an order to the customer's card."""
    RAN.append(("refund", order_id, amount))
    return f"refunded {amount} on {order_id}"


@hitl.approval_required(timeout=0.3)
def cancel(order_id: str) -> str:
    """Cancel an order; nobody has long to object."""
    RAN.append(("cancel", order_id))
    return f"cancelled {order_id}"


def lookup(order_id: str) -> str:
    """Look an order up."""
    RAN.append(("lookup", order_id))
    return f"{order_id} was paid"


def _kind(item: Any) -> str | None:
    return item.get("type") if isinstance(item, dict) else getattr(item, "type", None)


class PlanModel(Model):
    """Plays the plan in the prompt (JSON: a list of turns, each a list of ``[tool, args]``): the
    next turn is the one after the calls the input already holds; after the last, it answers
    with every tool output it was given."""

    async def get_response(  # type: ignore[override]
        self, system_instructions: str | None, input: str | list[Any], *args: Any, **kwargs: Any
    ) -> ModelResponse:
        items = [{"role": "user", "content": input}] if isinstance(input, str) else input
        prompt = next(i["content"] for i in items if isinstance(i, dict) and i.get("role"))
        MODEL_CALLS.append(prompt)
        made = sum(1 for i in items if _kind(i) == "function_call")
        done = 0
        for number, turn in enumerate(json.loads(prompt)):
            if made == done:
                calls = [
                    function_call(name, arguments, call_id=f"t{number}c{position}")
                    for position, (name, arguments) in enumerate(turn)
                ]
                return ModelResponse(output=calls, usage=Usage(), response_id=None)
            done += len(turn)
        outputs = [i for i in items if _kind(i) == "function_call_output"]
        text = " | ".join(f"{o['call_id']}={o['output']}" for o in outputs)
        return ModelResponse(output=[assistant_message(text)], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:  # type: ignore[override]
        raise NotImplementedError


SHOP = Agent(name="shop", model=PlanModel(), tools=openai_agents.tools(refund, cancel, lookup))


class OpenAIShop(hitl.Agent):
    async def run(self, plan: str) -> str:
        result = await openai_agents.run(SHOP, plan)
        return str(result.final_output)


def plan(*turns: list[tuple[str, dict[str, Any]]]) -> str:
    return json.dumps([[[name, args] for name, args in turn] for turn in turns])


def refund_call(order_id: str, amount: Any) -> tuple[str, dict[str, Any]]:
    return ("refund", {"order_id": order_id, "amount": amount})


def model_calls(prompt: str) -> int:
    return MODEL_CALLS.count(prompt)


@pytest.fixture(autouse=True)
def _counted() -> Iterator[None]:
    MODEL_CALLS.clear()
    RAN.clear()
    yield
    MODEL_CALLS.clear()
    RAN.clear()


@pytest.fixture
def parking(db_url: str) -> Iterator[hitl.Runtime]:
    """A runtime whose runs park as soon as they wait: every answer replays the run."""
    with testing.launched(db_url, executor="pytest", park_after=0) as launched:
        yield launched


@pytest.mark.usefixtures("runtime")
def test_an_approved_call_runs_once_with_the_models_arguments() -> None:
    """The request shows the tool and its arguments; approved, the tool runs and the model reads
    its result; the model was called once before the answer and once after."""
    prompt = plan([refund_call("A-1", 120)])
    run = OpenAIShop.start(prompt)
    request = testing.wait_for_request(run)
    assert request.title == "Refund 120.0 on A-1?"
    assert request.proposal == {"order_id": "A-1", "amount": 120.0}
    assert request.tool is not None and request.tool.name == "refund"
    assert model_calls(prompt) == 1
    hitl.respond(request.request_id, approve=True, by="alice")
    assert run.result(timeout=60) == "t0c0=refunded 120.0 on A-1"
    assert RAN == [("refund", "A-1", 120.0)]
    assert model_calls(prompt) == 2
    (row,) = hitl.decisions(run.id).itertuples()
    assert (row.outcome, row.by, row.tool, row.digest) == (
        "approved",
        "alice",
        "refund",
        request.tool.digest,
    )


@pytest.mark.usefixtures("runtime")
def test_an_edit_runs_the_tool_with_the_edited_arguments_and_an_invalid_edit_is_refused() -> None:
    """An invalid edit (a wrong type, or a change to an argument that is not editable) is refused
    and the run keeps waiting; the valid edit is what the tool runs with."""
    run = OpenAIShop.start(plan([refund_call("A-1", 120)]))
    request = testing.wait_for_request(run)
    with pytest.raises(hitl.InvalidAnswerError):
        hitl.respond(request.request_id, approve=True, value={"order_id": "A-1", "amount": "x"})
    with pytest.raises(hitl.InvalidAnswerError):
        hitl.respond(request.request_id, approve=True, value={"order_id": "B-2", "amount": 90})
    assert [r.request_id for r in run.requests(open_only=True)] == [request.request_id]
    assert run.status.status == "waiting"
    hitl.respond(request.request_id, approve=True, value={"order_id": "A-1", "amount": 90}, by="al")
    assert run.result(timeout=60) == "t0c0=refunded 90.0 on A-1"
    assert RAN == [("refund", "A-1", 90.0)]
    (row,) = hitl.decisions(run.id).itertuples()
    assert (row.outcome, json.loads(row.proposal), json.loads(row.value)) == (
        "edited",
        {"order_id": "A-1", "amount": 120.0},
        {"order_id": "A-1", "amount": 90.0},
    )


@pytest.mark.usefixtures("runtime")
def test_a_denial_reaches_the_model_as_the_tool_result_and_the_tool_never_runs() -> None:
    run = OpenAIShop.start(plan([refund_call("A-1", 120)]))
    request = testing.wait_for_request(run)
    hitl.respond(request.request_id, approve=False, by="bob", comment="ask finance first")
    result = run.result(timeout=60)
    assert result.startswith("t0c0=")
    assert "bob" in result and "ask finance first" in result
    assert RAN == []


@pytest.mark.usefixtures("runtime")
def test_a_call_nobody_answers_in_time_is_rejected_and_the_model_is_told() -> None:
    run = OpenAIShop.start(plan([("cancel", {"order_id": "A-1"})]))
    result = run.result(timeout=60)
    assert result == (
        "t0c0=The call to cancel was not approved: nobody answered before the deadline."
    )
    assert RAN == []
    (row,) = hitl.decisions(run.id).itertuples()
    assert (row.outcome, row.tool) == ("timed_out", "cancel")


@pytest.mark.usefixtures("runtime")
def test_the_policy_approves_and_denies_without_asking_and_is_recorded() -> None:
    """Under 10 runs at once, over 1000 is denied with the policy's reason; both are decisions
    by the policy, and nobody is asked."""
    run = OpenAIShop.start(plan([refund_call("A-1", 5), refund_call("A-2", 5000)]))
    result = run.result(timeout=60)
    assert result.startswith("t0c0=refunded 5.0 on A-1 | t0c1=")
    assert "over 1000: finance decides those" in result
    assert RAN == [("refund", "A-1", 5.0)]
    assert run.requests(open_only=True) == []
    rows = hitl.decisions(run.id).sort_values("request_id")
    assert list(zip(rows["outcome"], rows["by"], rows["comment"], strict=True)) == [
        ("approved", "policy", "under 10: no review needed"),
        ("rejected", "policy", "over 1000: finance decides those"),
    ]


@pytest.mark.usefixtures("runtime")
def test_invalid_arguments_go_back_to_the_model_and_never_reach_a_person() -> None:
    run = OpenAIShop.start(plan([refund_call("A-1", "lots")]))
    result = run.result(timeout=60)
    assert result.startswith("t0c0=refund was not called: its arguments are invalid (amount:")
    assert RAN == []
    assert run.requests() == []


@pytest.mark.usefixtures("parking")
def test_two_calls_of_one_turn_are_asked_together_and_answered_separately() -> None:
    """Both requests are open at once (one ask); the un-gated call of the same turn has already
    run; denying the first and approving the second, each on its own answer, runs only the second.
    The run parks at each wait, so each answer replays it: nothing is asked again, the model is
    called once per turn and every tool runs once."""
    prompt = plan(
        [refund_call("A-1", 120), ("lookup", {"order_id": "A-1"}), refund_call("A-2", 200)]
    )
    run = OpenAIShop.start(prompt)
    first, second = testing.wait_until(
        lambda: found if len(found := run.requests(open_only=True)) == 2 else None, timeout=60
    )
    assert (first.proposal, second.proposal) == (
        {"order_id": "A-1", "amount": 120.0},
        {"order_id": "A-2", "amount": 200.0},
    )
    assert RAN == [("lookup", "A-1")]
    hitl.respond(first.request_id, approve=False, by="bob", comment="not this one")
    testing.wait_until(lambda: len(run.requests(open_only=True)) == 1, timeout=60)
    hitl.respond(second.request_id, approve=True, by="alice")
    result = run.result(timeout=60)
    assert "t0c0=" in result and "not this one" in result
    assert "t0c1=A-1 was paid" in result and "t0c2=refunded 200.0 on A-2" in result
    assert RAN == [("lookup", "A-1"), ("refund", "A-2", 200.0)]
    assert model_calls(prompt) == 2
    assert [r.request_id for r in run.requests()] == [first.request_id, second.request_id]


@pytest.mark.usefixtures("runtime")
def test_a_second_identical_call_in_the_same_run_asks_again() -> None:
    """The same refund in two turns is two calls: two requests with their own digests, two runs
    of the tool."""
    run = OpenAIShop.start(plan([refund_call("A-1", 120)], [refund_call("A-1", 120)]))
    first = testing.wait_for_request(run)
    hitl.respond(first.request_id, approve=True, by="alice")
    second = testing.wait_until(lambda: next(iter(run.requests(open_only=True)), None), timeout=60)
    assert second.request_id != first.request_id
    assert first.tool is not None and second.tool is not None
    assert second.tool.digest != first.tool.digest
    hitl.respond(second.request_id, approve=True, by="alice")
    assert run.result(timeout=60).count("refunded 120.0 on A-1") == 2
    assert RAN == [("refund", "A-1", 120.0)] * 2


@pytest.mark.usefixtures("runtime")
def test_an_answer_for_a_stale_digest_is_refused() -> None:
    run = OpenAIShop.start(plan([refund_call("A-1", 120)]))
    request = testing.wait_for_request(run)
    with pytest.raises(hitl.StaleAnswerError):
        hitl.store().answer(
            request.request_id, Reply(approve=True, channel="python", digest="0" * 64)
        )
    assert run.requests(open_only=True)
    assert request.tool is not None
    hitl.store().answer(
        request.request_id, Reply(approve=True, channel="python", digest=request.tool.digest)
    )
    assert run.result(timeout=60) == "t0c0=refunded 120.0 on A-1"
    assert RAN == [("refund", "A-1", 120.0)]


def test_a_restart_asks_nothing_new_calls_the_model_once_per_turn_and_runs_the_tool_once(
    db_url: str,
) -> None:
    """Shut down while the run waits; launched again on the same database, the answer finishes
    the run: the replay reads the first model reply back and asks nothing new."""
    prompt = plan([("lookup", {"order_id": "A-1"}), refund_call("A-1", 120)])
    with testing.launched(db_url, executor="pytest"):
        run = OpenAIShop.start(prompt)
        request = testing.wait_for_request(run)
        assert model_calls(prompt) == 1
        assert RAN == [("lookup", "A-1")]
    with testing.launched(db_url, executor="pytest"):
        hitl.respond(request.request_id, approve=True, by="alice")
        assert run.result(timeout=60) == "t0c0=A-1 was paid | t0c1=refunded 120.0 on A-1"
        assert [r.request_id for r in run.requests()] == [request.request_id]
    assert model_calls(prompt) == 2
    assert RAN == [("lookup", "A-1"), ("refund", "A-1", 120.0)]


GATED_BY_SDK = Agent(
    name="gated-by-sdk",
    model=PlanModel(),
    tools=[function_tool(lookup, name_override="lookup_gated", needs_approval=True)],
)


class SdkGated(hitl.Agent):
    async def run(self, plan: str) -> str:
        return str((await openai_agents.run(GATED_BY_SDK, plan)).final_output)


def test_outside_a_run_it_says_it_needs_one() -> None:
    with pytest.raises(hitl.HitlError, match="inside an agent's run"):
        asyncio.run(openai_agents.run(SHOP, plan()))
    assert MODEL_CALLS == []


@pytest.mark.usefixtures("runtime")
def test_a_tool_gated_by_the_sdk_alone_is_refused_before_the_model_is_called() -> None:
    """hitl could not ask, record or bind its approval: the run fails saying what to use."""
    run = SdkGated.start(plan([("lookup_gated", {"order_id": "A-1"})]))
    with pytest.raises(hitl.RunFailedError, match=r"hitl\.approval_required"):
        run.result(timeout=60)
    assert MODEL_CALLS == []
