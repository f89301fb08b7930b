"""Answer links on SQLite and Postgres: a GET only shows, a POST answers once as the link's
addressee; refused (and nothing stored) after the decision, after expiry, for another tool call,
forged, or for an answer the link does not give; keys rotate; `hitl serve` serves them."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._db.database import answers
from hitl_notebook._runtime.schedule import configure
from hitl_notebook.http import TokenAuth, create_app, create_link_router
from hitl_notebook.links import LinkGrant, LinkKeys, answer_links
from tests.agents import Asker, Assigned, Chooser, Writer
from tests.tool_shop import ToolShop

AUTH = TokenAuth({"alice": "alice-token-123"})
OLD_SECRET = "old-secret-" + "o" * 32
NEW_SECRET = "new-secret-" + "n" * 32
KEYS = LinkKeys({"k1": OLD_SECRET})
BASE = "http://testserver"
LinkMaker = Callable[[hitl.Request, str], dict[str, str]]


@pytest.fixture
def client(runtime: hitl.Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(hitl.store(), AUTH, link_keys=KEYS)) as test_client:
        yield test_client


def links_for(request: hitl.Request, person: str, maker: LinkMaker | None = None) -> dict[str, str]:
    """The person's links, as paths on the test client."""
    made = (maker or answer_links(BASE, KEYS))(request, person)
    return {word: url.removeprefix(BASE) for word, url in made.items()}


def stored_answers(request_id: str) -> int:
    """Rows in the answer log for the request (every accepted or late answer is one)."""
    with hitl.store().database.engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(answers)
        return int(conn.execute(query.where(answers.c.request_id == request_id)).scalar_one())


def still_open(request: hitl.Request) -> None:
    assert hitl.store().request(request.request_id).is_open
    assert stored_answers(request.request_id) == 0


def test_get_shows_and_changes_nothing_then_post_answers_once(client: TestClient) -> None:
    """A GET (a mail scanner) only shows the request, escaped, with safe headers; the POST
    answers as the addressee through the store; the same link and the other link then do nothing."""
    run = Assigned.start(["alice"], "Ship <b>order</b> 7 & <script>alert(1)</script>?")
    request = testing.wait_for_request(run)
    links = links_for(request, "alice")
    assert set(links) == {"approve", "reject", "open"}

    for _ in range(3):  # scanners, previews, the person: none decides
        shown = client.get(links["approve"])
        assert shown.status_code == 200, shown.text
    still_open(request)
    page = shown.text
    assert "&lt;b&gt;order&lt;/b&gt; 7 &amp; &lt;script&gt;alert(1)&lt;/script&gt;?" in page
    assert "<script>" not in page
    assert "Your answer will be: approve, answering as <b>alice</b>" in page
    assert shown.headers["Referrer-Policy"] == "no-referrer"
    assert shown.headers["Cache-Control"] == "no-store"
    csp = shown.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "form-action 'self'" in csp
    assert "script-src" not in csp  # no script at all (default-src 'none')

    answered = client.post(links["approve"], data={"answer": "approve", "comment": "fine by me"})
    assert answered.status_code == 200, answered.text
    assert "Approved: recorded as alice" in answered.text
    assert run.result(timeout=30) is True
    decision = hitl.store().request(request.request_id).decision
    assert decision is not None
    assert (decision.by, decision.channel, decision.comment) == (
        "alice",
        "email-link",
        "fine by me",
    )
    assert stored_answers(request.request_id) == 1

    again = client.post(links["approve"], data={"answer": "approve"})
    assert again.status_code == 409
    assert "decided already: approved by alice" in again.text
    other = client.post(links["reject"], data={"answer": "reject"})
    assert other.status_code == 409
    assert client.get(links["reject"]).status_code == 409
    assert stored_answers(request.request_id) == 1


class Notified(hitl.Agent):
    """Asks alice, who is told through this process's channels."""

    notify = hitl.Notify(to=["alice"])

    def run(self) -> bool | None:
        return self.request_approval("Told by a channel?", assignees=["alice"]).approved


class Recorder:
    """A channel that keeps what it is handed."""

    name = "recorder"

    def __init__(self) -> None:
        self.sent: list[hitl.Notification] = []

    def send(self, notification: hitl.Notification) -> str | None:
        self.sent.append(notification)
        return None


def test_a_channel_is_handed_the_links_and_one_answers(
    runtime: hitl.Runtime, client: TestClient
) -> None:
    """configure(links=answer_links(...)): the schedule hands each recipient's links to the
    channel; the approve link in the message answers the request."""
    recorder = Recorder()
    configure([recorder], links=answer_links(BASE, KEYS))
    try:
        run = Notified.start()
        request = testing.wait_for_request(run)
        assert runtime.scheduler is not None

        def told() -> hitl.Notification | None:
            runtime.scheduler.tick()  # type: ignore[union-attr]
            return next((n for n in recorder.sent if n.event == "requested"), None)

        notification = testing.wait_until(told, timeout=30, message="the channel told")
    finally:
        configure()
    assert set(notification.links) == {"alice"}
    approve = notification.links["alice"]["approve"].removeprefix(BASE)
    assert KEYS.verify(approve.removeprefix("/a/")).request_id == request.request_id
    assert client.post(approve, data={"answer": "approve"}).status_code == 200
    assert run.result(timeout=30) is True


def test_an_expired_link_is_refused(client: TestClient) -> None:
    """A link older than its max age is 410 on GET and POST, and nothing is stored."""
    run = Assigned.start(["alice"], "Expired?")
    request = testing.wait_for_request(run)
    eight_days_ago = answer_links(BASE, KEYS, clock=lambda: time.time() - 8 * 24 * 3600)
    links = links_for(request, "alice", eight_days_ago)
    assert client.get(links["approve"]).status_code == 410
    refused = client.post(links["approve"], data={"answer": "approve"})
    assert refused.status_code == 410
    assert "expired" in refused.text
    still_open(request)
    assert client.post(
        links_for(request, "alice")["approve"], data={"answer": "approve"}
    ).is_success
    assert run.result(timeout=30) is True


def test_a_link_expires_at_the_deadline(runtime: hitl.Runtime) -> None:
    """A link lives until the request's deadline when that comes before its max age."""
    run = Chooser.start(timeout="1h")
    request = testing.wait_for_request(run)
    assert request.deadline is not None
    links = links_for(request, "alice")
    assert set(links) == {"red", "green", "blue", "open"}
    grant = KEYS.verify(links["red"].removeprefix("/a/"))
    assert grant.expires_at == int(request.deadline.timestamp())
    assert grant.answers == ("choose:red",)
    after_deadline = FastAPI()
    after_deadline.include_router(
        create_link_router(hitl.store(), KEYS, clock=lambda: request.deadline.timestamp() + 1)  # type: ignore[union-attr]
    )
    with TestClient(after_deadline) as late:
        assert late.post(links["red"], data={"answer": "choose:red"}).status_code == 410
    still_open(request)
    with TestClient(create_app(hitl.store(), AUTH, link_keys=KEYS)) as client:
        chosen = client.post(links["green"], data={"answer": "choose:green"})
        assert chosen.status_code == 200, chosen.text
    assert run.result(timeout=30) == "chose:green"


def test_a_link_for_another_tool_call_is_refused(client: TestClient) -> None:
    """A link bound to another digest than the tool call's is 409 and stores nothing; the link
    for this call approves it and the tool runs."""
    run = ToolShop.start(5.0)
    request = testing.wait_for_request(run)
    assert request.tool is not None
    for digest in ("0" * 64, None):
        stale = KEYS.sign(
            LinkGrant(request.request_id, digest, "alice", ("approve",), int(time.time()) + 600)
        )
        assert client.get(f"/a/{stale}").status_code == 409
        refused = client.post(f"/a/{stale}", data={"answer": "approve"})
        assert refused.status_code == 409
        assert "another version of the call" in refused.text
        still_open(request)
    links = links_for(request, "alice")
    assert KEYS.verify(links["approve"].removeprefix("/a/")).digest == request.tool.digest
    page = client.get(links["approve"]).text
    assert "refund" in page
    assert "A-1" in page  # the arguments are shown
    assert client.post(links["approve"], data={"answer": "approve"}).status_code == 200
    assert run.result(timeout=30) == "refunded 5.0 on A-1"
    decision = hitl.store().request(request.request_id).decision
    assert decision is not None
    assert (decision.by, decision.channel, decision.digest) == (
        "alice",
        "email-link",
        request.tool.digest,
    )


def test_a_forged_link_is_refused(client: TestClient) -> None:
    """A changed payload, a changed MAC, another key or a cut token decide nothing."""
    run = Assigned.start(["alice", "mallory"], "Forge me?")
    request = testing.wait_for_request(run)
    token = links_for(request, "alice")["approve"].removeprefix("/a/")
    payload, kid, mac = token.split(".")
    as_mallory = KEYS.sign(
        LinkGrant(request.request_id, None, "mallory", ("approve",), int(time.time()) + 600)
    ).split(".")[0]
    stranger = LinkKeys({"k1": "a-key-nobody-here-knows-" + "x" * 32})
    forged = {
        f"{as_mallory}.{kid}.{mac}": 403,  # another addressee under alice's MAC
        f"{payload}.{kid}.{mac[:-2]}AA": 403,  # another MAC
        f"{payload}.k9.{mac}": 403,  # an unknown key
        stranger.sign(KEYS.verify(token)): 403,  # signed with a key we do not have
        f"{payload}.{kid}": 400,  # cut
        "x" * 5000: 400,
    }
    for bad, code in forged.items():
        assert client.get(f"/a/{bad}").status_code == code, bad
        refused = client.post(f"/a/{bad}", data={"answer": "approve"})
        assert refused.status_code == code, bad
        assert refused.headers["Cache-Control"] == "no-store"
    still_open(request)


def test_a_link_gives_only_its_answer_and_only_to_an_allowed_person(client: TestClient) -> None:
    """An approve link cannot reject; a link to someone who may not answer is 403; neither stores."""
    run = Assigned.start(["alice"], "Only alice?")
    request = testing.wait_for_request(run)
    links = links_for(request, "alice")
    assert client.post(links["approve"], data={"answer": "reject"}).status_code == 403
    assert client.post(links["approve"], data={}).status_code == 403
    assert client.post(links["approve"], content=b"answer=%ff", headers=_FORM).status_code == 400
    assert client.post(links["approve"], content=b"a" * 300_000, headers=_FORM).status_code == 413
    not_assigned = links_for(request, "bob")
    assert client.get(not_assigned["approve"]).status_code == 403
    refused = client.post(not_assigned["approve"], data={"answer": "approve"})
    assert refused.status_code == 403
    assert "bob" in refused.text
    still_open(request)


_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_the_open_link_answers_a_text_request(client: TestClient) -> None:
    """The open link of a text request offers a text box; the text is the answer."""
    run = Writer.start()
    request = testing.wait_for_request(run)
    links = links_for(request, "alice")
    assert set(links) == {"open"}
    page = client.get(links["open"]).text
    assert '<textarea name="text" required>' in page
    assert client.post(links["open"], data={"answer": "text", "text": "  "}).status_code == 422
    still_open(request)
    sent = client.post(links["open"], data={"answer": "text", "text": "héllo <there>"})
    assert sent.status_code == 200, sent.text
    assert run.result(timeout=30) == "héllo <there>"


def test_keys_rotate(runtime: hitl.Runtime) -> None:
    """A new key signs, the old one still verifies; retiring the old key retires its links."""
    first = Assigned.start(["alice"], "Old link?")
    second = Assigned.start(["alice"], "New link?")
    old_link = links_for(testing.wait_for_request(first), "alice")["approve"]
    rotated = LinkKeys({"k2": NEW_SECRET, "k1": OLD_SECRET})
    new_link = links_for(testing.wait_for_request(second), "alice", answer_links(BASE, rotated))
    assert ".k2." in new_link["approve"]
    assert ".k1." in old_link
    retired = LinkKeys({"k2": NEW_SECRET})
    with TestClient(create_app(hitl.store(), AUTH, link_keys=retired)) as client:
        assert client.get(old_link).status_code == 403
    with TestClient(create_app(hitl.store(), AUTH, link_keys=rotated)) as client:
        assert client.post(old_link, data={"answer": "approve"}).status_code == 200
        assert client.post(new_link["reject"], data={"answer": "reject"}).status_code == 200
    assert first.result(timeout=30) is True
    assert second.result(timeout=30) is False


def test_link_keys_are_checked() -> None:
    """Short keys, bad key ids and an empty list are configuration errors."""
    with pytest.raises(hitl.ConfigurationError, match="too short"):
        LinkKeys({"k1": "short"})
    with pytest.raises(hitl.ConfigurationError, match="key id"):
        LinkKeys({"k.1": "x" * 40})
    with pytest.raises(hitl.ConfigurationError, match="no kid:secret"):
        LinkKeys.parse("# nothing")
    keys = LinkKeys.parse(f"k2:{NEW_SECRET}\nk1:{OLD_SECRET}")
    assert keys.kids == ["k2", "k1"]
    assert OLD_SECRET not in repr(keys)


def test_tokens_never_reach_the_access_log() -> None:
    """The access log filter replaces a link's token."""
    from hitl_notebook._service.http_links import HideLinkTokens  # noqa: PLC0415 - internal

    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', None, None
    )
    record.args = ("127.0.0.1:5", "GET", "/a/eyJzZWNyZXQiOjF9.k1.c2lnbmF0dXJl?x=1", "1.1", 200)
    HideLinkTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "GET /a/<token>?x=1 HTTP/1.1" 200'


def test_hitl_serve_serves_answer_links(runtime: hitl.Runtime, db_url: str, tmp_path: Path) -> None:
    """`hitl serve` with $HITL_LINK_KEYS answers a link; its access log holds no token."""
    run = Assigned.start(["alice"], "Over the wire?")
    request = testing.wait_for_request(run)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    link = answer_links(base, KEYS)(request, "alice")["approve"]
    hitl_command = str(Path(sys.executable).with_name("hitl"))
    env = {
        **os.environ,
        "HITL_API_TOKENS": "alice:alice-token-123",
        "HITL_LINK_KEYS": f"k1:{OLD_SECRET}",
    }
    server = subprocess.Popen(
        [hitl_command, "serve", "--db", db_url, "--port", str(port)],
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
        assert httpx.get(link).status_code == 200
        answered = httpx.post(link, data={"answer": "approve"})
        assert answered.status_code == 200, answered.text
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert run.result(timeout=30) is True
    assert "POST /a/<token>" in output
    assert link.rsplit("/", 1)[1] not in output


def test_hostile_options_and_body_are_shown_as_text(client: TestClient) -> None:
    """Options, body and title with HTML stay text on the page; the option still answers."""
    run = Asker.start('<a href="x">Pick</a>', ['<b>bold</b> "quoted"', "plain"], "<img src=x>")
    request = testing.wait_for_request(run)
    links = links_for(request, "alice")
    assert set(links) == {'<b>bold</b> "quoted"', "plain", "open"}
    page = client.get(links["open"]).text
    assert "<img" not in page
    assert "<b>bold" not in page
    assert "&lt;img src=x&gt;" in page
    assert 'value="choose:&lt;b&gt;bold&lt;/b&gt; &quot;quoted&quot;"' in page
    chosen = client.post(links["open"], data={"answer": 'choose:<b>bold</b> "quoted"'})
    assert chosen.status_code == 200, chosen.text
    assert run.result(timeout=30) == '<b>bold</b> "quoted"'
