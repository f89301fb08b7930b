"""Quorum: k of n approvals by vote, a veto, one vote per person, decided once (SQLite and Postgres)."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from fastapi.testclient import TestClient

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook.http import TokenAuth, create_app
from tests.test_cli import hitl_all, hitl_cli
from tests.test_widget import _close_widgets, click, recording_comm  # noqa: F401 - fixtures

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


def test_a_vote_has_an_async_face() -> None:
    """``hitl.vote_async`` and ``Store.vote_async`` vote as their sync faces do."""
    run = Release.start()
    testing.wait_for_request(run)
    first = asyncio.run(hitl.store().vote_async(run.id, approve=True, by="alice"))
    vetoed = asyncio.run(hitl.vote_async(run.id, approve=False, by="bob"))
    assert first.decision is None
    assert vetoed.decision is not None and vetoed.decision.by == "bob"
    assert str(vetoed) == "bob rejected: 1 of 2 approvals; rejected by bob; rejected: vetoed by bob"


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

        def approve(
            voter: str, request_id: str = request.request_id, barrier: threading.Barrier = barrier
        ) -> None:
            barrier.wait()
            try:
                vote = hitl.vote(request_id, approve=True, by=voter)
            except BaseException as error:
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


# -- the faces: CLI, HTTP, widget ------------------------------------------------------------------


def test_cli_votes_and_show_lists_the_votes(db_url: str) -> None:
    """`hitl vote` records a vote (channel cli); a second by the same person fails with exit 1;
    `hitl show` lists the rule and who voted how; the deciding vote prints the decision."""
    run = Release.start()
    request = testing.wait_for_request(run)
    first = hitl_cli("vote", request.request_id, "--approve", "--by", "alice", "--db", db_url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "alice approved: 1 of 2 approvals."
    twice_done, shown, both = hitl_all(
        ["vote", request.request_id, "--reject", "--by", "alice", "--db", db_url],
        ["show", request.request_id, "--db", db_url],
        ["vote", request.request_id, "--db", db_url],
    )
    assert twice_done.returncode == 1
    assert "'alice' has already voted" in twice_done.stderr
    assert "2 of 3 approvals (alice, bob, carol); one rejection vetoes" in shown.stdout
    assert "alice approved at " in shown.stdout and "(cli)" in shown.stdout
    assert both.returncode == 2 and "exactly one of --approve, --reject" in both.stderr
    last = hitl_cli(
        "vote", run.id, "--approve", "--by", "bob", "--comment", "ok", "--json", "--db", db_url
    )
    assert last.returncode == 0, last.stderr
    voted = json.loads(last.stdout)
    assert voted["progress"] == "2 of 2 approvals"
    assert (voted["decision"]["by"], voted["decision"]["channel"]) == ("bob", "cli")
    assert run.result(timeout=30)["outcome"] == "approved"


def test_http_votes_as_the_authenticated_caller(runtime: hitl.Runtime) -> None:
    """POST /requests/{id}/votes votes as the token's identity; the listing and the request
    show the quorum and the votes; a double vote is 409, a stranger 403, `by` 422."""
    tokens = {"alice": "alice-token-123", "bob": "bob-token-4567", "eve": "eve-token-89012"}
    heads = {who: {"Authorization": f"Bearer {token}"} for who, token in tokens.items()}
    run = Release.start()
    request = testing.wait_for_request(run)
    url = f"/requests/{request.request_id}/votes"
    with TestClient(create_app(hitl.store(), TokenAuth(tokens))) as client:
        first = client.post(url, json={"approve": True, "comment": "yes"}, headers=heads["alice"])
        assert first.status_code == 200, first.text
        assert (first.json()["progress"], first.json()["decision"]) == ("1 of 2 approvals", None)
        assert first.json()["vote"]["channel"] == "http"
        again = client.post(url, json={"approve": False}, headers=heads["alice"])
        assert (again.status_code, again.json()["detail"]["error"]) == (409, "AlreadyVotedError")
        assert client.post(url, json={"approve": True}, headers=heads["eve"]).status_code == 403
        named = client.post(url, json={"approve": True, "by": "bob"}, headers=heads["eve"])
        assert named.status_code == 422
        listed = client.get("/requests", headers=heads["bob"]).json()
        (item,) = [i for i in listed if i["request_id"] == request.request_id]
        assert item["quorum"] == {"k": 2, "of": ["alice", "bob", "carol"], "veto": True}
        assert [(v["voter"], v["approve"]) for v in item["votes"]] == [("alice", True)]
        answered = client.post(
            f"/requests/{request.request_id}/respond", json={"approve": True}, headers=heads["bob"]
        )
        assert answered.status_code == 422 and "vote" in answered.json()["detail"]["message"]
        decided = client.post(url, json={"approve": True}, headers=heads["bob"])
        assert decided.json()["decision"]["outcome"] == "approved"
        shown = client.get(f"/requests/{request.request_id}", headers=heads["bob"]).json()
        assert [v["voter"] for v in shown["votes"]] == ["alice", "bob"]
        assert shown["quorum"]["k"] == 2
    assert run.result(timeout=30)["by"] == "bob"


def test_the_widget_shows_two_of_three_and_who_voted_and_its_buttons_vote() -> None:
    """A row says the rule ("2 of 3"), the votes so far and who voted how; Approve votes as
    the widget's responder; the second approval decides and the row goes."""
    run = Release.start()
    request = testing.wait_for_request(run)
    alice = hitl.inbox().widget(responder="alice", live=False)
    (row,) = click(alice, type="hello")["rows"]
    assert row["quorum"]["rule"] == "2 of 3 approvals (alice, bob, carol); one rejection vetoes"
    assert (row["quorum"]["progress"], row["actions"], row["why_not"]) == (
        "0 of 2 approvals",
        ["approve", "reject"],
        None,
    )
    voted = click(alice, type="respond", request_id=request.request_id, approve=True)
    assert voted["ok"] and not voted["decided"]
    assert voted["message"].endswith("you approved; 1 of 2 approvals")
    (row,) = alice.rows
    assert row["quorum"]["progress"] == "1 of 2 approvals"
    assert [(v["voter"], v["word"], v["channel"]) for v in row["quorum"]["votes"]] == [
        ("alice", "approved", "widget")
    ]
    assert row["why_not"] == "you have voted (approved)"
    again = click(alice, type="respond", request_id=request.request_id, approve=False)
    assert not again["ok"] and "you have voted already" in again["message"]
    mallory = hitl.inbox().widget(responder="mallory", live=False)
    assert mallory.rows[0]["why_not"] == "it needs votes from alice, bob, carol"
    card = run.widget(responder="bob")
    assert card.card["requests"][0]["quorum"]["progress"] == "1 of 2 approvals"
    decided = click(card, type="respond", request_id=request.request_id, approve=True)
    assert decided["ok"] and decided["decided"]
    assert "approved by bob" in decided["message"]
    assert run.result(timeout=30)["comment"] == "approved by alice, bob"
    alice.refresh()
    assert alice.rows == []


def test_the_widgets_bulk_approve_votes_on_quorum_requests() -> None:
    """Approve selected: an ordinary request is answered, a quorum request gets the responder's
    vote (the second approver's vote decides it); a voter outside the quorum is refused."""
    plain, release = Plain.start(), Release.start()
    plain_request, release_request = (
        testing.wait_for_request(plain),
        testing.wait_for_request(release),
    )
    hitl.vote(release_request.request_id, approve=True, by="alice")
    bob = hitl.inbox().widget(responder="bob", live=False)
    ids = [plain_request.request_id, release_request.request_id]
    reply = click(bob, type="bulk", request_ids=ids, approve=True, comment="batch")
    assert reply["message"] == "1 approved, 1 voted on"
    assert sorted(reply["decided"]) == sorted(ids)
    assert reply["failed"] == {}
    assert plain.result(timeout=30) == "approved"
    assert release.result(timeout=30)["comment"] == "approved by alice, bob: batch"

    other = Release.start()
    other_request = testing.wait_for_request(other)
    mallory = hitl.inbox().widget(responder="mallory", live=False)
    refused = click(mallory, type="bulk", request_ids=[other_request.request_id], approve=True)
    assert refused["message"] == "0 approved, 1 refused"
    assert "mallory" in refused["failed"][other_request.request_id]
    assert hitl.store().request(other_request.request_id).votes == []
