"""A pydantic-ai agent's tool calls wait for a person inside a hitl run, on SQLite and Postgres.

The model is a stateless fake (tests/pydantic_ai_agents.py); real model calls and tool bodies
are counted in the test process, outside the database.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from dbos import DBOS

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._core.models import Reply
from tests import pydantic_ai_agents as shop
from tests.pydantic_ai_agents import RefundDesk, SyncRefundDesk, script

REFUND_120 = ("refund", {"order_id": "A-1", "amount": 120})
LOOKUP = ("lookup", {"order_id": "A-1"})


@pytest.fixture(autouse=True)
def _counted() -> Iterator[None]:
    shop.reset()
    yield
    shop.reset()


def open_requests(run: hitl.RunHandle, count: int) -> list[hitl.Request]:
    """The run's open requests, once there are ``count`` of them."""

    def found() -> list[hitl.Request] | None:
        requests = run.requests(open_only=True)
        return requests if len(requests) == count else None

    return testing.wait_until(found, timeout=60, message=f"{count} open requests")


def step_names(run_id: str) -> list[str]:
    return [step["function_name"] for step in DBOS.list_workflow_steps(run_id)]


@pytest.mark.usefixtures("runtime")
@pytest.mark.parametrize("desk", [RefundDesk, SyncRefundDesk], ids=["async", "sync"])
def test_an_approved_call_runs_the_tool_once_as_a_step_named_by_its_digest(
    desk: type[hitl.Agent],
) -> None:
    run = desk.start(script([LOOKUP, REFUND_120]))
    (request,) = open_requests(run, 1)
    assert request.tool is not None
    assert (request.tool.name, request.tool.call_index) == ("refund", 1)
    assert request.title == "Refund 120.0 on order A-1?"
    assert request.proposal == {"order_id": "A-1", "amount": 120.0}
    assert request.proposal_model == "tests.pydantic_ai_agents:refund.Args"
    assert (len(shop.MODEL_CALLS), shop.LOOKUPS, shop.REFUNDS) == (1, ["A-1"], [])

    hitl.respond(request.request_id, approve=True, by="alice")
    assert run.result(timeout=60) == "lookup: A-1 holds shoes | refund: refunded 120.0 on A-1"
    assert (len(shop.MODEL_CALLS), shop.LOOKUPS, shop.REFUNDS) == (2, ["A-1"], [("A-1", 120.0)])
    (decided,) = hitl.decisions(run.id).itertuples()
    assert (decided.tool, decided.outcome, decided.by) == ("refund", "approved", "alice")
    assert decided.digest == request.tool.digest
    names = step_names(run.id)
    assert names[0] == names[-1] == "refunds__model.request"
    assert [n for n in names if n.startswith("tool:")] == [
        names[1],
        f"tool:refund:{request.tool.digest[:12]}",
    ]
    assert names[1].startswith("tool:lookup:")


@pytest.mark.usefixtures("runtime")
def test_an_edit_runs_the_tool_with_the_edited_arguments_and_an_invalid_edit_is_refused() -> None:
    run = RefundDesk.start(script([REFUND_120]))
    (request,) = open_requests(run, 1)
    for refused in (
        {"order_id": "A-1", "amount": "lots"},  # not a number
        {"order_id": "A-1", "amount": -5},  # the tool's Field(gt=0)
        {"order_id": "B-2", "amount": 80},  # order_id is not editable
        {"order_id": "A-1", "amount": 80, "card": "other"},  # not an argument of refund
    ):
        with pytest.raises(hitl.InvalidAnswerError):
            hitl.respond(request.request_id, approve=True, value=refused, by="alice")
    assert run.requests(open_only=True) == [request]
    assert shop.REFUNDS == []

    hitl.respond(request.request_id, approve=True, value={"order_id": "A-1", "amount": 80})
    assert run.result(timeout=60) == "refund: refunded 80.0 on A-1"
    assert shop.REFUNDS == [("A-1", 80.0)]
    (decided,) = hitl.decisions(run.id).itertuples()
    assert decided.outcome == "edited"
    assert (json.loads(decided.proposal), json.loads(decided.value)) == (
        {"order_id": "A-1", "amount": 120.0},
        {"order_id": "A-1", "amount": 80.0},
    )


@pytest.mark.usefixtures("runtime")
def test_a_denial_reaches_the_model_as_the_tool_result_and_the_tool_does_not_run() -> None:
    run = SyncRefundDesk.start(script([REFUND_120]))
    (request,) = open_requests(run, 1)
    hitl.respond(request.request_id, approve=False, by="bob", comment="already refunded in store")
    assert run.result(timeout=60) == (
        "refund: The call to refund was denied by bob: already refunded in store"
    )
    assert shop.REFUNDS == []
    assert [n for n in step_names(run.id) if n.startswith("tool:")] == []


@pytest.mark.usefixtures("runtime")
def test_a_policy_approves_and_denies_without_asking_and_is_recorded_like_a_person() -> None:
    small = ("refund", {"order_id": "A-1", "amount": 20})
    huge = ("refund", {"order_id": "B-2", "amount": 9000})
    run = RefundDesk.start(script([small], [huge]))
    assert run.result(timeout=60) == (
        "refund: refunded 20.0 on A-1 | refund: The call to refund was denied by policy: "
        "over 5,000: refunds that large go through finance"
    )
    assert run.requests(open_only=True) == []
    assert shop.REFUNDS == [("A-1", 20.0)]
    frame = hitl.decisions(run.id)
    assert list(frame["by"]) == ["policy", "policy"]
    assert list(frame["outcome"]) == ["approved", "rejected"]
    assert list(frame["tool"]) == ["refund", "refund"]
    assert list(frame["comment"]) == [
        "under 50: no review needed",
        "over 5,000: refunds that large go through finance",
    ]
    assert frame["digest"].str.len().tolist() == [64, 64]


@pytest.mark.usefixtures("runtime")
def test_two_calls_of_one_turn_are_asked_together_and_answered_one_by_one() -> None:
    other = ("refund", {"order_id": "B-2", "amount": 300})
    run = RefundDesk.start(script([REFUND_120, other]))
    first, second = open_requests(run, 2)
    assert [r.tool.call_index for r in (first, second) if r.tool] == [1, 2]
    assert len(shop.MODEL_CALLS) == 1

    hitl.respond(first.request_id, approve=True, by="alice")
    assert run.requests(open_only=True) == [second]
    hitl.respond(second.request_id, approve=False, by="bob", comment="not this one")
    assert run.result(timeout=60) == (
        "refund: refunded 120.0 on A-1 | refund: The call to refund was denied by bob: not this one"
    )
    assert (len(shop.MODEL_CALLS), shop.REFUNDS) == (2, [("A-1", 120.0)])


@pytest.mark.usefixtures("runtime")
def test_a_second_identical_call_in_the_same_run_asks_again() -> None:
    run = SyncRefundDesk.start(script([REFUND_120], [REFUND_120]))
    (first,) = open_requests(run, 1)
    hitl.respond(first.request_id, approve=True, by="alice")
    second = testing.wait_until(
        lambda: next((r for r in run.requests(open_only=True) if r != first), None), timeout=60
    )
    assert second.request_id != first.request_id
    assert second.tool is not None and first.tool is not None
    assert second.tool.digest != first.tool.digest
    assert second.proposal == first.proposal
    hitl.respond(second.request_id, approve=True, by="alice")
    assert run.result(timeout=60) == "refund: refunded 120.0 on A-1 | refund: refunded 120.0 on A-1"
    assert shop.REFUNDS == [("A-1", 120.0), ("A-1", 120.0)]
    assert len(hitl.decisions(run.id)) == 2


@pytest.mark.usefixtures("runtime")
@pytest.mark.parametrize(
    "sent",
    ['{"order_id": "A-1", "amount": "lots"}', {"order_id": "A-1", "amount": -3}],
    ids=["not-a-number", "not-positive"],
)
def test_arguments_that_fail_validation_go_back_to_the_model_and_never_reach_a_person(
    sent: dict[str, object] | str,
) -> None:
    run = RefundDesk.start(script([("refund", sent)], [REFUND_120]))
    (request,) = open_requests(run, 1)
    assert request.proposal == {"order_id": "A-1", "amount": 120.0}
    assert len(shop.MODEL_CALLS) == 2
    hitl.respond(request.request_id, approve=True)
    told, ran = run.result(timeout=60).split(" | ")
    assert "Input should be" in told  # the model read pydantic's error and called again
    assert ran == "refund: refunded 120.0 on A-1"
    assert len(run.requests()) == 1


@pytest.mark.usefixtures("runtime")
def test_an_answer_for_another_digest_is_refused_and_the_run_keeps_waiting() -> None:
    run = RefundDesk.start(script([REFUND_120]))
    (request,) = open_requests(run, 1)
    assert request.tool is not None
    store = hitl.store()
    with pytest.raises(hitl.StaleAnswerError):
        store.answer(request.request_id, Reply(approve=True, channel="python", digest="0" * 64))
    assert run.requests(open_only=True) == [request]
    store.answer(
        request.request_id,
        Reply(approve=True, by="alice", channel="python", digest=request.tool.digest),
    )
    assert run.result(timeout=60) == "refund: refunded 120.0 on A-1"
    assert shop.REFUNDS == [("A-1", 120.0)]


def run_threads(run_id: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"hitl-run-{run_id}"]


@pytest.mark.parametrize("desk", [RefundDesk, SyncRefundDesk], ids=["async", "sync"])
def test_a_restart_while_waiting_asks_nothing_new_and_calls_the_model_and_each_tool_once(
    db_url: str, desk: type[hitl.Agent]
) -> None:
    with testing.launched(db_url, executor="pytest", park_after=None) as runtime:
        run = desk.start(script([LOOKUP, REFUND_120]))
        (request,) = open_requests(run, 1)
        testing.wait_until(lambda: runtime.poller.waiting == 1, message="waiting hot")
    testing.wait_until(lambda: not run_threads(run.id), message="the run's thread ended")
    assert (len(shop.MODEL_CALLS), shop.LOOKUPS, shop.REFUNDS) == (1, ["A-1"], [])

    with testing.launched(db_url, executor="pytest", park_after=None) as runtime:
        testing.wait_until(lambda: runtime.poller.waiting == 1, message="waiting again")
        assert run.requests() == [request]
        hitl.respond(request.request_id, approve=True, by="alice")
        assert run.result(timeout=60) == "lookup: A-1 holds shoes | refund: refunded 120.0 on A-1"
    assert (len(shop.MODEL_CALLS), shop.LOOKUPS, shop.REFUNDS) == (2, ["A-1"], [("A-1", 120.0)])
    assert len(hitl.decisions(run.id, via=hitl.connect(db_url))) == 1
