"""Who may answer: assignees and the requester rule, enforced by the store for every channel."""

from __future__ import annotations

import pickle

import pytest

import hitl_notebook as hitl
from hitl_notebook import testing
from tests.agents import Assigned, AsyncGuarded, Guarded

pytestmark = pytest.mark.usefixtures("runtime")


def test_only_an_assignee_may_answer_and_a_refusal_leaves_the_agent_waiting() -> None:
    """A non-assignee gets NotAllowedError, nothing is stored; an assignee's answer is applied."""
    run = Assigned.start(["ana", "bo"], "Ship order 7?")
    request = testing.wait_for_request(run)
    with pytest.raises(hitl.NotAllowedError, match=r"'eve' may not answer .* assigned to ana, bo"):
        hitl.respond(run.id, approve=True, by="eve")
    assert hitl.store().request(request.request_id).decision is None
    assert [item.run_id for item in hitl.inbox()] == [run.id]
    decision = hitl.respond(run.id, approve=True, by="bo")
    assert decision.by == "bo"
    assert run.result(timeout=30) is True


def test_the_requester_may_not_answer_when_the_request_forbids_it() -> None:
    """The run's requester is recorded on its requests and refused; someone else may answer."""
    run = Guarded.start([], requester="alice")
    request = testing.wait_for_request(run)
    assert (request.requester, request.allow_requester) == ("alice", False)
    with pytest.raises(hitl.NotAllowedError, match="started this run") as refused:
        hitl.respond(request.request_id, approve=True, by="alice")
    assert (refused.value.request_id, refused.value.responder) == (request.request_id, "alice")
    assert hitl.store().request(request.request_id).decision is None
    hitl.respond(request.request_id, approve=True, by="bob")
    assert run.result(timeout=30) == "bob"


def test_assignees_and_the_requester_rule_combine() -> None:
    """An assignee who is also the requester is refused when the request forbids it."""
    run = Guarded.start(["alice", "bob"], requester="alice")
    testing.wait_for_request(run)
    for who in ("alice", "carol"):
        with pytest.raises(hitl.NotAllowedError):
            hitl.respond(run.id, approve=True, by=who)
    hitl.respond(run.id, approve=True, by="bob")
    assert run.result(timeout=30) == "bob"


def test_async_agents_record_the_requester_too() -> None:
    """An async agent's request carries its requester, and the rule applies."""
    run = AsyncGuarded.start(requester="dora")
    request = testing.wait_for_request(run)
    assert request.requester == "dora"
    with pytest.raises(hitl.NotAllowedError):
        hitl.respond(run.id, choice="ups", by="dora")
    hitl.respond(run.id, choice="dhl", by="eli")
    assert run.result(timeout=30) == "dhl"


def test_without_a_rule_anyone_answers_even_the_requester() -> None:
    """By default the requester may answer and a request without assignees is open to all."""
    run = Assigned.start([], "Anyone?")
    testing.wait_for_request(run)
    assert hitl.respond(run.id, approve=True, by="whoever").by == "whoever"
    assert run.result(timeout=30) is True


def test_bulk_answers_report_refusals_one_by_one() -> None:
    """respond_many applies the rule per request: allowed ones are decided, refused ones listed."""
    mine = Assigned.start(["ana"], "For ana")
    theirs = Assigned.start(["bo"], "For bo")
    testing.wait_for_request(mine)
    testing.wait_for_request(theirs)
    result = hitl.respond_many([mine.id, theirs.id], approve=True, by="ana")
    assert list(result.decided) == [mine.id]
    assert isinstance(result.failed[theirs.id], hitl.NotAllowedError)


def test_the_refusal_survives_pickling() -> None:
    """NotAllowedError crosses processes with its fields intact."""
    error = hitl.NotAllowedError("r-1", "eve", "it is assigned to ana")
    again = pickle.loads(pickle.dumps(error))
    assert (str(again), again.responder) == (str(error), "eve")
