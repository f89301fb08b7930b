"""A late answer is refused and recorded as late, whether or not the agent applied its deadline yet."""

from __future__ import annotations

import pytest

import hitl_notebook as hitl
from tests.agents import Chooser
from tests.test_answers import answer_log

pytestmark = pytest.mark.usefixtures("runtime")


@pytest.mark.parametrize("target", ["request", "run"])
def test_an_answer_after_the_agent_applied_its_timeout_is_late(target: str) -> None:
    """Once the default applied at the deadline, an answer gets DeadlinePassedError and is logged."""
    run = Chooser.start(timeout=0.3, default="red")
    request = run.wait_for_request()
    assert run.result(timeout=30) == "timed_out:red"
    with pytest.raises(hitl.DeadlinePassedError) as refused:
        hitl.respond(request.request_id if target == "request" else run.id, choice="blue", by="bob")
    assert refused.value.request_id == request.request_id
    assert answer_log(request.request_id) == [("bob", "late")]
    decided = hitl.decisions()
    assert decided["late_answers"].tolist() == [1]
    assert decided["outcome"].tolist() == ["timed_out"]


def test_a_late_answer_that_does_not_fit_is_invalid_not_late() -> None:
    """The answer is checked first: one that fits no request is InvalidAnswerError, never logged."""
    run = Chooser.start(timeout=0.3, default="red")
    request = run.wait_for_request()
    run.result(timeout=30)
    with pytest.raises(hitl.InvalidAnswerError):
        hitl.respond(request.request_id, choice="purple", by="bob")
    assert answer_log(request.request_id) == []
