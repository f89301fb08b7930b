"""Quorum: k of n approvals by vote, a veto, one vote per person, decided once (SQLite and Postgres)."""

from __future__ import annotations

import threading

import pytest

import hitl_notebook as hitl
from hitl_notebook import testing

pytestmark = pytest.mark.usefixtures("runtime")

TEAM = ["alice", "bob", "carol"]


class Release(hitl.Agent):
    """Asks for two of alice, bob and carol to approve a release (one rejection vetoes)."""

    def run(self, k: int = 2, veto: bool = True, allow_requester: bool = True) -> dict[str, object]:
        decision = self.request_approval(
            "Ship v2?",
            quorum=hitl.Quorum(k, of=TEAM, veto=veto),
            allow_requester=allow_requester,
        )
        return {"outcome": decision.outcome.value, "by": decision.by, "comment": decision.comment}


class Plain(hitl.Agent):
    """Asks an ordinary approval (one answer decides)."""

    def run(self) -> str:
        return self.request_approval("Ship v1?").outcome.value


class Batch(hitl.Agent):
    """Asks many 2-of-3 approvals at once: one run, many open quorum requests."""

    def run(self, n: int) -> list[str]:
        questions = [
            hitl.Question.approval(f"Release {i}?", quorum=hitl.Quorum(2, of=TEAM), key=f"q{i}")
            for i in range(n)
        ]
        return [d.outcome.value for d in self.ask(*questions)]


def test_two_of_three_approve_and_the_run_resumes_approved() -> None:
    """The first approval waits; the second decides (by the 2nd approver) and the run resumes."""
    run = Release.start()
    request = testing.wait_for_request(run)
    assert request.quorum == hitl.Quorum(2, of=("alice", "bob", "carol"))
    first = hitl.vote(run.id, approve=True, by="alice", comment="looks good")
    assert (first.decision, first.tally.progress) == (None, "1 of 2 approvals")
    assert hitl.store().request(request.request_id).is_open
    second = hitl.vote(request.request_id, approve=True, by="bob")
    assert second.decision is not None
    assert (second.decision.outcome, second.decision.by) == ("approved", "bob")
    assert second.decision.comment == "approved by alice, bob"
    assert run.result(timeout=30) == {
        "outcome": "approved",
        "by": "bob",
        "comment": "approved by alice, bob",
    }
    stored = hitl.store().request(request.request_id)
    assert [(b.voter, b.approve, b.channel, b.comment) for b in stored.votes] == [
        ("alice", True, "python", "looks good"),
        ("bob", True, "python", None),
    ]


def test_a_veto_rejects_at_once() -> None:
    """One rejection decides a veto quorum: rejected, by the vetoer, with their reason."""
    run = Release.start()
    testing.wait_for_request(run)
    hitl.vote(run.id, approve=True, by="alice")
    vote = hitl.vote(run.id, approve=False, by="carol", comment="not on a Friday")
    assert vote.decision is not None
    assert (vote.decision.outcome, vote.decision.by) == ("rejected", "carol")
    assert vote.decision.comment == "vetoed by carol: not on a Friday"
    assert run.result(timeout=30)["outcome"] == "rejected"


def test_without_a_veto_a_rejection_decides_only_when_k_is_out_of_reach() -> None:
    """Without a veto one rejection leaves 2 of 3 reachable; a second one rejects."""
    run = Release.start(veto=False)
    testing.wait_for_request(run)
    assert hitl.vote(run.id, approve=False, by="alice").decision is None
    vote = hitl.vote(run.id, approve=False, by="bob")
    assert vote.decision is not None and vote.decision.outcome == "rejected"
    assert "can no longer be reached" in (vote.decision.comment or "")
    assert run.result(timeout=30)["outcome"] == "rejected"


def test_a_person_votes_once() -> None:
    """A second vote by the same person is refused with AlreadyVotedError, whatever it says."""
    run = Release.start()
    testing.wait_for_request(run)
    hitl.vote(run.id, approve=True, by="alice")
    for approve in (True, False):
        with pytest.raises(hitl.AlreadyVotedError, match="has already voted") as refused:
            hitl.vote(run.id, approve=approve, by="alice")
        assert (refused.value.voter, refused.value.approved) == ("alice", True)
    assert [b.voter for b in hitl.store().requests(run.id)[0].votes] == ["alice"]
    assert hitl.store().requests(run.id)[0].is_open


def test_a_vote_after_the_decision_is_refused() -> None:
    """Once decided, a further vote is refused (AlreadyDecidedError) and not recorded."""
    run = Release.start()
    request = testing.wait_for_request(run)
    hitl.vote(run.id, approve=True, by="alice")
    hitl.vote(run.id, approve=True, by="bob")
    with pytest.raises(hitl.AlreadyDecidedError, match="already decided by bob"):
        hitl.vote(request.request_id, approve=False, by="carol")
    assert [b.voter for b in hitl.store().request(request.request_id).votes] == ["alice", "bob"]
    assert run.result(timeout=30)["outcome"] == "approved"


def test_only_the_quorums_people_vote() -> None:
    """Someone not in ``of`` is refused (NotAllowedError) and nothing is stored."""
    run = Release.start()
    request = testing.wait_for_request(run)
    with pytest.raises(hitl.NotAllowedError, match="needs votes from alice, bob, carol"):
        hitl.vote(run.id, approve=True, by="mallory")
    assert hitl.store().request(request.request_id).votes == []


def test_the_requester_may_not_vote_and_does_not_count() -> None:
    """With allow_requester=False the requester is refused, and 2 of the 2 others remain."""
    run = Release.start(allow_requester=False, veto=False, requester="alice")
    testing.wait_for_request(run)
    with pytest.raises(hitl.NotAllowedError, match="requester"):
        hitl.vote(run.id, approve=True, by="alice")
    vote = hitl.vote(run.id, approve=False, by="bob")
    assert vote.decision is not None and vote.decision.outcome == "rejected"


def test_respond_is_refused_with_a_pointer_to_voting() -> None:
    """An answer to a quorum request is refused: it says to vote; nothing is decided."""
    run = Release.start()
    testing.wait_for_request(run)
    with pytest.raises(hitl.InvalidAnswerError, match=r"2 of 3 approvals .* vote with hitl.vote"):
        hitl.respond(run.id, approve=True, by="alice")
    assert hitl.store().requests(run.id)[0].is_open


def test_a_vote_on_a_request_without_quorum_is_refused() -> None:
    """A vote on an ordinary request is refused (it takes one answer); an unknown id is not found."""
    run = Plain.start()
    testing.wait_for_request(run)
    with pytest.raises(hitl.InvalidAnswerError, match="takes one answer, not votes"):
        hitl.vote(run.id, approve=True, by="alice")
    with pytest.raises(hitl.NotFoundError):
        hitl.vote("no-such-request", approve=True, by="alice")
    hitl.respond(run.id, approve=True, by="alice")
    assert run.result(timeout=30) == "approved"


def test_two_votes_at_the_same_instant_never_leave_a_request_stuck() -> None:
    """Two approvals sent at once to each of many requests: every request is decided approved,
    by exactly one of the two votes (the lab's insert-then-count race left 243 of 300 open)."""
    n = 60
    run = Batch.start(n)
    testing.wait_until(lambda: len(hitl.store().requests(run.id)) == n, timeout=60)
    decided: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    for request in hitl.store().requests(run.id):
        barrier = threading.Barrier(2)

        def approve(voter: str, request_id: str = request.request_id) -> None:
            barrier.wait()
            try:
                vote = hitl.vote(request_id, approve=True, by=voter)
            except BaseException as error:  # noqa: BLE001 - reported by the assertion below
                errors.append(error)
                return
            if vote.decision is not None:
                with lock:
                    decided.append(request_id)

        threads = [threading.Thread(target=approve, args=(v,)) for v in ("alice", "bob")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert sorted(decided) == sorted(r.request_id for r in hitl.store().requests(run.id))
    assert run.result(timeout=60) == ["approved"] * n
