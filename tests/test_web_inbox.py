"""The inbox web page's server side, on SQLite and Postgres: the page and its files, and
``POST /inbox/messages``, which replies with what the notebook widget's kernel side sends.

The browser half (hitl.js drawn by the page, live updates, hostile text) is in
tests/browser/test_web_inbox.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import hitl_notebook as hitl
from hitl_notebook._notebook.inbox_widget import InboxWidget
from hitl_notebook._service.http_inbox import CSP
from hitl_notebook.http import TokenAuth, create_app
from tests.agents import Approver, Assigned, Chooser, Editor, Writer

TOKENS = {"alice": "alice-token-123", "bob": "bob-token-4567"}


def as_(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


@pytest.fixture
def client(runtime: hitl.Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(hitl.store(), TokenAuth(TOKENS))) as test_client:
        yield test_client


def say(client: TestClient, who: str, message: dict[str, Any], **view: Any) -> dict[str, Any]:
    """Post one widget message as ``who``; the reply's body."""
    response = client.post("/inbox/messages", json={"message": message, **view}, headers=as_(who))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["identity"] == who
    return body


def without_clock(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "now_ms"}


def test_the_page_is_static_strict_and_asks_for_a_token(runtime: hitl.Runtime) -> None:
    """/ leads to /inbox: a page with no inline script under a strict CSP; only its own files."""
    with TestClient(create_app(hitl.store(), TokenAuth(TOKENS))) as client:
        home = client.get("/", follow_redirects=False)
        assert (home.status_code, home.headers["location"]) == (307, "inbox")
        page = client.get("/inbox")  # no token needed for the page itself: it holds no data
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CSP
    assert "script-src 'self';" in CSP and "'unsafe-inline'" not in CSP
    assert page.headers["x-content-type-options"] == "nosniff"
    scripts = re.findall(r"<script\b[^>]*>", page.text)
    assert scripts == ['<script type="module" src="inbox/static/web_inbox.js">']
    assert not re.search(r"\son\w+=", page.text)  # no inline handlers either
    assert 'id="sign-in"' in page.text and 'type="password"' in page.text
    for name, kind in [
        ("hitl.js", "text/javascript"),
        ("web_inbox.js", "text/javascript"),
        ("hitl.css", "text/css"),
        ("web_inbox.css", "text/css"),
    ]:
        served = client.get(f"/inbox/static/{name}")
        assert served.status_code == 200, name
        assert served.headers["content-type"].startswith(kind)
    widget_js = Path(hitl.__file__).parent / "_notebook" / "static" / "hitl.js"
    assert client.get("/inbox/static/hitl.js").text == widget_js.read_text()  # the same script
    for name in ("web_inbox.html", "..%2Fhttp.py", "../../http.py", "nope.js"):
        assert client.get(f"/inbox/static/{name}").status_code == 404, name


def test_the_messages_need_a_valid_token(client: TestClient) -> None:
    """No token or an unknown one: 401 and no rows."""
    Writer.start().wait_for_request()
    hello = {"message": {"type": "hello"}}
    assert client.post("/inbox/messages", json=hello).status_code == 401
    refused = client.post("/inbox/messages", json=hello, headers={"Authorization": "Bearer no"})
    assert refused.status_code == 401
    assert "rows" not in refused.text


def test_hello_is_the_widgets_snapshot(client: TestClient, tmp_path: Path) -> None:
    """The page gets exactly what the widget's kernel side sends a view that opens."""
    Approver.start("W-1", str(tmp_path / "c")).wait_for_request()
    Chooser.start().wait_for_request()
    Assigned.start(["alice"], "For alice only").wait_for_request()
    (snapshot,) = say(client, "bob", {"type": "hello"})["messages"]
    widget = InboxWidget(hitl.store(), responder="bob", live=False)
    try:
        expected = dict(widget.snapshot())
    finally:
        widget.close()
    assert without_clock(snapshot) == without_clock(expected)
    assert snapshot["total"] == 3
    not_bobs = next(row for row in snapshot["rows"] if row["title"] == "For alice only")
    assert not_bobs["why_not"]  # each row says whether the caller may answer it
    (alices,) = say(client, "alice", {"type": "hello"})["messages"]
    assert next(r for r in alices["rows"] if r["title"] == "For alice only")["why_not"] is None


def test_answers_are_the_callers_on_the_web_channel(client: TestClient, tmp_path: Path) -> None:
    """respond answers as the token's identity (channel web), then sends the page; the run
    resumes. A message naming who answers is refused; so is a late answer, saying who won."""
    approve_run = Approver.start("W-2", str(tmp_path / "c"))
    request_id = approve_run.wait_for_request().request_id
    writer = Writer.start()
    text_id = writer.wait_for_request().request_id

    named = {"type": "respond", "request_id": request_id, "approve": True, "by": "alice"}
    refused = client.post("/inbox/messages", json={"message": named}, headers=as_("bob"))
    assert refused.status_code == 422
    assert "who answers is the token's identity" in refused.text
    assert approve_run.requests(open_only=True)

    reply = say(
        client,
        "bob",
        {"type": "respond", "request_id": request_id, "approve": True, "comment": "ok"},
    )
    result, page = reply["messages"]
    assert (result["type"], result["ok"], result["decided"]) == ("result", True, True)
    assert result["message"].startswith(f"“Refund?” ({request_id}): approved by bob at ")
    assert (page["type"], [row["id"] for row in page["rows"]]) == ("snapshot", [text_id])
    assert approve_run.result(timeout=30)["outcome"] == "approved"
    (decision,) = approve_run.decisions()
    assert (decision.by, decision.channel, decision.comment) == ("bob", "web", "ok")

    hitl.respond(text_id, text="from Python", by="carol")
    late = say(client, "alice", {"type": "respond", "request_id": text_id, "text": "too late"})
    result, page = late["messages"]
    assert (result["ok"], result["decided"]) == (False, True)
    assert "already answered by carol" in result["message"]
    assert page["rows"] == []
    assert writer.result(timeout=30) == "from Python"


def test_query_filters_sorts_and_pages_like_the_widget(client: TestClient) -> None:
    """A query message narrows and orders the page; later calls carry the page's filter."""
    writers = [Writer.start() for _ in range(3)]
    for run in writers:
        run.wait_for_request()
    chooser = Chooser.start().wait_for_request().request_id
    (page,) = say(client, "bob", {"type": "query", "query": {"kind": "choice"}, "page": 0})[
        "messages"
    ]
    assert ([row["id"] for row in page["rows"]], page["query"]["kind"]) == ([chooser], "choice")
    (page,) = say(client, "bob", {"type": "hello"}, query={"kind": "text"}, page=9)["messages"]
    assert (page["total"], page["page"]) == (3, 0)  # a page past the end shows the last one
    (page,) = say(client, "bob", {"type": "query", "query": {"sort": "title", "descending": True}})[
        "messages"
    ]
    assert page["rows"][0]["id"] == chooser  # "Which?" after "Say something"
    for bad in ({"sort": "colour"}, {"kind": "poem"}, {"colour": "red"}, {"search": "a\x00b"}):
        response = client.post(
            "/inbox/messages",
            json={"message": {"type": "query", "query": bad}},
            headers=as_("bob"),
        )
        assert response.status_code == 422, bad


def test_bulk_form_and_details_are_the_widgets(client: TestClient, tmp_path: Path) -> None:
    """Bulk answers each on its own (refusals listed); form and details are the widget's panels."""
    runs = [Approver.start(f"B-{i}", str(tmp_path / "c")) for i in range(2)]
    ids = [run.wait_for_request().request_id for run in runs]
    theirs = Assigned.start(["alice"], "Not bob's")
    their_id = theirs.wait_for_request().request_id
    editor = Editor.start()
    edit_id = editor.wait_for_request().request_id

    bulk = {"type": "bulk", "request_ids": [*ids, their_id], "approve": True, "comment": "batch"}
    result, page = say(client, "bob", bulk)["messages"]
    assert (result["type"], result["message"]) == ("bulk_result", "2 approved, 1 refused")
    assert sorted(result["decided"]) == sorted(ids)
    assert list(result["failed"]) == [their_id]
    assert {row["id"] for row in page["rows"]} == {their_id, edit_id}
    assert [run.decisions()[0].channel for run in runs] == ["web", "web"]

    (form,) = say(client, "bob", {"type": "form", "request_id": edit_id})["messages"]
    assert (form["type"], form["request_id"]) == ("form", edit_id)
    assert {f["path"] for f in form["form"]["fields"]} == {"order_id", "amount", "note"}
    (details,) = say(client, "bob", {"type": "details", "request_id": edit_id})["messages"]
    assert details["details"]["title"] == "Fix the refund"
    (missing,) = say(client, "bob", {"type": "details", "request_id": "nope"})["messages"]
    assert "error" in missing["details"]


def test_messages_are_typed_not_trusted(client: TestClient) -> None:
    """Unknown types, missing or unknown fields, fields of the wrong type: 422, nothing done (an
    answer that does not fit the request is the widget's refusal for the row)."""
    run = Writer.start()
    request_id = run.wait_for_request().request_id
    for message in (
        {},
        {"type": "shutdown"},
        {"type": "respond"},
        {"type": "respond", "request_id": 7, "text": "x"},
        {"type": "respond", "request_id": request_id, "text": "x", "channel": "cli"},
        {"type": "respond", "request_id": request_id, "text": "x\x00"},
        {"type": "bulk", "request_ids": request_id, "approve": True},
        {"type": "query", "page": "2"},
    ):
        response = client.post("/inbox/messages", json={"message": message}, headers=as_("bob"))
        assert response.status_code == 422, (message, response.text)
    assert (
        client.post(
            "/inbox/messages", json={"message": {"type": "hello"}, "page": -1}, headers=as_("bob")
        ).status_code
        == 422
    )
    wrong = say(client, "bob", {"type": "respond", "request_id": request_id, "approve": "yes"})
    assert not wrong["messages"][0]["ok"]  # the widget's own refusal, for the row
    assert run.requests(open_only=True)
