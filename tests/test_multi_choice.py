"""Multiple choices: a person picks several options, as many as the request's count rule says,
through Python, the command line and HTTP, on SQLite and Postgres."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._service.cli import app
from hitl_notebook.http import TokenAuth, create_app

AUTH = TokenAuth({"alice": "alice-token-123"})
ALICE = {"Authorization": "Bearer alice-token-123"}
EXTRAS = ["gift wrap", "express", "insurance"]


class ExtrasPicker(hitl.Agent):
    """Asks which extras to add (1 or 2 of three); returns the picked list and the outcome."""

    def run(self, timeout: float | None = None, default: list[str] | None = None) -> dict[str, Any]:
        decision = self.request_choice(
            "Which extras?", EXTRAS, multiple=True, min=1, max=2, timeout=timeout, default=default
        )
        return {"value": decision.value, "outcome": decision.outcome.value, "by": decision.by}


class OnePicker(hitl.Agent):
    """Asks for one option in one ``ask``, with a multiple choice beside it."""

    def run(self) -> list[Any]:
        one, several = self.ask(
            hitl.Question.choice("Carrier?", ["ups", "dhl"], key="carrier"),
            hitl.Question.choice("Extras?", EXTRAS, multiple=True, min=0, key="extras"),
        )
        return [one.value, several.value]


def invoke(*args: str) -> Result:
    """``hitl ARGS`` on a terminal wide enough for every column of ``hitl inbox``."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture
def client(runtime: hitl.Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(hitl.store(), AUTH)) as test_client:
        yield test_client


@pytest.mark.usefixtures("runtime")
def test_picked_options_come_back_in_the_options_order() -> None:
    """The request stores multiple and its counts; the decision's value lists the picks in the
    options' order; a retry of the same picks in another order is the same decision. At the
    deadline the default list applies, recorded as a timeout."""
    run, late = ExtrasPicker.start(), ExtrasPicker.start(0.5, ["insurance"])
    request = testing.wait_for_request(run)
    assert (request.kind, request.multiple, request.min_choices, request.max_choices) == (
        "choice",
        True,
        1,
        2,
    )
    decision = hitl.respond(run.id, choices=["insurance", "gift wrap"], by="alice")
    assert (decision.outcome, decision.value) == ("chose", ["gift wrap", "insurance"])
    again = hitl.respond(request.request_id, choices=("gift wrap", "insurance"), by="alice")
    assert again == decision
    assert run.result(timeout=30) == {
        "value": ["gift wrap", "insurance"],
        "outcome": "chose",
        "by": "alice",
    }
    frame = hitl.decisions(run.id)
    assert json.loads(frame["value"][0]) == ["gift wrap", "insurance"]
    assert late.result(timeout=30) == {"value": ["insurance"], "outcome": "timed_out", "by": None}


@pytest.mark.usefixtures("runtime")
def test_wrong_picks_are_refused_and_the_run_keeps_waiting() -> None:
    """Too many, too few, unknown and repeated options, ``choice=``, and odd picks (NUL, a lone
    surrogate, not text, a huge list) are refused with what to do; the run still waits, and a
    valid answer then resumes it."""
    run = ExtrasPicker.start()
    request = testing.wait_for_request(run)
    cases = [
        (["gift wrap", "express", "insurance"], "pick 1 to 2 of the options, not 3"),
        ([], "pick 1 to 2 of the options, not 0"),
        (["parachute"], "'parachute' is not one of the options"),
        (["express", "express"], "'express' is picked more than once"),
    ]
    for choices, says in cases:
        with pytest.raises(hitl.InvalidAnswerError, match=says):
            hitl.respond(run.id, choices=choices)
    with pytest.raises(hitl.InvalidAnswerError, match="takes several options, choices="):
        hitl.respond(run.id, choice="express")
    with pytest.raises(hitl.InvalidAnswerError, match=r"answered with choices=.*pick 1 to 2"):
        hitl.respond(run.id, approve=True)
    odd: list[tuple[Any, str]] = [
        (["gift\x00wrap"], "NUL"),
        (["gift\ud800wrap"], "lone surrogate"),
        ([1], "valid string"),
        (["express"] * 100_000, "picked more than once"),
        ([f"extra {i}" for i in range(10_000)], "and more picks that do not fit"),
        ("express", "valid list"),
    ]
    for choices, says in odd:
        with pytest.raises(hitl.InvalidAnswerError, match=says):
            hitl.respond(run.id, choices=choices)
    assert hitl.store().request(request.request_id).is_open
    assert run.status.status == "waiting"
    hitl.store().respond(run.id, response="express")  # a one-word response picks one option
    assert run.result(timeout=30)["value"] == ["express"]


@pytest.mark.usefixtures("runtime")
def test_a_single_choice_refuses_several_and_zero_may_be_picked() -> None:
    """A single choice refuses ``choices=``; a multiple choice with min=0 takes an empty list."""
    run = OnePicker.start()
    testing.wait_until(lambda: len(run.requests(open_only=True)) == 2, timeout=30)
    with pytest.raises(hitl.InvalidAnswerError, match="takes one option, choice="):
        hitl.respond(f"{run.id}.carrier", choices=["ups"])
    hitl.respond(f"{run.id}.carrier", choice="dhl")
    hitl.respond(f"{run.id}.extras", choices=[])
    assert run.result(timeout=30) == ["dhl", []]


def test_counts_and_defaults_are_checked_when_the_question_is_built() -> None:
    """0 <= min <= max <= the number of options, and a default that fits, or a clear error."""
    bad: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"min": 3, "max": 2}, ValueError, "0 <= min <= max <= 3"),
        ({"max": 4}, ValueError, "0 <= min <= max <= 3"),
        ({"min": -1}, ValueError, "0 <= min <= max <= 3"),
        ({"min": 1.5}, TypeError, "whole number"),
        ({"default": "express"}, TypeError, "a list of options"),
        ({"default": ["express", "nope"]}, ValueError, "'nope' is not one of the options"),
        ({"default": [], "min": 1}, ValueError, "pick 1 to 3 of the options, not 0"),
        ({"default": ["express\x00"]}, ValueError, "does not fit"),
    ]
    for options, error, says in bad:
        with pytest.raises(error, match=says):
            hitl.Question.choice("Extras?", EXTRAS, multiple=True, **options)
    question = hitl.Question.choice("Extras?", EXTRAS, multiple=True, max=None)
    assert (question.min_choices, question.max_choices) == (1, 3)


@pytest.mark.usefixtures("runtime")
def test_the_command_line_picks_with_repeated_choose() -> None:
    """``--choose`` repeated picks several; ``hitl show`` says how many; a wrong pick is refused
    in the command line's words; one ``--choose`` on a multiple choice picks one."""
    first, second = ExtrasPicker.start(), ExtrasPicker.start()
    request = testing.wait_for_request(first)
    testing.wait_for_request(second)
    db = ["--db", hitl.store().database.url]
    shown = invoke("show", request.request_id, *db)
    assert shown.exit_code == 0, shown.output
    assert "pick 1 to 2 (--choose OPTION, repeated)" in shown.stdout
    assert "choice (pick 1 to 2)" in invoke("inbox", *db).stdout
    too_many = invoke(
        "respond",
        first.id,
        "--choose",
        "express",
        "--choose",
        "insurance",
        "--choose",
        "gift wrap",
        *db,
    )
    assert too_many.exit_code == 1
    assert "pick 1 to 2 of the options, not 3" in too_many.stderr
    nul = invoke("respond", first.id, "--choose", "exp\x00ress", "--choose", "insurance", *db)
    assert nul.exit_code == 1
    assert "NUL" in nul.stderr
    done = invoke(
        "respond", first.id, "--choose", "insurance", "--choose", "express", "--json", *db
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["value"] == ["express", "insurance"]
    one = invoke("respond", second.id, "--choose", "express", *db)
    assert one.exit_code == 0, one.output
    assert first.result(timeout=30)["value"] == ["express", "insurance"]
    assert second.result(timeout=30)["value"] == ["express"]


def test_http_lists_the_count_rule_and_takes_choices(client: TestClient) -> None:
    """GET /requests shows multiple, min and max; wrong picks, NUL and a lone surrogate are 422;
    ``choices`` resumes the run. The web inbox's row offers ``pick`` with its count rule; a
    wrong count is refused in the row's message, the right one decides."""
    run = ExtrasPicker.start()
    testing.wait_for_request(run)
    (listed,) = client.get("/requests", headers=ALICE).json()
    assert (listed["kind"], listed["options"]) == ("choice", EXTRAS)
    assert (listed["multiple"], listed["min_choices"], listed["max_choices"]) == (True, 1, 2)
    assert listed["input_schema"] is None
    url = f"/agents/{run.id}/respond"
    for body in (
        {"choices": EXTRAS},
        {"choice": "express"},
        {"choices": ["exp\x00ress"]},
        {"choices": "express"},
        {"choices": ["express"] * 600},
    ):
        refused = client.post(url, json=body, headers=ALICE)
        assert refused.status_code == 422, (body, refused.text)
    surrogate = client.post(
        url,
        content=b'{"choices": ["exp\\ud800ress"]}',
        headers={**ALICE, "Content-Type": "application/json"},
    )
    assert surrogate.status_code == 422, surrogate.text
    assert run.status.status == "waiting"
    answered = client.post(url, json={"choices": ["insurance", "gift wrap"]}, headers=ALICE)
    assert answered.status_code == 200, answered.text
    assert answered.json()["value"] == ["gift wrap", "insurance"]
    assert run.result(timeout=30)["value"] == ["gift wrap", "insurance"]

    other = ExtrasPicker.start()
    request = testing.wait_for_request(other)

    def send(message: dict[str, Any]) -> dict[str, Any]:
        reply = client.post("/inbox/messages", json={"message": message}, headers=ALICE)
        assert reply.status_code == 200, reply.text
        sent: dict[str, Any] = reply.json()["messages"][0]
        return sent

    row = send({"type": "hello"})["rows"][0]
    assert (row["actions"], row["picks"]) == (["pick"], {"min": 1, "max": 2, "rule": "pick 1 to 2"})
    respond = {"type": "respond", "request_id": request.request_id}
    refused = send({**respond, "choices": EXTRAS})
    assert not refused["ok"]
    assert "pick 1 to 2 of the options, not 3" in refused["message"]
    decided = send({**respond, "choices": ["insurance", "express"]})
    assert decided["ok"], decided
    assert "chose 'express', 'insurance' by alice" in decided["message"]
    assert other.result(timeout=30)["value"] == ["express", "insurance"]
