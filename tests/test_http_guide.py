"""The DBOS guide's HTTP flow works as it is, and runs read in people's words, on both databases.

The guide ("Human-in-the-Loop", the agent-inbox demo) starts agents with ``POST /agents``, lists
``GET /agents/waiting`` and answers ``POST /agents/{id}/respond`` with ``{"response": "confirm"}``
or ``"deny"``; its agents publish their own status ("pending_approval") while they wait.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._core.models import RunStateWord, run_state_word
from hitl_notebook.http import TokenAuth, create_app
from tests.agents import Assigned, Chooser, Failing, Waiter, Writer

TOKENS = {"alice": "alice-token-123", "bob": "bob-token-4567", "eve": "eve-token-89012"}
DBOS_WORDS = re.compile(r"\b(PENDING|ENQUEUED|DELAYED|SUCCESS|ERROR|CANCELLED)\b")


def as_(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


class GuideAgent(hitl.Agent):
    """The guide's agent: says it is pending approval, then waits an hour for confirm or deny."""

    def run(self, task: str) -> str:
        self.status("working", f"Doing {task}")
        self.status("pending_approval", f"Should I proceed with task: {task}?")
        decision = self.request_approval(
            f"Should I proceed with task: {task}?", timeout="1h", on_timeout="reject"
        )
        if not decision.approved:
            raise PermissionError("Agent denied approval")
        self.status("working", "more work")
        return "Agent successful"


class Busy(hitl.Agent):
    """Works without asking anything until its flag file exists."""

    def run(self, flag: str) -> str:
        self.status("crunching", "numbers")
        testing.wait_until(lambda: Path(flag).exists(), timeout=120, message="the flag")
        return "crunched"


class Opaque:
    """A result with no JSON form."""

    def __repr__(self) -> str:
        return "Opaque(42)"


class OpaqueResult(hitl.Agent):
    def run(self) -> Opaque:
        return Opaque()


@pytest.fixture
def client(hot_runtime: hitl.Runtime) -> Iterator[TestClient]:
    """The API over a runtime whose waits never park (so a waiting run reads "waiting")."""
    with TestClient(create_app(hitl.store(), TokenAuth(TOKENS))) as test_client:
        yield test_client


def start(client: TestClient, task: str) -> str:
    started = client.post(
        "/agents", json={"agent": "GuideAgent", "args": [task]}, headers=as_("alice")
    )
    assert started.status_code == 201, started.text
    run_id: str = started.json()["run_id"]
    testing.wait_for_request(hitl.run(run_id))
    return run_id


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def test_the_guides_confirm_and_deny_answer_a_run(client: TestClient) -> None:
    """{"response": "confirm"} approves and "deny" rejects, by run id; the results read back."""
    confirmed, denied = start(client, "ship"), start(client, "delete")
    approved = ok(
        client.post(
            f"/agents/{confirmed}/respond", json={"response": "confirm"}, headers=as_("bob")
        )
    )
    assert (approved["outcome"], approved["by"], approved["channel"]) == ("approved", "bob", "http")
    rejected = ok(
        client.post(f"/agents/{denied}/respond", json={"response": "deny"}, headers=as_("bob"))
    )
    assert (rejected["outcome"], rejected["approved"]) == ("rejected", False)

    testing.wait_until(lambda: hitl.store().run_state(denied) == "ERROR", message="denied ends")
    assert hitl.run(confirmed).result(timeout=30) == "Agent successful"
    done = ok(client.get(f"/agents/{confirmed}", headers=as_("bob")))
    assert (done["state"], done["result"], done["error"]) == ("done", "Agent successful", None)
    failed = ok(client.get(f"/agents/{denied}", headers=as_("bob")))
    assert (failed["state"], failed["result"]) == ("failed", None)
    assert failed["error"] == {"type": "PermissionError", "message": "Agent denied approval"}


def test_a_response_answers_by_request_id_and_in_bulk_with_a_comment(client: TestClient) -> None:
    """The response field works on every answer endpoint, for every kind, with a comment."""
    pick, write = Chooser.start(), Writer.start()
    for run, word, outcome in [(pick, "green", "chose"), (write, "ship it", "answered")]:
        testing.wait_for_request(run)
        decided = ok(
            client.post(f"/agents/{run.id}/respond", json={"response": word}, headers=as_("bob"))
        )
        assert (decided["outcome"], decided["value"]) == (outcome, word)
    one, many = start(client, "one"), [start(client, "two"), start(client, "three")]
    (request,) = hitl.run(one).requests()
    decided = ok(
        client.post(
            f"/requests/{request.request_id}/respond",
            json={"response": "approve", "comment": "ok"},
            headers=as_("bob"),
        )
    )
    assert (decided["outcome"], decided["comment"]) == ("approved", "ok")
    bulk = ok(
        client.post(
            "/requests/respond", json={"targets": many, "response": "yes"}, headers=as_("bob")
        )
    )
    assert (sorted(bulk["decided"]), bulk["failed"]) == (sorted(many), {})
    assert {d["outcome"] for d in bulk["decided"].values()} == {"approved"}


def test_a_response_that_does_not_fit_is_422_and_the_agent_keeps_waiting(
    client: TestClient,
) -> None:
    """A word that is no answer, or a response next to another answer field, stores nothing."""
    run_id = start(client, "wait")
    for body, says in [
        ({"response": "maybe"}, "'maybe' is not a response to an approval request"),
        ({"response": "confirm", "approve": True}, "a response goes alone"),
    ]:
        refused = client.post(f"/agents/{run_id}/respond", json=body, headers=as_("bob"))
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"]["error"] == "InvalidAnswerError"
        assert says in refused.json()["detail"]["message"]
    assert hitl.run(run_id).requests(open_only=True)


def test_unknown_fields_are_refused_naming_them(client: TestClient) -> None:
    """A misspelt or misplaced field in any body is a 422 that names it; nothing is stored."""
    run_id = start(client, "typo")
    for path, body, named in [
        (f"/agents/{run_id}/respond", {"aprove": True}, "unknown field 'aprove'"),
        (f"/agents/{run_id}/respond", {"response": "confirm", "by": "bob"}, "unknown field 'by'"),
        ("/requests/respond", {"targets": [run_id], "approve": True, "who": "x"}, "'who'"),
        ("/agents", {"agent": "GuideAgent", "args": ["x"], "requester": "bob"}, "'requester'"),
    ]:
        refused = client.post(path, json=body, headers=as_("alice"))
        assert refused.status_code == 422, (path, refused.text)
        (problem,) = refused.json()["detail"]
        assert problem["type"] == "extra_forbidden"
        assert named in problem["msg"]
        assert "the fields are " in problem["msg"]
    by = client.post(f"/agents/{run_id}/respond", json={"by": "bob"}, headers=as_("alice"))
    assert "who answers is the authenticated caller" in by.json()["detail"][0]["msg"]
    assert hitl.run(run_id).requests(open_only=True)
    assert [run["run_id"] for run in ok(client.get("/agents", headers=as_("bob")))] == [run_id]


def test_the_agents_own_status_stays_visible_while_it_waits(client: TestClient) -> None:
    """ "pending_approval" shows in GET /agents, /agents/waiting, /agents/{id} and the inbox."""
    run_id = start(client, "ship")
    question = "Should I proceed with task: ship?"
    for listing in (
        ok(client.get("/agents", headers=as_("bob"))),
        ok(client.get("/agents/waiting", headers=as_("bob"))),
        ok(client.get("/agents", params={"status": "waiting"}, headers=as_("bob"))),
    ):
        (run,) = listing
        assert (run["run_id"], run["status"], run["run_state"]) == (run_id, "waiting", "waiting")
        assert (run["agent_status"], run["agent_detail"]) == ("pending_approval", question)
    detail = ok(client.get(f"/agents/{run_id}", headers=as_("bob")))
    assert (detail["state"], detail["status"]["status"]) == ("waiting", "waiting")
    assert (detail["agent_status"], detail["agent_detail"]) == ("pending_approval", question)
    assert (detail["result"], detail["error"]) == (None, None)  # read without waiting for it
    (item,) = ok(client.get("/requests", headers=as_("bob")))
    assert (item["agent_status"], item["status_detail"]) == ("pending_approval", question)


def test_runs_are_listed_by_state_in_peoples_words(client: TestClient, tmp_path: Path) -> None:
    """?status=waiting|running|done|failed|cancelled each list their runs; other words are 422."""
    flag = tmp_path / "flag"
    busy = Busy.start(str(flag))
    testing.wait_until(lambda: busy.status and busy.status.status == "crunching", message="busy")
    waiting = start(client, "wait")
    written = Writer.start()
    hitl.respond(testing.wait_for_request(written).request_id, text="hi", by="bob")
    failing = Failing.start()
    cancelled = Waiter.start()
    testing.wait_for_request(cancelled)
    cancelled.cancel(by="bob")
    assert written.result(timeout=30) == "hi"
    testing.wait_until(lambda: hitl.store().run_state(failing.id) == "ERROR", message="failed")

    def listed(status: str) -> list[str]:
        runs = ok(client.get("/agents", params={"status": status}, headers=as_("bob")))
        return [run["run_id"] for run in runs]

    assert listed("waiting") == [waiting]
    assert [run["run_id"] for run in ok(client.get("/agents/waiting", headers=as_("bob")))] == [
        waiting
    ]
    assert listed("done") == [written.id]
    assert listed("failed") == [failing.id]
    assert listed("cancelled") == [cancelled.id]
    assert listed("running") == [busy.id]
    states = {
        run["run_id"]: run["run_state"] for run in ok(client.get("/agents", headers=as_("bob")))
    }
    assert states == {
        busy.id: "running",
        waiting: "waiting",
        written.id: "done",
        failing.id: "failed",
        cancelled.id: "cancelled",
    }
    bogus = client.get("/agents", params={"status": "PENDING"}, headers=as_("bob"))
    assert bogus.status_code == 422
    assert "'waiting', 'running', 'done', 'failed' or 'cancelled'" in bogus.text
    failed = ok(client.get(f"/agents/{failing.id}", headers=as_("bob")))
    assert failed["error"] == {"type": "ValueError", "message": "the model said no"}
    flag.touch()
    assert busy.result(timeout=30) == "crunched"


def test_a_result_with_no_json_form_is_given_as_its_repr(client: TestClient) -> None:
    """GET /agents/{id} of a done run whose result is an arbitrary object gives its repr."""
    run = OpaqueResult.start()
    assert repr(run.result(timeout=30)) == "Opaque(42)"
    detail = ok(client.get(f"/agents/{run.id}", headers=as_("bob")))
    assert (detail["state"], detail["result"], detail["error"]) == ("done", "Opaque(42)", None)


def test_no_dbos_state_word_reaches_a_client(client: TestClient) -> None:
    """Listings, details and the inbox speak people's words, never PENDING or SUCCESS."""
    waiting = start(client, "wait")
    written = Writer.start()
    hitl.respond(testing.wait_for_request(written).request_id, text="hi", by="bob")
    assert written.result(timeout=30) == "hi"
    for path in ("/agents", "/agents/waiting", f"/agents/{waiting}", f"/agents/{written.id}"):
        text = client.get(path, headers=as_("bob")).text
        assert not DBOS_WORDS.search(text), (path, text)
    assert not DBOS_WORDS.search(client.get("/requests", headers=as_("bob")).text)


def test_the_documented_run_states_are_the_words_people_read(client: TestClient) -> None:
    """RunStateWord (in the OpenAPI schema) lists exactly the words run_state_word can say."""
    engine_states = [
        "PENDING",
        "ENQUEUED",
        "DELAYED",
        "SUCCESS",
        "ERROR",
        "CANCELLED",
        "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
        None,
    ]
    said = {
        run_state_word(state, waiting=waiting, started=started)
        for state in engine_states
        for waiting in (True, False)
        for started in (True, False)
    }
    assert said == set(get_args(RunStateWord))
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for model, field in [("RunSummary", "run_state"), ("WaitingRequest", "run_state")]:
        assert schemas[model]["properties"][field]["enum"] == list(get_args(RunStateWord))
    assert schemas["RunDetail"]["properties"]["state"]["enum"] == list(get_args(RunStateWord))


class TestCancel:
    """POST /agents/{id}/cancel: authorised like an answer, returns the run's detail."""

    def test_cancel_closes_the_run_and_its_requests(self, client: TestClient) -> None:
        run_id = start(client, "stop")
        cancelled = ok(client.post(f"/agents/{run_id}/cancel", headers=as_("bob")))
        assert (cancelled["run_id"], cancelled["state"]) == (run_id, "cancelled")
        assert [r["state"] for r in cancelled["requests"]] == ["cancelled"]
        assert ok(client.get("/requests", headers=as_("bob"))) == []
        assert ok(client.get("/agents/waiting", headers=as_("bob"))) == []
        listed = ok(client.get("/agents", params={"status": "cancelled"}, headers=as_("bob")))
        assert [run["run_id"] for run in listed] == [run_id]
        again = ok(client.post(f"/agents/{run_id}/cancel", headers=as_("bob")))
        assert again["state"] == "cancelled"  # a retried cancel is harmless
        answer = client.post(
            f"/agents/{run_id}/respond", json={"response": "confirm"}, headers=as_("bob")
        )
        assert answer.status_code == 409, answer.text

    def test_a_run_that_ended_is_409_and_unknown_runs_404(self, client: TestClient) -> None:
        written = Writer.start()
        hitl.respond(testing.wait_for_request(written).request_id, text="hi", by="bob")
        assert written.result(timeout=30) == "hi"
        ended = client.post(f"/agents/{written.id}/cancel", headers=as_("bob"))
        assert ended.status_code == 409
        assert ended.json()["detail"] == {
            "error": "NotWaitingError",
            "message": f"Run {written.id!r} already ended (done); there is nothing to cancel.",
        }
        assert ok(client.get(f"/agents/{written.id}", headers=as_("bob")))["state"] == "done"
        missing = client.post("/agents/nope/cancel", headers=as_("bob"))
        assert missing.status_code == 404
        assert missing.json()["detail"]["error"] == "NotFoundError"

    def test_only_those_who_may_answer_cancel(self, client: TestClient) -> None:
        run = Assigned.start(["alice"], "For alice only")
        testing.wait_for_request(run)
        assert client.post(f"/agents/{run.id}/cancel").status_code == 401
        refused = client.post(f"/agents/{run.id}/cancel", headers=as_("eve"))
        assert refused.status_code == 403, refused.text
        assert refused.json()["detail"]["error"] == "NotAllowedError"
        assert run.requests(open_only=True), "the agent should still be waiting"
        assert ok(client.post(f"/agents/{run.id}/cancel", headers=as_("alice")))["state"] == (
            "cancelled"
        )
