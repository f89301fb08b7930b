"""Input requests: a person fills in a pydantic model from scratch (no proposal), through Python,
the command line and HTTP, on SQLite and Postgres."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from typer.testing import CliRunner, Result

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._service.cli import app
from hitl_notebook.http import TokenAuth, create_app

AUTH = TokenAuth({"alice": "alice-token-123"})
ALICE = {"Authorization": "Bearer alice-token-123"}


class Address(BaseModel):
    street: str = Field(min_length=1)
    city: str
    floor: int = Field(default=0, ge=0, le=99)
    express: bool = False
    kind: Literal["home", "work"] = "home"


class AddressTaker(hitl.Agent):
    """Asks for a shipping address; returns what it got back, and as what type."""

    def run(self, timeout: float | None = None, with_default: bool = False) -> dict[str, Any]:
        default = Address(street="Depot 1", city="Oslo") if with_default else None
        decision = self.request_input(
            "Where do we ship?",
            Address,
            body="No proposal: fill it in.",
            timeout=timeout,
            default=default,
        )
        value = decision.value
        return {
            "type": type(value).__name__,
            "value": value.model_dump(),
            "outcome": decision.outcome.value,
            "by": decision.by,
        }


class AskedTogether(hitl.Agent):
    """Asks for an address and a text in one ``ask``."""

    def run(self) -> list[str]:
        address, note = self.ask(
            hitl.Question.input("Address?", Address, key="address"),
            hitl.Question.text("Note?", key="note"),
        )
        return [address.value.city, note.value]


GOOD = {"street": "1 Main St", "city": "Bergen", "floor": 3, "express": True, "kind": "work"}


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def client(runtime: hitl.Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(hitl.store(), AUTH)) as test_client:
        yield test_client


@pytest.mark.usefixtures("runtime")
def test_a_filled_form_or_the_default_comes_back_to_the_agent_as_its_model() -> None:
    """The request stores the model's schema and path and no proposal; the answer is validated
    and the run gets an Address (people read 'answered'); at the deadline the default instance
    applies, recorded as a timeout; ``Question.input`` goes in one ``ask`` with a text."""
    run, late, together = AddressTaker.start(), AddressTaker.start(0.5, True), AskedTogether.start()
    request = testing.wait_for_request(run)
    assert (request.kind, request.proposal) == ("input", None)
    assert request.proposal_schema is not None
    assert request.proposal_schema["required"] == ["street", "city"]
    assert request.proposal_model == f"{__name__}:Address"
    decision = hitl.respond(run.id, value=Address(**GOOD), by="alice")
    assert (decision.outcome, decision.value, decision.approved) == ("answered", GOOD, None)
    assert run.result(timeout=30) == {
        "type": "Address",
        "value": GOOD,
        "outcome": "answered",
        "by": "alice",
    }
    frame = hitl.decisions(run.id)
    assert (frame["kind"][0], frame["outcome"][0]) == ("input", "answered")
    assert json.loads(frame["value"][0]) == GOOD

    result = late.result(timeout=30)
    assert (result["type"], result["outcome"], result["by"]) == ("Address", "timed_out", None)
    assert result["value"]["street"] == "Depot 1"

    testing.wait_until(lambda: len(together.requests(open_only=True)) == 2, timeout=30)
    hitl.respond(f"{together.id}.note", text="ring twice")
    hitl.respond(f"{together.id}.address", value=GOOD)
    assert together.result(timeout=30) == ["Bergen", "ring twice"]


@pytest.mark.usefixtures("runtime")
def test_an_invalid_form_is_refused_and_the_run_keeps_waiting() -> None:
    """Missing and out-of-range fields are named, and odd values (NUL, a lone surrogate, NaN,
    nesting too deep) refused: nothing is stored, the run still waits; an input request cannot
    be declined; a valid answer then resumes the run."""
    run = AddressTaker.start()
    request = testing.wait_for_request(run)
    with pytest.raises(hitl.InvalidAnswerError) as refused:
        hitl.respond(run.id, value={"street": "", "floor": 120}, by="alice")
    problems = refused.value.problems
    assert "city: a value is required" in problems
    assert any(p.startswith("floor: ") and "99" in p for p in problems), problems
    assert any(p.startswith("street: ") for p in problems), problems
    with pytest.raises(hitl.InvalidAnswerError, match=r"not approved or declined.*cancel"):
        hitl.respond(run.id, approve=False, by="alice")
    with pytest.raises(hitl.InvalidAnswerError, match="answered with value="):
        hitl.respond(run.id, text="Bergen", by="alice")
    with pytest.raises(hitl.InvalidAnswerError, match="not a response"):
        hitl.store().respond(run.id, response="confirm")
    deep: Any = "x"
    for _ in range(100):
        deep = [deep]
    odd = [
        ({**GOOD, "city": "Ber\x00gen"}, "NUL"),
        ({**GOOD, "city": "Ber\ud800gen"}, "lone surrogate"),
        ({**GOOD, "floor": math.nan}, "nan"),
        ({**GOOD, "city": deep}, "deeper than"),
        ({**GOOD, "city": "x" * 100_000, "floor": "three"}, "floor"),
    ]
    for value, says in odd:
        with pytest.raises(hitl.InvalidAnswerError, match=says):
            hitl.respond(run.id, value=value)
    assert hitl.store().request(request.request_id).is_open
    assert run.status.status == "waiting"
    hitl.respond(run.id, value={"street": "2 Side St", "city": "Oslo"}, by="alice")
    result = run.result(timeout=30)
    assert result["value"] == {
        "street": "2 Side St",
        "city": "Oslo",
        "floor": 0,
        "express": False,
        "kind": "home",
    }


def test_building_an_input_question_checks_its_model_and_default() -> None:
    """A model that is not a pydantic class, a default of another type or one JSON cannot hold
    are refused when the question is built."""
    with pytest.raises(TypeError, match="pydantic model class"):
        hitl.Question.input("Address?", dict)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="instance of Address"):
        hitl.Question.input("Address?", Address, default={"city": "Oslo"})  # type: ignore[arg-type]

    class Reading(BaseModel):
        value: float

    with pytest.raises(ValueError, match="default/value is nan"):
        hitl.Question.input("Reading?", Reading, default=Reading(value=math.nan))


@pytest.mark.usefixtures("runtime")
def test_the_command_line_fills_in_a_form() -> None:
    """``hitl respond --input-json``: refused in the command line's words when it does not fit
    (or is not JSON), then accepted; ``hitl show`` and ``hitl inbox`` name the kind."""
    run = AddressTaker.start()
    request = testing.wait_for_request(run)
    db = ["--db", hitl.store().database.url]
    shown = invoke("show", request.request_id, *db)
    assert shown.exit_code == 0, shown.output
    assert "input" in shown.stdout
    assert "street" in shown.stdout
    assert "integer >=0 <=99" in shown.stdout
    listed = invoke("inbox", "--json", *db)
    assert json.loads(listed.stdout)[0]["kind"] == "input"
    assert "input (a form)" in invoke("inbox", *db).stdout
    missing = invoke("respond", run.id, "--input-json", '{"street": "1 Main St"}', *db)
    assert missing.exit_code == 1
    assert "city: a value is required" in missing.stderr
    for bad, says in [
        ('{"street": NaN}', "NaN is not a number in JSON"),
        ("[1]", "--input-json takes a JSON object"),
        ("{", "--input-json is not valid JSON"),
        ('{"city": "a\\u0000b", "street": "x"}', "NUL"),
        ('{"city": "a\\ud800b", "street": "x"}', "lone surrogate"),
        ("[" * 100_000, "nested too deeply"),
        (json.dumps({**GOOD, "city": json.loads("[" * 80 + "]" * 80)}), "deeper than"),
    ]:
        done = invoke("respond", run.id, "--input-json", bad, *db)
        assert done.exit_code in (1, 2), done.output
        assert says in done.stderr, done.stderr
    rejected = invoke("respond", run.id, "--reject", *db)
    assert "not approved or declined" in rejected.stderr
    assert "approve=" not in rejected.stderr
    assert hitl.store().request(request.request_id).is_open
    done = invoke("respond", run.id, "--input-json", json.dumps(GOOD), "--json", *db)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["value"] == GOOD
    assert run.result(timeout=30)["value"] == GOOD


def test_http_lists_the_form_schema_and_takes_the_answer(client: TestClient) -> None:
    """GET /requests shows kind input with the form's JSON schema; a body that does not fit
    (a missing field, NUL, NaN) is 422 naming the problem; a valid ``value`` resumes the run.
    The web inbox (the widget's messages over HTTP) offers ``fill``, sends the blank form with
    the model's defaults, and takes the filled form."""
    run = AddressTaker.start()
    testing.wait_for_request(run)
    (listed,) = client.get("/requests", headers=ALICE).json()
    assert listed["kind"] == "input"
    assert listed["proposal"] is None
    assert listed["input_schema"]["properties"]["kind"]["enum"] == ["home", "work"]
    url = f"/agents/{run.id}/respond"
    missing = client.post(url, json={"value": {"street": "x"}}, headers=ALICE)
    assert missing.status_code == 422
    assert "city: a value is required" in missing.json()["detail"]["message"]
    nul = client.post(url, json={"value": {**GOOD, "city": "a\x00b"}}, headers=ALICE)
    assert nul.status_code == 422
    nan = client.post(
        url,
        content=b'{"value": {"street": "x", "city": "y", "floor": NaN}}',
        headers={**ALICE, "Content-Type": "application/json"},
    )
    assert nan.status_code == 422
    odd = [
        b'{"value": {"street": "x", "city": "a\\ud800b"}}',
        b'{"value": {"street": "x", "city": ' + b"[" * 80 + b"]" * 80 + b"}}",
    ]
    for content in odd:
        refused = client.post(
            url, content=content, headers={**ALICE, "Content-Type": "application/json"}
        )
        assert refused.status_code == 422, refused.text
    declined = client.post(url, json={"approve": False}, headers=ALICE)
    assert declined.status_code == 422
    assert run.status.status == "waiting"
    answered = client.post(url, json={"value": GOOD}, headers=ALICE)
    assert answered.status_code == 200, answered.text
    assert (answered.json()["outcome"], answered.json()["by"]) == ("answered", "alice")
    assert run.result(timeout=30)["value"] == GOOD

    other = AddressTaker.start()
    request = testing.wait_for_request(other)

    def send(message: dict[str, Any]) -> list[dict[str, Any]]:
        reply = client.post("/inbox/messages", json={"message": message}, headers=ALICE)
        assert reply.status_code == 200, reply.text
        sent: list[dict[str, Any]] = reply.json()["messages"]
        return sent

    (snapshot,) = send({"type": "hello"})
    assert [row["actions"] for row in snapshot["rows"]] == [["fill"]]
    (form,) = send({"type": "form", "request_id": request.request_id})
    assert form["fill"] is True
    assert form["form"]["value"] == {
        "street": None,
        "city": None,
        "floor": 0,
        "express": False,
        "kind": "home",
    }
    result = send({"type": "respond", "request_id": request.request_id, "value": GOOD})[0]
    assert result["ok"], result
    assert other.result(timeout=30)["value"] == GOOD
