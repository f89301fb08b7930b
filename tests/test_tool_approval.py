"""A tool call that waits for a person: hitl.approval_required, bound to the exact call.

Every test runs on SQLite and Postgres. Real tool calls are counted in the test process
(``tests.tool_agents.CALLS``), outside the database.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._core.models import Reply
from tests import tool_agents
from tests.tool_agents import (
    Archiving,
    Drifting,
    Mailing,
    Posting,
    Refunding,
    Wiring,
    refund,
    tool_calls,
)


@pytest.fixture(autouse=True)
def _fresh_calls() -> Iterator[None]:
    tool_agents.CALLS.clear()
    tool_agents.AMOUNT["value"] = 120.0
    yield
    tool_agents.CALLS.clear()


def open_request(run: hitl.RunHandle) -> hitl.Request:
    return testing.wait_for_request(run, timeout=60)


def test_a_call_asks_one_request_showing_the_tool_and_its_arguments(
    runtime: hitl.Runtime,
) -> None:
    run = Refunding.start("A-1", 120.0)
    request = open_request(run)
    assert request.kind is hitl.RequestKind.APPROVAL
    assert request.title == "Refund 120.0 on order A-1?"
    assert request.body == "Refund part of an order to the customer's card."
    assert request.proposal == {"order_id": "A-1", "amount": 120.0, "note": ""}
    assert request.tool is not None
    assert (request.tool.name, request.tool.call_index) == ("refund", 1)
    assert request.tool.editable == ["amount", "note"]
    assert len(request.tool.digest) == 64
    assert request.request_id == f"{run.id}.tool1"
    assert tool_calls("refund") == []  # nothing runs before the approval

    decision = hitl.respond(request.request_id, approve=True, by="alice")
    assert (decision.tool, decision.digest) == ("refund", request.tool.digest)
    assert run.result(timeout=60) == [{"order_id": "A-1", "amount": 120.0, "note": ""}]
    assert tool_calls("refund") == [("A-1", 120.0, "")]


def test_an_edit_runs_the_tool_with_the_edited_arguments_and_records_both(
    runtime: hitl.Runtime,
) -> None:
    run = Refunding.start("A-1", 120.0)
    request = open_request(run)
    hitl.respond(
        request.request_id,
        approve=True,
        value={"order_id": "A-1", "amount": 80, "note": "partial"},
        by="alice",
    )
    assert run.result(timeout=60) == [{"order_id": "A-1", "amount": 80.0, "note": "partial"}]
    assert tool_calls("refund") == [("A-1", 80.0, "partial")]
    (row,) = hitl.decisions(run.id).itertuples()
    assert (row.outcome, row.by, row.tool, row.digest) == (
        "edited",
        "alice",
        "refund",
        request.tool.digest if request.tool else None,
    )
    assert json.loads(row.proposal) == {"order_id": "A-1", "amount": 120.0, "note": ""}
    assert json.loads(row.value) == {"order_id": "A-1", "amount": 80.0, "note": "partial"}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"order_id": "A-1", "amount": 5000, "note": ""}, "amount"),  # over le=1000
        ({"order_id": "A-1", "amount": "lots", "note": ""}, "amount"),
        ({"order_id": "A-1", "amount": 80, "note": "", "extra": 1}, "extra"),
        ({"order_id": "B-2", "amount": 80, "note": ""}, "order_id: may not be edited"),
    ],
)
def test_an_invalid_edit_is_refused_and_the_run_keeps_waiting(
    runtime: hitl.Runtime, value: dict[str, Any], problem: str
) -> None:
    run = Refunding.start("A-1", 120.0)
    request = open_request(run)
    with pytest.raises(hitl.InvalidAnswerError, match=problem):
        hitl.respond(request.request_id, approve=True, value=value, by="alice")
    assert hitl.store().request(request.request_id).is_open
    assert tool_calls("refund") == []
    hitl.respond(request.request_id, approve=True, by="alice")
    assert run.result(timeout=60)[0]["amount"] == 120.0


def test_a_denial_raises_tool_denied_with_the_comment(runtime: hitl.Runtime) -> None:
    run = Refunding.start("A-1", 120.0)
    request = open_request(run)
    hitl.respond(request.request_id, approve=False, by="bob", comment="the order never shipped")
    (result,) = run.result(timeout=60)
    assert result == {
        "denied": "The call to refund was denied by bob: the order never shipped",
        "by": "bob",
        "comment": "the order never shipped",
    }
    assert tool_calls("refund") == []


def test_a_denial_can_be_a_message_for_the_model(runtime: hitl.Runtime) -> None:
    run = Posting.start("ann@example.com")
    request = open_request(run)
    hitl.respond(request.request_id, approve=False, by="bob", comment="not before Monday")
    assert run.result(timeout=60) == "The call to send_letter was denied by bob: not before Monday"
    assert tool_calls("send_letter") == []


def test_at_the_deadline_a_call_is_denied_or_approved_as_declared(
    runtime: hitl.Runtime,
) -> None:
    mail, archive = Mailing.start("ann@example.com"), Archiving.start(7)
    assert mail.result(timeout=60) == (
        "The call to send_email was not approved: nobody answered before the deadline."
    )
    assert archive.result(timeout=60) == "archived 7"
    assert tool_calls("send_email") == []
    assert tool_calls("archive") == [7]
    outcomes = hitl.decisions().set_index("tool")
    assert outcomes.loc["send_email", "outcome"] == "timed_out"
    assert bool(outcomes.loc["archive", "approved"]) is True


def test_a_policy_decides_small_and_huge_amounts_and_is_recorded_like_a_person(
    runtime: hitl.Runtime,
) -> None:
    run = Refunding.start("A-1", 20.0, 950.0)
    assert run.result(timeout=60) == [
        {"order_id": "A-1", "amount": 20.0, "note": ""},
        {
            "denied": (
                "The call to refund was denied by policy: over 900: refunds that large go "
                "through finance"
            ),
            "by": "policy",
            "comment": "over 900: refunds that large go through finance",
        },
    ]
    assert tool_calls("refund") == [("A-1", 20.0, "")]
    frame = hitl.decisions(run.id)
    assert list(frame["outcome"]) == ["approved", "rejected"]
    assert list(frame["by"]) == ["policy", "policy"]
    assert list(frame["channel"]) == ["policy", "policy"]
    assert list(frame["comment"]) == [
        "under 50: no review needed",
        "over 900: refunds that large go through finance",
    ]
    assert list(frame["tool"]) == ["refund", "refund"]
    details = list(hitl.history(run.id)["detail"])
    assert "Refund 20.0 on order A-1?: approved by policy (under 50: no review needed)" in details
    assert hitl.store().requests(run.id, open_only=True) == []  # nobody was asked


def test_an_answer_for_another_digest_is_refused(runtime: hitl.Runtime) -> None:
    run = Refunding.start("A-1", 120.0)
    request = open_request(run)
    assert request.tool is not None
    store = hitl.store()
    for stale in ("0" * 64, request.tool.digest[:-1] + "x"):
        with pytest.raises(hitl.StaleAnswerError, match="another tool call"):
            store.answer(request.request_id, Reply(approve=True, channel="python", digest=stale))
    assert store.request(request.request_id).is_open
    with pytest.raises(hitl.StaleAnswerError):
        hitl.respond(request.request_id, approve=True, digest="0" * 64)
    decision = hitl.respond(
        request.request_id, approve=True, by="alice", digest=request.tool.digest
    )
    assert decision.digest == request.tool.digest
    run.result(timeout=60)
    assert tool_calls("refund") == [("A-1", 120.0, "")]


def test_a_digest_on_an_answer_to_a_request_that_is_no_tool_call_is_refused(
    runtime: hitl.Runtime,
) -> None:
    from tests.agents import Approver  # noqa: PLC0415 - the plain-approval agent of other tests

    run = Approver.start("A-1", "/dev/null")
    request = open_request(run)
    with pytest.raises(hitl.StaleAnswerError, match="not a tool call"):
        hitl.store().answer(
            request.request_id, Reply(approve=True, channel="python", digest="0" * 64)
        )
    assert hitl.store().request(request.request_id).is_open
    hitl.respond(request.request_id, approve=True)
    run.result(timeout=60)


def test_the_same_call_twice_in_a_run_asks_twice(runtime: hitl.Runtime) -> None:
    run = Refunding.start("A-1", 120.0, 120.0)
    first = open_request(run)
    hitl.respond(first.request_id, approve=True, by="alice")
    testing.wait_until(lambda: [r for r in hitl.store().requests(run.id) if r.is_open], timeout=60)
    (second,) = hitl.store().requests(run.id, open_only=True)
    assert second.request_id == f"{run.id}.tool2"
    assert second.proposal == first.proposal
    assert first.tool is not None
    assert second.tool is not None
    assert second.tool.digest != first.tool.digest  # bound to the call, not only the arguments
    with pytest.raises(hitl.StaleAnswerError):
        hitl.store().answer(
            second.request_id, Reply(approve=True, channel="python", digest=first.tool.digest)
        )
    hitl.respond(second.request_id, approve=True, by="alice")
    assert len(run.result(timeout=60)) == 2
    assert tool_calls("refund") == [("A-1", 120.0, ""), ("A-1", 120.0, "")]


def test_after_a_restart_nothing_decided_is_asked_again_and_no_tool_runs_twice(
    db_url: str,
) -> None:
    """A policy-approved call ran before the wait; the run is replayed in a new runtime."""
    with testing.launched(db_url, executor="pytest"):
        run = Refunding.start("A-1", 20.0, 120.0)
        request = open_request(run)
        assert tool_calls("refund") == [("A-1", 20.0, "")]
    with testing.launched(db_url, executor="pytest"):
        hitl.respond(request.request_id, approve=True, by="alice")
        assert len(run.result(timeout=60)) == 2
        assert [r.request_id for r in hitl.store().requests(run.id)] == [
            f"{run.id}.tool1",
            f"{run.id}.tool2",
        ]
    assert tool_calls("refund") == [("A-1", 20.0, ""), ("A-1", 120.0, "")]


def test_a_replay_that_calls_the_tool_with_other_arguments_stops(db_url: str) -> None:
    with testing.launched(db_url, executor="pytest"):
        run = Drifting.start()
        request = open_request(run)
    tool_agents.AMOUNT["value"] = 130.0  # the run's code now makes another call
    with testing.launched(db_url, executor="pytest"):
        hitl.respond(request.request_id, approve=True, by="alice")
        with pytest.raises(hitl.RunFailedError, match="ToolReplayError"):
            run.result(timeout=60)
    assert tool_calls("refund") == []


def test_an_async_tool_in_an_async_agent_with_who_may_approve(runtime: hitl.Runtime) -> None:
    run = Wiring.start("DE-1", 300.0, requester="mallory")
    request = open_request(run)
    assert request.assignees == ["finance"]
    with pytest.raises(hitl.NotAllowedError):
        hitl.respond(request.request_id, approve=True, by="mallory")
    hitl.respond(
        request.request_id, approve=True, value={"account": "DE-1", "amount": 250}, by="finance"
    )
    assert run.result(timeout=60) == "wired 250.0 to DE-1"
    assert tool_calls("wire") == [("DE-1", 250.0)]


def test_outside_a_run_a_call_is_refused_and_the_plain_function_stays_reachable(
    runtime: hitl.Runtime,
) -> None:
    with pytest.raises(hitl.HitlError, match="only inside an agent's run"):
        refund("A-1", 120.0)
    assert hitl.approval_of(refund).fn("A-1", 1.0) == {"order_id": "A-1", "amount": 1.0, "note": ""}
    assert refund.__name__ == "refund"
    assert refund.__doc__ == "Refund part of an order to the customer's card."


def test_bad_declarations_are_refused_when_the_tool_is_defined() -> None:
    def tool(order_id: str, amount: float) -> None:
        """A tool."""

    with pytest.raises(ValueError, match="editable names \\['total'\\]"):
        hitl.approval_required(editable=["total"])(tool)
    with pytest.raises(ValueError, match="title template names \\['total'\\]"):
        hitl.approval_required(title="Refund {total}?")(tool)
    with pytest.raises(ValueError, match="on_timeout"):
        hitl.approval_required(on_timeout="maybe")(tool)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_deny"):
        hitl.approval_required(on_deny="shrug")(tool)  # type: ignore[arg-type]

    def variadic(*amounts: float) -> None:
        """Takes any number of amounts."""

    with pytest.raises(TypeError, match="named parameters only"):
        hitl.approval_required(variadic)


@pytest.mark.parametrize(
    ("order_id", "amount", "error"),
    [
        ("A\x00-1", 120.0, "NUL"),
        ("A-\ud800", 120.0, "surrogate"),
        ("A-1", math.nan, "amount"),
        ("A-1", math.inf, "amount"),
        ("A-1", "lots", "amount"),
    ],
)
def test_odd_arguments_fail_the_call_clearly_and_store_nothing(
    runtime: hitl.Runtime, order_id: str, amount: Any, error: str
) -> None:
    class Odd(hitl.Agent):
        agent_name = "Odd"

        def run(self) -> str:
            try:
                refund(order_id, amount)
            except (ValueError, ValidationError) as refused:
                return f"{type(refused).__name__}: {refused}"
            return "called"

    run = Odd.start()
    outcome = run.result(timeout=60)
    assert outcome != "called"
    assert re.search(error, outcome, flags=re.IGNORECASE), outcome
    assert hitl.store().requests(run.id) == []
    assert tool_calls("refund") == []
    assert len(hitl.inbox()) == 0  # the inbox still reads
