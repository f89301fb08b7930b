"""Rules that broke without a test noticing: each test here fails when its rule is broken.

The assignee filter matches whole names; the same answer from another person is refused; a late
answer is refused, logged and counted; of many answers sent at once exactly one wins.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._db.database import Database, answers
from hitl_notebook._db.dbos_internals import PARKED_STATE
from hitl_notebook._store import answering as _answering
from hitl_notebook._store.store import Store
from hitl_notebook.http import create_app
from tests.agents import Assigned, Chooser, Writer
from tests.test_cli import hitl_cli, ok_json
from tests.test_http import AUTH, as_

RACERS = 8


def answer_log(store: Store) -> list[tuple[str, str, str]]:
    """The answer log as (by, channel, result), oldest first."""
    with store.database.engine.connect() as conn:
        rows = conn.execute(
            sa.select(answers.c.by, answers.c.channel, answers.c.result).order_by(
                answers.c.received_at_ms, answers.c.by
            )
        ).all()
    return [(row.by, row.channel, row.result) for row in rows]


# -- the assignee filter ------------------------------------------------------------------------


@pytest.mark.usefixtures("runtime")
def test_the_assignee_filter_matches_whole_names_not_parts_of_names(db_url: str) -> None:
    """`assignee="bo"` lists bo's requests, not bob's or bobby's: in Python, over HTTP, in the CLI."""
    runs = {
        "bo": Assigned.start(["bo"], "For bo"),
        "bob": Assigned.start(["bob"], "For bob"),
        "bobby": Assigned.start(["al", "bobby"], "For al and bobby"),
    }
    ids = {name: run.wait_for_request().request_id for name, run in runs.items()}
    names = {request_id: name for name, request_id in ids.items()}
    asked = ["bo", "bob", "bobby", "al", "b", "ob", "o"]
    expected = {
        "bo": {"bo"},
        "bob": {"bob"},
        "bobby": {"bobby"},
        "al": {"bobby"},
        "b": set(),
        "ob": set(),
        "o": set(),
    }

    def listed(items: Any) -> set[str]:
        return {
            names[item["request_id"] if isinstance(item, dict) else item.request_id]
            for item in items
        }

    in_python = {who: listed(hitl.inbox(assignee=who)) for who in asked}
    with TestClient(create_app(hitl.store(), AUTH)) as client:
        over_http = {
            who: listed(
                client.get("/requests", params={"assignee": who}, headers=as_("bob")).json()
            )
            for who in asked
        }
    in_the_cli = {
        who: listed(ok_json(hitl_cli("inbox", "--assignee", who, "--json", "--db", db_url)))
        for who in ("bo", "ob")
    }
    assert (in_python, over_http, in_the_cli) == (expected, expected, {"bo": {"bo"}, "ob": set()})


# -- the same answer from someone else ----------------------------------------------------------


@pytest.mark.usefixtures("runtime")
def test_the_same_text_from_another_person_is_refused_naming_the_first() -> None:
    """bob sending alice's answer again gets AlreadyDecidedError naming alice, not her decision."""
    run = Writer.start()
    request = run.wait_for_request()
    first = hitl.respond(request.request_id, text="ship it", by="alice")
    assert hitl.respond(request.request_id, text="ship it", by="alice") == first
    with pytest.raises(hitl.AlreadyDecidedError, match="already decided by alice") as refused:
        hitl.respond(request.request_id, text="ship it", by="bob")
    assert (refused.value.decided_by, refused.value.outcome) == ("alice", "answered")
    assert run.result(timeout=30) == "ship it"
    assert [d.by for d in run.decisions()] == ["alice"]
    assert answer_log(hitl.store()) == [("alice", "python", "accepted")]


@pytest.mark.usefixtures("runtime")
def test_the_same_approval_from_another_assignee_is_refused_in_python_and_over_http() -> None:
    """Two assignees approve: the second gets AlreadyDecidedError (409 over HTTP) naming the first."""
    run = Assigned.start(["alice", "bob"], "Refund?")
    request = run.wait_for_request()
    hitl.respond(request.request_id, approve=True, by="alice")
    with pytest.raises(hitl.AlreadyDecidedError, match="already decided by alice") as refused:
        hitl.respond(request.request_id, approve=True, by="bob")
    assert refused.value.decided_by == "alice"
    with TestClient(create_app(hitl.store(), AUTH)) as client:
        again = client.post(
            f"/requests/{request.request_id}/respond", json={"approve": True}, headers=as_("bob")
        )
    assert again.status_code == 409, again.text
    assert again.json()["detail"]["error"] == "AlreadyDecidedError"
    assert "already decided by alice" in again.json()["detail"]["message"]
    assert run.result(timeout=30) is True
    assert [d.by for d in run.decisions()] == ["alice"]


# -- a late answer -------------------------------------------------------------------------------


def test_an_answer_after_the_deadline_is_refused_logged_as_late_and_counted(
    hitl_clock: testing.Clock, db_url: str
) -> None:
    """A parked run not yet woken at its deadline: answers get DeadlinePassedError (410 over
    HTTP), each is logged as late, and the decision the run then takes counts them."""
    with testing.launched(db_url, executor="pytest", park_after=0):
        run = Chooser.start("4h", "green")
        request = run.wait_for_request()
        testing.wait_until(lambda: run.state == PARKED_STATE, message="parked")
    # No process runs the agent now: its deadline passes and nobody applies the default yet.
    deadline = request.deadline
    assert deadline is not None
    hitl_clock.set(deadline + timedelta(seconds=1))
    store = hitl.connect(db_url)
    with pytest.raises(hitl.DeadlinePassedError, match="recorded as late"):
        store.respond(request.request_id, choice="red", by="ana")
    with TestClient(create_app(store, AUTH)) as client:
        late = client.post(
            f"/requests/{request.request_id}/respond", json={"choice": "blue"}, headers=as_("bob")
        )
    assert late.status_code == 410, late.text
    assert store.request(request.request_id).is_open
    assert answer_log(store) == [("ana", "python", "late"), ("bob", "http", "late")]

    with testing.launched(db_url, executor="pytest", park_after=0):
        assert run.result(timeout=60) == "timed_out:green"
        (decision,) = hitl.decisions().to_dict("records")
    assert (decision["outcome"], decision["timed_out"], decision["late_answers"]) == (
        "timed_out",
        True,
        2,
    )


# -- first answer wins, in one process ------------------------------------------------------------


@pytest.fixture
def all_read_then_answer(monkeypatch: pytest.MonkeyPatch) -> threading.Barrier:
    """Hold each answer after it read the request, until RACERS answers have read it open.

    So every answer passes the store's "already decided?" check before any of them writes:
    only the database's first-answer-wins rule can pick the winner.
    """
    barrier = threading.Barrier(RACERS, timeout=60)
    real_target_request = _answering.target_request

    def target_request_then_wait(database: Database, target: str) -> hitl.Request:
        request = real_target_request(database, target)
        barrier.wait()
        return request

    monkeypatch.setattr(_answering, "target_request", target_request_then_wait)
    return barrier


@pytest.mark.usefixtures("all_read_then_answer")
@pytest.mark.parametrize("park_after", [None, 0], ids=["hot", "parked"])
@pytest.mark.parametrize("same_answer", [False, True], ids=["different", "same"])
def test_of_many_answers_sent_at_once_exactly_one_wins_and_the_run_resumes_once(
    db_url: str, park_after: float | None, same_answer: bool
) -> None:
    """RACERS people answer one request at the same moment (different answers, or the same one):
    one decision, RACERS - 1 AlreadyDecidedError naming the winner, one resume."""
    outcomes: dict[str, hitl.Decision | hitl.AlreadyDecidedError] = {}

    def answer(who: str) -> None:
        text = "the same" if same_answer else f"from {who}"
        try:
            outcomes[who] = hitl.respond(run.id, text=text, by=who)
        except hitl.AlreadyDecidedError as error:
            outcomes[who] = error

    with testing.launched(db_url, executor="pytest", park_after=park_after):
        run = Writer.start()
        run.wait_for_request()
        if park_after == 0:
            testing.wait_until(lambda: run.state == PARKED_STATE, message="parked")
        people = [f"person-{i}" for i in range(RACERS)]
        threads = [threading.Thread(target=answer, args=(who,)) for who in people]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert set(outcomes) == set(people)
        winners = [who for who, got in outcomes.items() if isinstance(got, hitl.Decision)]
        assert len(winners) == 1, outcomes
        (winner,) = winners
        for who, got in outcomes.items():
            if who != winner:
                assert isinstance(got, hitl.AlreadyDecidedError)
                assert got.decided_by == winner
                assert f"already decided by {winner}" in str(got)
        assert run.result(timeout=60) == ("the same" if same_answer else f"from {winner}")
        assert [d.by for d in run.decisions()] == [winner]
        assert [e.status for e in run.history()].count("resumed") == 1
        assert answer_log(hitl.store()) == [(winner, "python", "accepted")]
