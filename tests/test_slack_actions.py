"""Slack's button clicks on SQLite and Postgres: a signed click answers as the Slack user's person
and the run resumes; a tampered, unsigned, stale or wrongly signed payload is 401 and stores
nothing; an unknown user, a non-assignee and a second click get an ephemeral refusal and store
nothing. The click's response_url is a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._db.database import answers
from hitl_notebook._runtime.schedule import configure
from hitl_notebook._service.serve_config import serve_options
from hitl_notebook._service.slack_signature import slack_headers
from hitl_notebook.http import TokenAuth, create_app
from tests.agents import Assigned, Chooser
from tests.tool_shop import ToolShop

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
AUTH = TokenAuth({"alice": "alice-token-123"})
PEOPLE = hitl.Directory(
    {
        "alice": {"slack": "T0001:UALICE"},  # the workspace named too
        "bob": {"slack": "UBOB"},
        "carol": {"slack": "UCAROL"},
    }
)


class ResponseUrl:
    """What a click's response_url receives: a threaded HTTP server on 127.0.0.1."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        received = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/actions/T0001/1/abc"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slack() -> Iterator[ResponseUrl]:
    receiver = ResponseUrl()
    yield receiver
    receiver.close()


@pytest.fixture
def client(runtime: hitl.Runtime) -> Iterator[TestClient]:
    app = create_app(hitl.store(), AUTH, slack_signing_secret=SECRET, directory=PEOPLE)
    with TestClient(app) as test_client:
        yield test_client


def click(
    request_id: str,
    action: str,
    *,
    user: str,
    team: str = "T0001",
    response_url: str,
    value: str | None = None,
) -> bytes:
    """The form body Slack posts for a click on a button (a ``block_actions`` payload)."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "Alice (display names prove nothing)", "team_id": team},
        "api_app_id": "A0HITL",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C1"},
        "trigger_id": "123.456.abc",
        "team": {"id": team, "domain": "example"},
        "channel": {"id": "C1", "name": "approvals"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": f"hitl:{action}",
                "block_id": f"hitl-{request_id}",
                "value": request_id if value is None else value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def post(client: TestClient, body: bytes, **sign: Any) -> httpx.Response:
    return client.post("/slack/actions", content=body, headers=slack_headers(SECRET, body, **sign))


def stored_answers(request_id: str) -> int:
    with hitl.store().database.engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(answers)
        return int(conn.execute(query.where(answers.c.request_id == request_id)).scalar_one())


def test_a_signed_click_answers_and_the_run_resumes(client: TestClient, slack: ResponseUrl) -> None:
    """Alice's click approves as alice via slack, acknowledged well within 3 s; the buttons are
    replaced through the response_url; a second click (bob) and a repeat (alice) store nothing."""
    run = Assigned.start(["alice", "bob"], "Ship <order> *7*?")
    request = testing.wait_for_request(run)
    body = click(request.request_id, "approve", user="UALICE", response_url=slack.url)
    started = time.perf_counter()
    acked = post(client, body)
    took = time.perf_counter() - started
    assert acked.status_code == 200, acked.text
    assert took < 3.0
    assert acked.json()["replace_original"] is True
    assert run.result(timeout=30) is True
    decision = hitl.store().request(request.request_id).decision
    assert decision is not None
    assert (decision.by, decision.channel) == ("alice", "slack")
    assert stored_answers(request.request_id) == 1
    testing.wait_until(lambda: slack.messages, timeout=10, message="the response_url told")
    assert slack.messages[0]["replace_original"] is True
    assert slack.messages[0]["text"].startswith("Approved by alice")

    second = post(client, click(request.request_id, "reject", user="UBOB", response_url=slack.url))
    assert second.status_code == 200
    refusal = second.json()
    assert (refusal["response_type"], refusal["replace_original"]) == ("ephemeral", False)
    assert "approved" in refusal["text"]
    assert "alice" in refusal["text"]
    repeat = post(client, body)
    assert repeat.status_code == 200
    assert stored_answers(request.request_id) == 1
    testing.wait_until(lambda: len(slack.messages) == 3, timeout=10, message="both told")
    assert slack.messages[1]["response_type"] == "ephemeral"


def test_tampered_unsigned_stale_or_wrongly_signed_clicks_are_401(
    client: TestClient, slack: ResponseUrl
) -> None:
    """Each is refused before anything reads the payload: nothing stored, the request still
    open, nothing sent to the response_url."""
    run = Assigned.start(["alice"], "Tamper?")
    request = testing.wait_for_request(run)
    body = click(request.request_id, "approve", user="UALICE", response_url=slack.url)
    signed = slack_headers(SECRET, body)
    tampered = body.replace(b"UALICE", b"UALICF")
    attempts = [
        (tampered, signed),  # the body changed after signing
        (body, {"Content-Type": "application/x-www-form-urlencoded"}),  # unsigned
        (body, slack_headers(SECRET, body, timestamp=int(time.time()) - 6 * 60)),  # stale
        (body, slack_headers(SECRET, body, timestamp=int(time.time()) + 6 * 60)),  # future
        (body, slack_headers("another-apps-secret-0123456789", body)),  # wrong secret
        (body, {**signed, "X-Slack-Request-Timestamp": "soon"}),
        (body, {**signed, "X-Slack-Signature": "v0=" + "0" * 64}),
    ]
    for content, headers in attempts:
        refused = client.post("/slack/actions", content=content, headers=headers)
        assert refused.status_code == 401, headers
    assert hitl.store().request(request.request_id).is_open
    assert stored_answers(request.request_id) == 0
    assert slack.messages == []
    assert post(client, body).status_code == 200  # the genuine one still answers
    assert run.result(timeout=30) is True


def test_an_unknown_user_and_a_non_assignee_are_refused(
    client: TestClient, slack: ResponseUrl
) -> None:
    """A Slack user nobody linked (or alice's id in another workspace) and a known person who
    is not an assignee get an ephemeral refusal; nothing is stored."""
    run = Assigned.start(["alice"], "Only alice?")
    request = testing.wait_for_request(run)
    for user, team, says in [
        ("UEVE", "T0001", "not linked"),
        ("UALICE", "T0666", "not linked"),
        ("UCAROL", "T0001", "carol"),
    ]:
        refused = post(
            client,
            click(request.request_id, "approve", user=user, team=team, response_url=slack.url),
        )
        assert refused.status_code == 200
        assert refused.json()["response_type"] == "ephemeral"
        assert says in refused.json()["text"]
    assert hitl.store().request(request.request_id).is_open
    assert stored_answers(request.request_id) == 0
    testing.wait_until(lambda: len(slack.messages) == 3, timeout=10, message="three refusals")
    assert all(m["response_type"] == "ephemeral" for m in slack.messages)


def test_a_choice_through_the_configured_directory(
    runtime: hitl.Runtime, slack: ResponseUrl
) -> None:
    """Without a directory given, the one this process configured maps the user; an option
    button answers a choice; a URL button and other interactions are acknowledged only."""
    configure(directory={"bob": {"slack": "UBOB"}})
    try:
        app = create_app(hitl.store(), AUTH, slack_signing_secret=SECRET)
        with TestClient(app) as client:
            run = Chooser.start()
            request = testing.wait_for_request(run)
            opened = post(client, click(request.request_id, "open", user="UBOB", response_url=""))
            assert (opened.status_code, opened.content) == (200, b"")
            other = urllib.parse.urlencode({"payload": json.dumps({"type": "view_closed"})})
            assert post(client, other.encode()).status_code == 200
            assert stored_answers(request.request_id) == 0
            chosen = post(
                client,
                click(request.request_id, "choose:green", user="UBOB", response_url=slack.url),
            )
            assert chosen.status_code == 200, chosen.text
            assert run.result(timeout=30) == "chose:green"
    finally:
        configure()
    decision = hitl.store().request(request.request_id).decision
    assert decision is not None
    assert (decision.by, decision.channel) == ("bob", "slack")


def test_a_click_bound_to_another_tool_call_is_refused(
    client: TestClient, slack: ResponseUrl
) -> None:
    """A button whose value names another digest stores nothing; the one for this call approves."""
    run = ToolShop.start(5.0)
    request = testing.wait_for_request(run)
    assert request.tool is not None
    stale = json.dumps({"request": request.request_id, "digest": "0" * 64})
    refused = post(
        client,
        click(request.request_id, "approve", user="UBOB", response_url=slack.url, value=stale),
    )
    assert refused.status_code == 200
    assert "another tool call" in refused.json()["text"]
    assert stored_answers(request.request_id) == 0
    bound = json.dumps({"request": request.request_id, "digest": request.tool.digest})
    approved = post(
        client,
        click(request.request_id, "approve", user="UBOB", response_url=slack.url, value=bound),
    )
    assert approved.json()["replace_original"] is True
    assert run.result(timeout=30) == "refunded 5.0 on A-1"


def test_a_malformed_signed_payload_is_400(client: TestClient) -> None:
    """Signed but not a block_actions payload: 400, nothing answered."""
    for body in (
        b"payload=not-json",
        b"nothing=here",
        b"payload=%7B%22type%22%3A%22block_actions%22%7D",
    ):
        assert post(client, body).status_code == 400


def test_serve_options_come_from_flags_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hitl serve turns on links and Slack from files named by flags, else the environment."""
    assert serve_options() == serve_options(None, None, None)
    assert serve_options().link_keys is None
    assert serve_options().slack_signing_secret is None
    people = tmp_path / "people.json"
    people.write_text(json.dumps({"alice": {"slack": "UALICE"}}))
    secret = tmp_path / "slack-secret"
    secret.write_text(SECRET + "\n")
    options = serve_options(None, str(secret), str(people))
    assert options.slack_signing_secret == SECRET
    assert options.directory is not None
    assert options.directory.person("slack", "UALICE") == "alice"
    monkeypatch.setenv("HITL_SLACK_SIGNING_SECRET", "from-the-environment")
    monkeypatch.setenv("HITL_LINK_KEYS", "k1:" + "k" * 40)
    monkeypatch.setenv("HITL_DIRECTORY", str(people))
    options = serve_options()
    assert options.slack_signing_secret == "from-the-environment"
    assert options.link_keys is not None
    assert options.link_keys.kids == ["k1"]
    assert options.directory is not None
    people.write_text("[1, 2]")
    with pytest.raises(hitl.ConfigurationError, match="not JSON of person"):
        serve_options()


def test_hitl_serve_takes_slack_clicks(
    runtime: hitl.Runtime, db_url: str, tmp_path: Path, slack: ResponseUrl
) -> None:
    """`hitl serve` with $HITL_SLACK_SIGNING_SECRET and --directory answers a signed click."""
    run = Assigned.start(["alice"], "Over Slack?")
    request = testing.wait_for_request(run)
    people = tmp_path / "people.json"
    people.write_text(json.dumps({"alice": {"slack": "UALICE"}}))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "HITL_API_TOKENS": "alice:alice-token-123",
        "HITL_SLACK_SIGNING_SECRET": SECRET,
    }
    hitl_command = str(Path(sys.executable).with_name("hitl"))
    server = subprocess.Popen(
        [hitl_command, "serve", "--db", db_url, "--port", str(port), "--directory", str(people)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        testing.wait_until(up, timeout=60, message="hitl serve listening")
        body = click(request.request_id, "approve", user="UALICE", response_url=slack.url)
        tampered = body.replace(b"approve", b"reject")
        headers = slack_headers(SECRET, body)
        assert (
            httpx.post(f"{base}/slack/actions", content=tampered, headers=headers).status_code
            == 401
        )
        answered = httpx.post(f"{base}/slack/actions", content=body, headers=headers)
        assert answered.status_code == 200, answered.text
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert run.result(timeout=30) is True
