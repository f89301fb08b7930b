"""What-if forks: a new run from the checkpoint just before a request, with another answer to it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import pytest

import hitl_notebook as hitl
from hitl_notebook import testing
from tests.agents import Assigned, count, draft
from tests.test_cli import hitl_cli
from tests.tool_agents import Refunding

pytestmark = pytest.mark.usefixtures("runtime")


class Refunder(hitl.Agent):
    """Asks which order, then whether to refund it; counts each step outside the database."""

    def run(self, counter: str) -> str:
        self.step(count, counter, f"draft {self.run_id}")
        order = self.request_text("Which order?", key="order")
        self.step(count, counter, f"check {self.run_id}")
        decision = self.request_approval("Refund?", proposal=draft(str(order.value)), key="refund")
        if decision.approved:
            self.step(count, counter, f"pay {self.run_id}")
            return f"paid {order.value}"
        self.step(count, counter, f"apologise {self.run_id}")
        why = self.request_text("Why not?", key="why")
        return f"refused {order.value}: {why.value}"


class AsyncRefunder(hitl.Agent):
    """The async face of Refunder's decision, without the first question."""

    async def run(self, counter: str) -> str:
        proposal = await self.step_async(draft, "E-5")
        await self.step_async(count, counter, f"draft {self.run_id}")
        decision = await self.request_approval_async("Refund?", proposal=proposal, key="refund")
        await self.step_async(count, counter, f"after {self.run_id}")
        return f"{decision.outcome}: {decision.value.amount if decision.approved else '-'}"


def _nested(depth: int) -> dict[str, object]:
    value: dict[str, object] = {}
    for _ in range(depth):
        value = {"in": value}
    return value


def _lines(counter: Path) -> list[str]:
    return counter.read_text().splitlines() if counter.exists() else []


def _answer_order(run: hitl.RunHandle, order: str) -> None:
    request = run.wait_for_request()
    assert request.title == "Which order?"
    hitl.respond(request.request_id, text=order, by="bob")


def _refund_request(run: hitl.RunHandle) -> hitl.Request:
    return testing.wait_until(
        lambda: next((r for r in run.requests(open_only=True) if r.title == "Refund?"), None),
        timeout=30,
        message="the refund request",
    )


def test_a_fork_reuses_the_steps_before_the_request_and_takes_the_other_branch(
    tmp_path: Path,
) -> None:
    """Approved in the original, rejected in the fork: the steps before the request ran once
    (across both runs), the fork asks what comes after anew, and the two results differ."""
    counter = tmp_path / "count.txt"
    original = Refunder.start(str(counter))
    _answer_order(original, "A-1")
    refund = _refund_request(original)
    hitl.respond(refund.request_id, approve=True, by="carol")
    assert original.result(timeout=30) == "paid A-1"

    what_if = original.fork(at=refund.request_id, answer={"approve": False}, by="alice")
    why = testing.wait_until(
        lambda: next((r for r in what_if.requests(open_only=True) if r.title == "Why not?"), None),
        timeout=30,
        message="the fork's own request",
    )
    assert why.request_id == f"{what_if.id}.why"
    hitl.respond(why.request_id, text="duplicate", by="bob")
    assert what_if.result(timeout=30) == "refused A-1: duplicate"

    assert sorted(_lines(counter)) == sorted(
        [
            f"draft {original.id}",
            f"check {original.id}",
            f"pay {original.id}",
            f"apologise {what_if.id}",
        ]
    )
    assert original.result() == "paid A-1"  # untouched
    assert [r.request_id for r in original.requests()] == [
        f"{original.id}.order",
        f"{original.id}.refund",
    ]


def test_both_runs_are_linked_in_agents_and_the_fork_records_its_decision(
    tmp_path: Path, db_url: str
) -> None:
    """agents() links the fork to its original; decisions() shows the what-if decision with
    its channel, who gave it and why; the fork's history, and `hitl show`, say it is a fork."""
    original = Refunder.start(str(tmp_path / "count.txt"))
    _answer_order(original, "B-2")
    refund = _refund_request(original)
    hitl.respond(refund.request_id, approve=False, by="carol", comment="no receipt")

    what_if = original.fork(refund.request_id, hitl.Answer(approve=True), by="alice")
    assert what_if.result(timeout=30) == "paid B-2"
    assert (what_if.forked_from, what_if.forked_at) == (original.id, refund.request_id)
    assert (original.forked_from, original.forked_at) == (None, None)

    agents = hitl.agents().set_index("run_id")
    assert agents.loc[what_if.id, "forked_from"] == original.id
    assert agents.loc[what_if.id, "forked_at"] == refund.request_id
    assert pd.isna(agents.loc[original.id, "forked_from"])
    assert agents.loc[what_if.id, "outcome"] == "finished"

    decisions = hitl.decisions(what_if.id).set_index("title")
    asked = decisions.loc["Refund?"]
    assert (asked["outcome"], asked["by"], asked["channel"]) == ("approved", "alice", "what-if")
    assert asked["comment"] == f"what-if fork of {original.id}"
    assert asked["request_id"] == f"{what_if.id}.refund"
    assert asked["forked_from"] == refund.request_id
    kept = decisions.loc["Which order?"]  # decided before the fork point: as in the original
    assert (kept["value"], kept["by"], kept["channel"]) == ('"B-2"', "bob", "python")
    assert kept["forked_from"] == f"{original.id}.order"
    assert hitl.decisions(original.id)["forked_from"].isna().all()
    original_refund = hitl.decisions(original.id).set_index("title").loc["Refund?"]
    assert (original_refund["outcome"], original_refund["by"]) == ("rejected", "carol")

    details = list(hitl.history(what_if.id)["detail"])
    assert details[0] == f"what-if fork of {original.id} at {refund.request_id}"
    assert f"approved by alice (what-if fork of {original.id})" in details

    shown = hitl_cli("show", what_if.id, "--db", db_url)
    assert shown.returncode == 0, shown.stderr
    assert f"what-if fork of {original.id} at {refund.request_id}" in shown.stdout
    assert "what-if" in shown.stdout.split("Refund?")[1]  # the decision's channel


def test_a_run_that_still_waits_can_be_forked_and_keeps_waiting(tmp_path: Path) -> None:
    """Forking at the open request of a waiting run: the fork goes on, the original waits on."""
    counter = tmp_path / "count.txt"
    original = Refunder.start(str(counter))
    _answer_order(original, "C-3")
    refund = _refund_request(original)

    what_if = original.fork(at=refund.request_id, answer={"approve": True}, by="alice")
    assert what_if.result(timeout=30) == "paid C-3"
    still = original.requests(open_only=True)
    assert [r.request_id for r in still] == [refund.request_id]
    assert hitl.agents().set_index("run_id").loc[original.id, "run_state"] in {"waiting", "parked"}
    assert sorted(_lines(counter)) == sorted(
        [f"draft {original.id}", f"check {original.id}", f"pay {what_if.id}"]
    )
    hitl.respond(refund.request_id, approve=False, by="carol")
    testing.wait_until(
        lambda: original.requests(open_only=True) and original.requests()[-1].title == "Why not?",
        timeout=30,
        message="the original going on after its answer",
    )
    original.cancel(by="tests")


def test_an_async_agent_forks_the_same_way_with_an_edited_value(tmp_path: Path) -> None:
    """fork_async, on an async agent, with an edit as the answer: the steps before the request
    ran once, the fork goes on with the edited proposal."""
    counter = tmp_path / "count.txt"
    original = AsyncRefunder.start(str(counter))
    refund = original.wait_for_request()
    hitl.respond(refund.request_id, approve=False, by="carol")
    assert original.result(timeout=30) == "rejected: -"

    edited = {"order_id": "E-5", "amount": 7.5, "note": "half"}
    what_if = asyncio.run(
        original.fork_async(refund.request_id, {"approve": True, "value": edited}, by="alice")
    )
    assert what_if.result(timeout=30) == "edited: 7.5"
    assert sorted(_lines(counter)) == sorted(
        [f"draft {original.id}", f"after {original.id}", f"after {what_if.id}"]
    )
    (decision,) = what_if.decisions()
    assert (decision.outcome, decision.value, decision.channel) == ("edited", edited, "what-if")


def test_bad_forks_are_refused_before_anything_starts(tmp_path: Path) -> None:
    """An answer that does not fit, a request that is not the run's, an unknown id or a fork id
    taken by another run: a clear error, and no run is started."""
    first = Refunder.start(str(tmp_path / "one.txt"))
    other = Refunder.start(str(tmp_path / "two.txt"))
    order = first.wait_for_request()
    others = other.wait_for_request()
    runs_before = set(hitl.agents()["run_id"])

    refused: list[tuple[object, type[Exception], str]] = [
        ({"approve": True}, hitl.InvalidAnswerError, "does not apply to a text request"),
        ({"text": "ok", "comment": "hi"}, hitl.InvalidAnswerError, "comment"),
        ({"text": "bad\x00"}, hitl.InvalidAnswerError, "NUL"),
        ({"text": "\ud800"}, hitl.InvalidAnswerError, "surrogate"),
        ({"text": "   "}, hitl.InvalidAnswerError, "empty"),
        (True, hitl.InvalidAnswerError, "hitl.Answer or a dict"),
        ({"text": "x", "value": {"n": float("nan")}}, hitl.InvalidAnswerError, "nan"),
        ({"text": "x", "value": {"set": {1}}}, hitl.InvalidAnswerError, "JSON cannot hold"),
        ({"text": "x", "value": _nested(200)}, hitl.InvalidAnswerError, "nests deeper"),
    ]
    for answer, error, message in refused:
        with pytest.raises(error, match=message):
            first.fork(order.request_id, answer)  # type: ignore[arg-type]
    with pytest.raises(hitl.NotFoundError, match=f"belongs to run '{other.id}'"):
        first.fork(others.request_id, {"text": "x"})
    with pytest.raises(hitl.NotFoundError, match="No request has the id"):
        first.fork(f"{first.id}.nothing", {"text": "x"})
    with pytest.raises(hitl.NotFoundError, match="No run has the id"):
        hitl.run("no-such-run").fork(order.request_id, {"text": "x"})
    with pytest.raises(ValueError, match="exists already"):
        first.fork(order.request_id, {"text": "x"}, run_id=other.id)
    with pytest.raises(ValueError, match="NUL"):
        first.fork(order.request_id, {"text": "x"}, run_id="fork\x00")
    with pytest.raises(hitl.InvalidAnswerError, match="NUL"):
        first.fork(order.request_id, {"text": "x"}, by="al\x00ice")
    assert set(hitl.agents()["run_id"]) == runs_before

    assigned = Assigned.start(["dora"], "Only dora may")
    tooled = Refunding.start("A-7", 120.0)
    for run, answer, error, message in [
        (assigned, {"approve": True}, hitl.NotAllowedError, "assigned to dora"),
        (tooled, {"approve": False}, hitl.HitlError, "tool call"),
    ]:
        with pytest.raises(error, match=message):
            run.fork(run.wait_for_request().request_id, answer, by="alice")
        run.cancel(by="dora")
    assert set(hitl.agents()["run_id"]) == runs_before | {assigned.id, tooled.id}

    once = first.fork(order.request_id, {"text": "D-4"}, run_id="what-if-d4", by="alice")
    again = first.fork(order.request_id, {"text": "D-4"}, run_id="what-if-d4", by="alice")
    assert once == again
    assert _refund_request(once).request_id == "what-if-d4.refund"
    assert first.requests(open_only=True) == [order]  # the original still waits
    once.cancel(by="tests")
