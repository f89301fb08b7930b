"""testing.Human answers by rules through the real store: every answer kind, deadlines passed on
the clock, late answers, answers after a delay, a replay of decisions from another database.

The clock is the pytest plugin's ``hitl_clock``, asked for before the runtime."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

import hitl_notebook as hitl
from hitl_notebook import Runtime, testing
from tests.agents import Approver, Chooser, Editor, Waiter, Writer
from tests.test_quorum import Release


def test_the_human_gives_each_kind_of_answer_by_its_rules(runtime: Runtime, tmp_path: Path) -> None:
    """First matching rule wins: approve, reject, edit, choose, write, and any respond keywords."""
    counter = str(tmp_path / "count")
    small, big = Approver.start("S-1", counter), Approver.start("B-2", counter)
    edited, chosen, written = Editor.start(), Chooser.start(), Writer.start()
    generic = Chooser.start()
    human = (
        testing.Human(by="alice")
        .approve(when=lambda r: r.proposal is not None and r.proposal["order_id"] == "S-1")
        .reject(testing.match(agent="Approv*"), comment="too big")
        .edit({"amount": 7.5}, kind="edit")
        .answer(when=lambda r: r.run_id == generic.id, choice="blue")
        .choose("green", title="Whi*")
        .write(lambda r: f"hello from {r.agent}")
    )
    with human.running():
        assert small.result(timeout=30)["outcome"] == "approved"
        assert big.result(timeout=30)["outcome"] == "rejected"
        assert edited.result(timeout=30) == {
            "outcome": "edited",
            "value": {"order_id": "E-1", "amount": 7.5, "note": ""},
        }
        assert chosen.result(timeout=30) == "chose:green"
        assert generic.result(timeout=30) == "chose:blue"
        assert written.result(timeout=30) == "hello from Writer"
    assert len(human.answered) == 6
    assert not human.refused
    assert all(a.ok and a.decision is not None and a.by == "alice" for a in human.answered)
    decided = hitl.decisions().set_index("run_id")
    assert set(decided["by"]) == {"alice"}
    assert set(decided["channel"]) == {"simulated"}
    assert decided.loc[big.id, "comment"] == "too big"


def test_an_ignored_4h_request_takes_its_default_in_about_a_second_and_reads_as_4h(
    hitl_clock: testing.Clock, runtime: Runtime
) -> None:
    """run_until moves the clock past the deadline nobody answers; the wait reads four hours."""
    human = testing.Human(clock=hitl_clock).ignore()
    started = time.monotonic()
    assert (
        human.run_until(Chooser.start(timeout="4h", default="red"), timeout=10) == "timed_out:red"
    )
    assert time.monotonic() - started < 5
    (decided,) = hitl.decisions().itertuples()
    assert decided.timed_out
    assert timedelta(hours=4) <= decided.wait < timedelta(hours=4, seconds=5)
    assert not human.answered


def test_an_answer_after_2h_on_the_clock_reads_as_2h(
    hitl_clock: testing.Clock, runtime: Runtime
) -> None:
    """``after=`` answers that long after the request was made; the clock gets there at once."""
    human = testing.Human(by="bob", clock=hitl_clock).choose("blue", after="2h")
    assert human.run_until(Chooser.start(timeout="4h", default="red"), timeout=10) == "chose:blue"
    (decided,) = hitl.decisions().itertuples()
    assert (decided.by, decided.outcome) == ("bob", "chose")
    assert timedelta(hours=2) <= decided.wait < timedelta(hours=2, seconds=5)


def test_a_late_answer_is_refused_and_recorded_not_raised(
    hitl_clock: testing.Clock, runtime: Runtime
) -> None:
    """``late=True`` answers past the deadline: the default applies, the refusal is kept."""
    human = testing.Human(clock=hitl_clock).choose("blue", late=True)
    assert (
        human.run_until(Chooser.start(timeout="1h", default="red"), timeout=10) == "timed_out:red"
    )
    testing.wait_until(lambda: human.refused, timeout=5, message="the late answer")
    (refused,) = human.refused
    assert isinstance(refused.error, hitl.DeadlinePassedError)
    assert not human.answered
    assert hitl.decisions()["late_answers"].tolist() == [1]


def test_replaying_decisions_from_another_database_reproduces_their_outcomes(
    hitl_clock: testing.Clock, db_url: str, tmp_path: Path
) -> None:
    """Decisions recorded elsewhere answer the same questions here, by the same people."""
    counter = str(tmp_path / "count")
    production = testing.fresh_database("sqlite", prepared=True)
    with testing.launched(production, executor="production"):
        recorder = (
            testing.Human(by="carol", clock=hitl_clock)
            .edit({"amount": 9.0}, agent="Editor", after="30m")
            .reject(agent="Approver", comment="no", after="1h")
            .choose("green", after="10m")
            .ignore(agent="Writer")
        )
        runs = [
            Approver.start("P-1", counter),
            Editor.start(),
            Chooser.start(timeout="1h", default="red"),
            Writer.start(),
        ]
        writer = runs[-1]
        for run in runs:  # all asking before the clock moves (it moves over what is seen)
            run.wait_for_request()
        recorder.run_until(lambda: all(r.state == "SUCCESS" for r in runs[:3]), timeout=15)
        writer.cancel(by="carol")
        recorded = hitl.decisions()
        outcomes = [r.result(timeout=5) for r in runs[:3]]
    with testing.launched(db_url, executor="pytest"):
        replayer = testing.Human(clock=hitl_clock).replay(recorded)
        again = [Approver.start("P-1", counter), Editor.start(), Chooser.start("1h", "red")]
        for run in again:
            run.wait_for_request()
        replayed = [replayer.run_until(run, timeout=15) for run in again]
        decided = hitl.decisions()
    assert [o if isinstance(o, str) else o["outcome"] for o in replayed] == [
        o if isinstance(o, str) else o["outcome"] for o in outcomes
    ]
    assert replayed[1]["value"]["amount"] == 9.0
    assert sorted(decided["by"]) == ["carol"] * 3
    assert sorted(decided["wait"].dt.round("1min")) == sorted(recorded["wait"].dt.round("1min"))


def test_run_until_names_the_request_nobody_answers_when_it_gives_up(runtime: Runtime) -> None:
    """A request with no deadline and no rule for it: a TimeoutError that says so."""
    run = Waiter.start()
    human = testing.Human().approve(agent="Nobody")
    with pytest.raises(TimeoutError, match="Anything\\?"):
        human.run_until(run, timeout=0.5)
    run.cancel(by="tester")


def test_rules_refuse_what_no_answer_can_be() -> None:
    """A bad delay, an unknown answer keyword or several choices where none are taken: at once."""
    human = testing.Human()
    for bad in (float("nan"), "1M", -5):
        with pytest.raises(ValueError, match="after"):
            human.approve(after=bad)
    with pytest.raises(TypeError, match=r"hitl\.respond takes no bogus"):
        human.answer(bogus=1)
    with pytest.raises(TypeError, match="A rule takes no titel"):
        human.approve(titel="Refund*")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="not a valid RequestKind"):
        human.approve(kind="wish")


def test_an_answer_the_store_refuses_is_recorded_and_the_run_keeps_waiting(
    runtime: Runtime,
) -> None:
    """Odd input (a NUL in the responder, an edit out of range) is refused, never half-stored."""
    edited = Editor.start()
    request = edited.wait_for_request()
    human = testing.Human(by="nul\x00").approve()
    assert [a.ok for a in human.step()] == [False]
    human = testing.Human().edit({"amount": float("nan")})
    (refused,) = human.step()
    assert isinstance(refused.error, hitl.InvalidAnswerError)
    assert hitl.store().request(request.request_id).is_open
    testing.Human().edit({"amount": 1.0}).step()
    assert edited.result(timeout=10)["value"]["amount"] == 1.0


def test_people_on_a_quorum_vote_and_the_rule_decides(runtime: Runtime) -> None:
    """Each human's approval is a vote on a request that needs two; the second decides."""
    run = Release.start()
    run.wait_for_request()
    (first,) = testing.Human(by="alice").approve().step()
    assert first.vote is not None
    assert first.decision is None
    (second,) = testing.Human(by="bob").approve(comment="fine").step()
    assert second.decision is not None
    assert second.decision.outcome == "approved"
    assert run.result(timeout=10)["outcome"] == "approved"


class Address(BaseModel):
    city: str
    zip: str = Field(pattern=r"^\d{5}$")


@hitl.agent
def ask_form_and_picks() -> dict[str, object]:
    """Asks for a form filled from scratch, then for several picks."""
    address = hitl.request_input("Ship where?", Address).value
    picks = hitl.request_choice("Extras?", ["gift", "fast", "insured"], multiple=True, max=2)
    return {"address": address.model_dump(), "extras": picks.value}


def test_the_human_fills_forms_and_picks_several(runtime: Runtime) -> None:
    """fill answers an input request with the model's fields; choose([...]) picks several."""
    human = (
        testing.Human(by="dana")
        .fill({"city": "Lyon", "zip": "69001"}, kind="input")
        .choose(["insured", "gift"], title="Extras?")
    )
    assert human.run_until(ask_form_and_picks.start(), timeout=30) == {
        "address": {"city": "Lyon", "zip": "69001"},
        "extras": ["gift", "insured"],
    }
    assert [a.request.kind for a in human.answered] == ["input", "choice"]
    assert not human.refused


def test_the_clock_waits_for_an_answered_run_before_moving_on(
    hitl_clock: testing.Clock, runtime: Runtime
) -> None:
    """A run answered at 2h finishes at 2h on the clock, though another request is due at 4h."""
    answered, ignored = Chooser.start(), Chooser.start(timeout="4h", default="red")
    for run in (answered, ignored):
        run.wait_for_request()
    human = (
        testing.Human(clock=hitl_clock)
        .choose("blue", after="2h", when=lambda r: r.run_id == answered.id)
        .ignore()
    )
    assert human.run_until(answered, timeout=10) == "chose:blue"
    history = hitl.history(answered.id)
    asked_at, finished_at = history["at"].iloc[0], history["at"].iloc[-1]
    assert history["status"].iloc[-1] == "finished"
    assert timedelta(hours=2) <= finished_at - asked_at < timedelta(hours=2, seconds=5)
    assert human.run_until(ignored, timeout=10) == "timed_out:red"
