"""The HTTP API against a launched runtime, on SQLite and Postgres: every endpoint, every error code."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook.http import TokenAuth, create_app
from tests.agents import Assigned, Chooser, Guarded, Writer
from tests.kernels import Kernels

TOKENS = {"alice": "alice-token-123", "bob": "bob-token-4567", "eve": "eve-token-89012"}
AUTH = TokenAuth(TOKENS)


def as_(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


@pytest.fixture
def client(runtime: hitl.Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(hitl.store(), AUTH)) as test_client:
        yield test_client


def wait_waiting(client: TestClient, run_id: str) -> dict[str, object]:
    """The run's first open request, once the inbox lists it."""

    def listed() -> dict[str, object] | None:
        items = client.get("/requests", headers=as_("bob")).json()
        return next((item for item in items if item["run_id"] == run_id), None)

    return testing.wait_until(listed, timeout=30, message=f"{run_id} in the inbox")


def test_start_list_answer_and_read_a_run(client: TestClient) -> None:
    """POST /agents starts a run here; it is listed, answered, and its status/history/decisions read."""
    started = client.post("/agents", json={"agent": "Writer"}, headers=as_("alice"))
    assert started.status_code == 201, started.text
    body = started.json()
    assert (body["agent"], body["queued"], body["requester"]) == ("Writer", False, "alice")
    run_id = body["run_id"]
    item = wait_waiting(client, run_id)
    assert (item["kind"], item["title"], item["run_state"]) == ("text", "Say something", "waiting")

    answered = client.post(
        f"/agents/{run_id}/respond", json={"text": "hello", "comment": "hi"}, headers=as_("bob")
    )
    assert answered.status_code == 200, answered.text
    decision = answered.json()
    assert (decision["outcome"], decision["value"], decision["by"], decision["channel"]) == (
        "answered",
        "hello",
        "bob",
        "http",
    )
    assert hitl.run(run_id).result(timeout=30) == "hello"

    detail = client.get(f"/agents/{run_id}", headers=as_("bob")).json()
    assert (detail["state"], detail["status"]["status"]) == ("done", "finished")
    assert (detail["agent"], detail["result"], detail["error"]) == ("Writer", "hello", None)
    assert detail["requests"][0]["decision"]["by"] == "bob"
    history = client.get(f"/agents/{run_id}/history", headers=as_("bob")).json()
    assert [event["status"] for event in history] == ["working", "waiting", "resumed", "finished"]
    decisions = client.get(f"/agents/{run_id}/decisions", headers=as_("bob")).json()
    assert [(d["by"], d["comment"]) for d in decisions] == [("bob", "hi")]
    request = client.get(f"/requests/{item['request_id']}", headers=as_("bob")).json()
    assert request["decision"]["value"] == "hello"
    runs = client.get("/agents", params={"agent": "Writer"}, headers=as_("bob")).json()
    assert [(r["run_id"], r["status"], r["open_requests"]) for r in runs] == [
        (run_id, "finished", 0)
    ]
    assert client.get("/agents", params={"agent": "Nobody"}, headers=as_("bob")).json() == []


def test_inbox_filters_over_http(client: TestClient) -> None:
    """GET /requests takes the inbox's filters, sort and paging."""
    ship = Assigned.start(["ana"], "Ship order 7?")
    pick = Chooser.start()
    wait_waiting(client, ship.id)
    wait_waiting(client, pick.id)

    def listed(**params: object) -> list[str]:
        response = client.get("/requests", params=params, headers=as_("bob"))
        assert response.status_code == 200, response.text
        return [item["run_id"] for item in response.json()]

    assert listed(agent="Assigned") == [ship.id]
    assert listed(kind="choice") == [pick.id]
    assert listed(assignee="ana") == [ship.id]
    assert listed(search="ship order") == [ship.id]
    assert listed(sort="title", descending=True) == [pick.id, ship.id]
    assert listed(sort="title", limit=1, offset=1) == [pick.id]
    assert listed(overdue=True) == []
    assert listed(older_than="1h") == []
    bad = client.get("/requests", params={"older_than": "soon"}, headers=as_("bob"))
    assert bad.status_code == 422
    assert bad.json()["detail"]["error"] == "ValueError"


def test_errors_carry_the_python_messages(client: TestClient) -> None:
    """422 invalid, 409 already decided and not waiting, 404 unknown: same messages as Python."""
    run = Chooser.start()
    request = testing.wait_for_request(run)
    store = hitl.store()
    with pytest.raises(hitl.InvalidAnswerError) as invalid:
        store.respond(request.request_id, choice="purple", by="bob")
    refused = client.post(
        f"/requests/{request.request_id}/respond", json={"choice": "purple"}, headers=as_("bob")
    )
    assert refused.status_code == 422
    assert refused.json()["detail"] == {
        "error": "InvalidAnswerError",
        "message": str(invalid.value),
    }

    ok = client.post(
        f"/requests/{request.request_id}/respond", json={"choice": "red"}, headers=as_("bob")
    )
    assert ok.status_code == 200
    again = client.post(
        f"/requests/{request.request_id}/respond", json={"choice": "red"}, headers=as_("bob")
    )
    assert again.json() == ok.json()  # a retry of the same answer is harmless
    second = client.post(
        f"/requests/{request.request_id}/respond", json={"choice": "blue"}, headers=as_("alice")
    )
    assert second.status_code == 409
    with pytest.raises(hitl.AlreadyDecidedError) as decided:
        store.respond(request.request_id, choice="blue", by="alice")
    assert second.json()["detail"] == {
        "error": "AlreadyDecidedError",
        "message": str(decided.value),
    }

    assert run.result(timeout=30) == "chose:red"
    finished = Writer.start()
    finished.cancel(by="bob")
    not_waiting = client.post(
        f"/agents/{finished.id}/respond", json={"text": "x"}, headers=as_("bob")
    )
    assert not_waiting.status_code == 409
    assert not_waiting.json()["detail"]["error"] == "NotWaitingError"

    for path in (
        "/agents/nope",
        "/agents/nope/history",
        "/agents/nope/decisions",
        "/requests/nope",
    ):
        missing = client.get(path, headers=as_("bob"))
        assert missing.status_code == 404, path
        assert missing.json()["detail"]["error"] == "NotFoundError"
    unknown = client.post("/agents/nope/respond", json={"approve": True}, headers=as_("bob"))
    assert unknown.status_code == 404
    assert "No run or request has the id 'nope'" in unknown.json()["detail"]["message"]


def test_an_answer_after_the_deadline_is_410(db_url: str, tmp_path: Path) -> None:
    """With the agent's process killed past the deadline, the answer is refused as late (410)."""
    kernels = Kernels(db_url, tmp_path)
    try:
        process, (run_id,) = kernels.launch(
            "kernel-a", "start", "1", "--timeout", "1", "--on-timeout", "reject"
        )
        store = hitl.connect(db_url)
        (request,) = testing.wait_until(lambda: store.requests(run_id, open_only=True))
        kernels.kill(process)
    finally:
        kernels.close()
    assert request.deadline is not None
    testing.wait_until(lambda: time.time() > request.deadline.timestamp() + 0.1, timeout=30)
    with TestClient(create_app(store, AUTH)) as client:
        late = client.post(
            f"/requests/{request.request_id}/respond", json={"approve": True}, headers=as_("bob")
        )
    assert late.status_code == 410, late.text
    assert late.json()["detail"]["error"] == "DeadlinePassedError"
    assert "recorded as late" in late.json()["detail"]["message"]


def test_queued_starts_and_the_agent_allowlist(client: TestClient, db_url: str) -> None:
    """An agent not defined here is queued for workers; an allowlist refuses other names (404)."""
    queued = client.post(
        "/agents",
        json={"agent": "DefinedOnWorkers", "args": [1], "kwargs": {"x": "y"}, "run_id": "q-1"},
        headers=as_("alice"),
    )
    assert queued.status_code == 201, queued.text
    assert (queued.json()["run_id"], queued.json()["queued"]) == ("q-1", True)
    assert hitl.store().run_state("q-1") == "ENQUEUED"
    detail = client.get("/agents/q-1", headers=as_("alice")).json()
    assert (detail["state"], detail["agent"], detail["status"], detail["result"]) == (
        "queued",
        None,
        None,
        None,
    )
    reserved = client.post(
        "/agents", json={"agent": "Writer", "kwargs": {"run_id": "x"}}, headers=as_("alice")
    )
    assert reserved.status_code == 422
    with TestClient(create_app(hitl.connect(db_url), AUTH, agents=["Writer"])) as strict:
        refused = strict.post("/agents", json={"agent": "Chooser"}, headers=as_("alice"))
    assert refused.status_code == 404
    assert refused.json()["detail"]["message"] == "No agent named 'Chooser' can be started here."


class TestSecurity:
    """Refused answers leave the agent waiting; the recorded identity is the authenticated one."""

    @staticmethod
    def still_waiting(run: hitl.RunHandle) -> None:
        assert run.requests(open_only=True), "the agent should still be waiting"
        assert run.state == "PENDING"

    def test_no_token_and_a_bad_token_are_401(self, client: TestClient) -> None:
        run = Writer.start()
        testing.wait_for_request(run)
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic x"}):
            refused = client.post(f"/agents/{run.id}/respond", json={"text": "x"}, headers=headers)
            assert refused.status_code == 401
            assert refused.headers["WWW-Authenticate"] == "Bearer"
            assert refused.json()["detail"]["error"] == "Unauthorized"
        assert client.post("/agents", json={"agent": "Writer"}).status_code == 401
        assert client.get("/requests").status_code == 401
        self.still_waiting(run)

    def test_a_non_assignee_is_403(self, client: TestClient) -> None:
        run = Assigned.start(["alice"], "For alice only")
        request = testing.wait_for_request(run)
        refused = client.post(
            f"/requests/{request.request_id}/respond", json={"approve": True}, headers=as_("eve")
        )
        assert refused.status_code == 403
        assert refused.json()["detail"]["error"] == "NotAllowedError"
        assert "'eve' may not answer" in refused.json()["detail"]["message"]
        self.still_waiting(run)

    def test_the_requester_is_403_when_forbidden(self, client: TestClient) -> None:
        started = client.post(
            "/agents", json={"agent": "Guarded", "args": [[]]}, headers=as_("alice")
        )
        run = hitl.run(started.json()["run_id"])
        request = testing.wait_for_request(run)
        assert request.requester == "alice"
        refused = client.post(
            f"/agents/{run.id}/respond", json={"approve": True}, headers=as_("alice")
        )
        assert refused.status_code == 403
        assert "started this run" in refused.json()["detail"]["message"]
        self.still_waiting(run)
        assert (
            client.post(
                f"/agents/{run.id}/respond", json={"approve": True}, headers=as_("bob")
            ).status_code
            == 200
        )
        assert run.result(timeout=30) == "bob"

    def test_the_body_cannot_claim_another_identity(self, client: TestClient) -> None:
        run = Guarded.start(["alice"], requester="bob")
        testing.wait_for_request(run)
        claimed = client.post(
            f"/agents/{run.id}/respond",
            json={"approve": True, "by": "bob", "channel": "python"},
            headers=as_("alice"),
        )
        assert claimed.status_code == 422, claimed.text
        (problem,) = claimed.json()["detail"]
        assert problem["msg"].startswith("unknown fields 'by', 'channel'; who answers is the ")
        assert "authenticated caller" in problem["msg"]
        self.still_waiting(run)
        answered = client.post(
            f"/agents/{run.id}/respond", json={"approve": True}, headers=as_("alice")
        )
        assert answered.status_code == 200
        assert (answered.json()["by"], answered.json()["channel"]) == ("alice", "http")
        assert run.result(timeout=30) == "alice"
        (decision,) = run.decisions()
        assert decision.by == "alice"

    def test_anonymous_reads_are_opt_in_and_never_writes(
        self, db_url: str, runtime: hitl.Runtime
    ) -> None:
        run = Writer.start()
        testing.wait_for_request(run)
        with TestClient(create_app(hitl.connect(db_url), AUTH, anonymous_reads=True)) as client:
            assert [i["run_id"] for i in client.get("/requests").json()] == [run.id]
            assert client.get(f"/agents/{run.id}").status_code == 200
            assert client.post(f"/agents/{run.id}/respond", json={"text": "x"}).status_code == 401
        self.still_waiting(run)


def test_hitl_serve_serves_the_api_and_never_logs_tokens(
    runtime: hitl.Runtime, db_url: str, tmp_path: Path
) -> None:
    """`hitl serve` answers with its token file; its output never shows a token."""
    run = Writer.start()
    testing.wait_for_request(run)
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("".join(f"{who}:{token}\n" for who, token in TOKENS.items()))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hitl_command = str(Path(sys.executable).with_name("hitl"))
    server = subprocess.Popen(
        [hitl_command, "serve", "--db", db_url, "--tokens", str(tokens), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        testing.wait_until(up, timeout=60, message="hitl serve listening")
        answered = httpx.post(
            f"{base}/agents/{run.id}/respond", json={"text": "over the wire"}, headers=as_("bob")
        )
        assert answered.status_code == 200, answered.text
        assert (
            httpx.get(f"{base}/requests", headers={"Authorization": "Bearer nope-nope"}).status_code
            == 401
        )
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert run.result(timeout=30) == "over the wire"
    assert "POST /agents" in output  # the access log is there...
    assert all(token not in output for token in TOKENS.values())  # ...without any token


def test_one_answer_to_many_requests(client: TestClient) -> None:
    """POST /requests/respond answers each target on its own and lists the refusals."""
    mine = Assigned.start(["bob"], "For bob")
    theirs = Assigned.start(["ana"], "For ana")
    testing.wait_for_request(mine)
    testing.wait_for_request(theirs)
    answered = client.post(
        "/requests/respond",
        json={"targets": [mine.id, theirs.id, "nope"], "approve": True, "comment": "batch"},
        headers=as_("bob"),
    )
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert list(body["decided"]) == [mine.id]
    assert body["decided"][mine.id]["by"] == "bob"
    assert {target: e["error"] for target, e in body["failed"].items()} == {
        theirs.id: "NotAllowedError",
        "nope": "NotFoundError",
    }
    assert mine.result(timeout=30) is True
    assert theirs.requests(open_only=True)
    empty = client.post("/requests/respond", json={"targets": []}, headers=as_("bob"))
    assert empty.status_code == 422
