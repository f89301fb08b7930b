"""The notebook widgets without a browser: every action, forms, validation, bulk, races, diffs.

A recording comm stands in for the frontend's end of the widget channel: messages from the browser
are delivered with the exact wire shape Jupyter uses, and what the widget sends back is recorded.
The database and DBOS are real (SQLite and Postgres).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import comm
import IPython
import ipywidgets.widgets.widget as ipywidget_module
import pytest
import sqlalchemy as sa
from pydantic import BaseModel, Field

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._notebook.forms import form_for, problems_by_field
from hitl_notebook._notebook.inbox_widget import InboxWidget
from hitl_notebook._notebook.live import LiveWidget, live_widgets
from hitl_notebook._notebook.run_widget import RunWidget
from tests.agents import Approver, Chooser, Editor, Writer

DBOS_STATES = re.compile(
    r"\b(PENDING|ENQUEUED|DELAYED|SUCCESS|ERROR|CANCELLED|MAX_RECOVERY_ATTEMPTS_EXCEEDED)\b"
)


class Invoice(BaseModel):
    number: str
    amount: float
    lines: list[dict[str, Any]] = []


class Gatekeeper(hitl.Agent):
    """Asks the finance team about an invoice; whoever started the run may not approve it."""

    def run(self, body: str | None = None) -> str:
        decision = self.request_approval(
            "Pay the invoice?",
            body=body,
            proposal=Invoice(number="I-7", amount=99.5, lines=[{"sku": "S-1", "qty": 2}]),
            assignees=["bob", "carol"],
            allow_requester=False,
        )
        return decision.outcome.value


class RecordingComm(comm.base_comm.BaseComm):  # type: ignore[misc]
    """A comm that records every message a widget publishes to the frontend."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.messages: list[dict[str, Any]] = []
        self.kernel = "recording"  # ipywidgets only sends state when comm.kernel is set
        super().__init__(*args, **kwargs)

    def publish_msg(self, msg_type: str, data: Any = None, *args: Any, **kwargs: Any) -> None:
        self.messages.append({"msg_type": msg_type, "data": data})


@pytest.fixture(autouse=True)
def recording_comm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comm, "create_comm", RecordingComm)


@pytest.fixture(autouse=True)
def _close_widgets() -> Any:
    yield
    for widget in live_widgets():
        widget.close()


def sent(widget: LiveWidget, kind: str | None = None) -> list[dict[str, Any]]:
    """The custom messages the widget sent to the browser (of one type)."""
    found = [
        m["data"]["content"]
        for m in widget.comm.messages
        if m["msg_type"] == "comm_msg" and m["data"].get("method") == "custom"
    ]
    return [m for m in found if kind is None or m["type"] == kind]


def click(widget: LiveWidget, **content: Any) -> dict[str, Any]:
    """Deliver a message from the browser; return the last message the widget answered with."""
    before = len(sent(widget))
    widget._handle_msg(
        {
            "content": {
                "comm_id": widget.model_id,
                "data": {"method": "custom", "content": content},
            },
            "buffers": [],
        }
    )
    replies = sent(widget)[before:]
    assert replies, f"no reply to {content}"
    return replies[0]


def inbox_widget(**options: Any) -> InboxWidget:
    return hitl.inbox().widget(responder="alice", live=False, **options)


# -- forms ---------------------------------------------------------------------------------------


class Color(StrEnum):
    RED = "red"
    BLUE = "blue"


class Line(BaseModel):
    sku: str
    qty: int = Field(ge=1, le=10)


class Order(BaseModel):
    order_id: str
    amount: float = Field(gt=0, le=1000, description="in euros")
    express: bool = False
    carrier: Literal["ups", "dhl"]
    color: Color
    note: str | None = None
    tags: list[str] = []
    lines: list[Line]
    address: Line


def test_form_has_a_field_for_each_type_prefilled_with_the_proposal() -> None:
    """Text, bounded numbers, booleans, enums and Literals, optionals, lists, nested models."""
    order = Order(
        order_id="A-1",
        amount=12.5,
        carrier="ups",
        color=Color.BLUE,
        tags=["x"],
        lines=[Line(sku="s", qty=2)],
        address=Line(sku="home", qty=1),
    )
    form = form_for(Order.model_json_schema(), order.model_dump(mode="json"))
    fields = {f["path"]: f for f in form["fields"]}
    assert form["kind"] == "object"
    assert (fields["order_id"]["kind"], fields["order_id"]["value"]) == ("text", "A-1")
    assert fields["amount"]["kind"] == "number"
    assert fields["amount"]["bounds"] == {"exclusiveMinimum": 0, "maximum": 1000}
    assert fields["amount"]["description"] == "in euros"
    assert (fields["express"]["kind"], fields["express"]["required"]) == ("boolean", False)
    assert (fields["carrier"]["kind"], fields["carrier"]["options"]) == ("enum", ["ups", "dhl"])
    assert (fields["color"]["kind"], fields["color"]["options"]) == ("enum", ["red", "blue"])
    assert fields["color"]["value"] == "blue"
    assert (fields["note"]["kind"], fields["note"]["nullable"]) == ("text", True)
    assert (fields["tags"]["kind"], fields["tags"]["item"]["kind"]) == ("list", "text")
    assert fields["tags"]["value"] == ["x"]
    line = fields["lines"]["item"]
    assert line["kind"] == "object"
    assert [(f["path"], f["kind"]) for f in line["fields"]] == [
        ("lines/*/sku", "text"),
        ("lines/*/qty", "integer"),
    ]
    assert line["fields"][1]["bounds"] == {"minimum": 1, "maximum": 10}
    nested = {f["path"]: f for f in fields["address"]["fields"]}
    assert nested["address/sku"]["value"] == "home"


def test_unknown_schema_shapes_fall_back_to_a_json_box() -> None:
    """A union the form cannot draw is edited as JSON text rather than dropped."""
    schema = {
        "type": "object",
        "properties": {"either": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
    }
    form = form_for(schema, {"either": 3})
    assert form["fields"][0]["kind"] == "json"
    assert form["fields"][0]["value"] == 3


def test_problems_are_grouped_by_field_path() -> None:
    """The store's problems ("path: message") land on their form field; others on the form."""
    grouped = problems_by_field(
        ["amount: -5 is less than the minimum of 0", "lines/0/qty: too big", "value: bad", "odd"]
    )
    assert grouped == {
        "amount": ["-5 is less than the minimum of 0"],
        "lines/0/qty": ["too big"],
        "": ["bad", "odd"],
    }


# -- the inbox widget ----------------------------------------------------------------------------


def _waiting(*runs: hitl.RunHandle) -> list[str]:
    return [run.wait_for_request().request_id for run in runs]


def _in_asked_order(*request_ids: str) -> list[str]:
    """The ids in the inbox's order: when each was asked, then the id (runs started together
    ask in either order)."""
    return sorted(request_ids, key=lambda rid: (hitl.store().request(rid).requested_at, rid))


@pytest.mark.usefixtures("runtime")
def test_snapshot_lists_the_waiting_requests_with_what_each_allows(tmp_path: Path) -> None:
    """A view that opens gets the page of rows, the total and who answers."""
    _waiting(Approver.start("A-1", str(tmp_path / "c")), Chooser.start(), Writer.start())
    ids = [item.request_id for item in hitl.inbox()]
    widget = inbox_widget()
    snapshot = click(widget, type="hello")
    assert snapshot["type"] == "snapshot"
    assert [row["id"] for row in snapshot["rows"]] == ids
    assert snapshot["total"] == 3
    assert snapshot["agents"] == ["Approver", "Chooser", "Writer"]
    by_kind = {row["kind"]: row for row in snapshot["rows"]}
    approval, choice, text = by_kind["approval"], by_kind["choice"], by_kind["text"]
    assert (approval["kind"], approval["has_proposal"]) == ("approval", True)
    assert choice["options"] == ["red", "green", "blue"]
    assert text["kind"] == "text"
    assert widget.responder == "alice"
    assert "Inbox: 3 waiting, answering as alice" in widget.text()


@pytest.mark.usefixtures("runtime")
def test_approve_reject_choose_and_answer_from_the_widget(tmp_path: Path) -> None:
    """Each action stores the decision as the widget's responder, channel widget."""
    approve_run, reject_run = (
        Approver.start("A-1", str(tmp_path / "c")),
        Approver.start("A-2", str(tmp_path / "c")),
    )
    choose_run, answer_run = Chooser.start(), Writer.start()
    a, r, c, t = _waiting(approve_run, reject_run, choose_run, answer_run)
    widget = inbox_widget()

    approved = click(widget, type="respond", request_id=a, approve=True, comment="fine by me")
    assert approved["ok"]
    assert approved["message"].startswith(f"“Refund?” ({a}): approved by alice at ")
    assert click(widget, type="respond", request_id=r, approve=False, comment="too much")["ok"]
    assert click(widget, type="respond", request_id=c, choice="green")["ok"]
    reply = click(widget, type="respond", request_id=t, text="ship it")
    assert reply["ok"]
    assert reply["message"].startswith(f"“Say something” ({t}): answered by alice at ")

    assert approve_run.result(timeout=30)["outcome"] == "approved"
    assert reject_run.result(timeout=30)["outcome"] == "rejected"
    assert choose_run.result(timeout=30) == "chose:green"
    assert answer_run.result(timeout=30) == "ship it"
    rejected = reject_run.decisions()[0]
    assert (rejected.by, rejected.channel, rejected.comment) == ("alice", "widget", "too much")
    assert approve_run.decisions()[0].comment == "fine by me"
    assert widget.rows == []
    assert widget.total == 0


@pytest.mark.usefixtures("runtime")
def test_edit_form_submits_a_valid_edit_and_shows_problems_inline() -> None:
    """The form is pre-filled; a bad value comes back per field and nothing is stored."""
    run = Editor.start()
    (request_id,) = _waiting(run)
    widget = inbox_widget()
    form_message = click(widget, type="form", request_id=request_id)
    fields = {f["path"]: f for f in form_message["form"]["fields"]}
    assert fields["amount"]["value"] == 5.0
    assert fields["amount"]["bounds"] == {"minimum": 0, "maximum": 1000}

    bad = click(
        widget,
        type="respond",
        request_id=request_id,
        approve=True,
        value={"order_id": "E-1", "amount": 5000, "note": ""},
    )
    assert not bad["ok"]
    assert not bad["decided"]
    assert list(bad["errors"]) == ["amount"]
    assert "1000" in bad["errors"]["amount"][0]
    assert run.requests(open_only=True), "an invalid edit must leave the request open"
    assert [row["id"] for row in widget.rows] == [request_id]

    good = click(
        widget,
        type="respond",
        request_id=request_id,
        approve=True,
        value={"order_id": "E-1", "amount": 7.5, "note": "half"},
        comment="adjusted",
    )
    assert good["ok"]
    assert run.result(timeout=30) == {
        "outcome": "edited",
        "value": {"order_id": "E-1", "amount": 7.5, "note": "half"},
    }


@pytest.mark.usefixtures("runtime")
def test_a_request_without_proposal_has_no_form() -> None:
    """Asking for the form of a text request says there is nothing to edit."""
    (request_id,) = _waiting(Writer.start())
    reply = click(inbox_widget(), type="form", request_id=request_id)
    assert reply["form"] is None
    assert "no proposal" in reply["message"]


@pytest.mark.usefixtures("runtime")
def test_bulk_approve_answers_each_and_reports_the_refused(tmp_path: Path) -> None:
    """Approve selected: approvals go through, a text request is refused with its reason."""
    runs = [Approver.start(f"B-{i}", str(tmp_path / "c")) for i in range(3)]
    ids = _waiting(*runs)
    (text_id,) = _waiting(Writer.start())
    widget = inbox_widget()
    reply = click(widget, type="bulk", request_ids=[*ids, text_id], approve=True, comment="batch")
    assert reply["type"] == "bulk_result"
    assert reply["message"] == "3 approved, 1 refused"
    assert sorted(reply["decided"]) == sorted(ids)
    assert "text request" in reply["failed"][text_id]
    assert [r.result(timeout=30)["by"] for r in runs] == ["alice"] * 3
    assert [row["id"] for row in widget.rows] == [text_id]


@pytest.mark.usefixtures("runtime")
def test_bulk_reject(tmp_path: Path) -> None:
    """Reject selected rejects each with the comment."""
    runs = [Approver.start(f"R-{i}", str(tmp_path / "c")) for i in range(2)]
    ids = _waiting(*runs)
    reply = click(inbox_widget(), type="bulk", request_ids=ids, approve=False, comment="no")
    assert reply["message"] == "2 rejected"
    assert {r.decisions()[0].comment for r in runs} == {"no"}


@pytest.mark.usefixtures("runtime")
def test_a_click_that_loses_the_race_says_who_decided(tmp_path: Path) -> None:
    """Someone else answered first: the row shows "already ... by X at T", no traceback."""
    (request_id,) = _waiting(Approver.start("A-9", str(tmp_path / "c")))
    widget = inbox_widget()
    hitl.respond(request_id, approve=False, by="bob")
    reply = click(widget, type="respond", request_id=request_id, approve=True)
    assert not reply["ok"]
    assert reply["decided"]
    assert reply["message"].startswith(f"“Refund?” ({request_id}): already rejected by bob at ")
    assert widget.rows == []


@pytest.mark.usefixtures("runtime")
def test_refresh_sends_only_what_changed(tmp_path: Path) -> None:
    """No read and no message when nothing changed; new and gone rows as a patch."""
    first, second = _waiting(Writer.start(), Writer.start())
    widget = inbox_widget()
    assert {row["id"] for row in widget.rows} == {first, second}
    queries = widget.queries
    assert widget.refresh() is None
    assert widget.queries == queries
    assert sent(widget, "patch") == []

    (third,) = _waiting(Writer.start())
    patch = widget.refresh()
    assert patch is not None
    assert [row["id"] for row in patch["upsert"]] == [third]
    assert patch["remove"] == []
    assert patch["order"] == [item.request_id for item in hitl.inbox()]
    assert patch["total"] == 3

    hitl.respond(first, text="answered elsewhere", by="bob")
    patch = widget.refresh()
    assert patch is not None
    assert (patch["upsert"], patch["remove"], patch["total"]) == ([], [first], 2)
    assert sent(widget, "patch")[-1] == patch


@pytest.mark.usefixtures("runtime")
def test_search_filters_sort_and_pages(tmp_path: Path) -> None:
    """The browser's query narrows, orders and pages the rows; the total counts all matches."""
    _waiting(*[Writer.start() for _ in range(5)])
    writers = [item.request_id for item in hitl.inbox(kind="text")]
    (chooser,) = _waiting(Chooser.start())
    widget = inbox_widget(page_size=2)
    page = click(widget, type="query", query={"kind": "text"}, page=1)
    assert page["type"] == "snapshot"
    assert (page["total"], page["page"]) == (5, 1)
    assert [row["id"] for row in page["rows"]] == writers[2:4]
    page = click(widget, type="query", query={"kind": "", "search": "which"})
    assert [row["id"] for row in page["rows"]] == [chooser]
    page = click(widget, type="query", query={"search": "", "sort": "title", "descending": True})
    assert [row["kind"] for row in page["rows"]] == ["choice", "text"]  # "Which?" > "Say..."
    page = click(widget, type="query", query={"agent": "Chooser"}, page=7)
    assert (page["page"], [r["id"] for r in page["rows"]]) == (0, [chooser])
    with pytest.raises(ValueError, match="Cannot sort by"):
        widget.set_query({"sort": "colour"})
    with pytest.raises(ValueError, match="page_size"):
        hitl.inbox().widget(page_size=0)


@pytest.mark.usefixtures("runtime")
def test_details_show_body_proposal_and_status_history(tmp_path: Path) -> None:
    """The details view has the request in full and its run's status transitions."""
    (request_id,) = _waiting(Approver.start("D-1", str(tmp_path / "c")))
    details = click(inbox_widget(), type="details", request_id=request_id)["details"]
    assert details["proposal"] == {"order_id": "D-1", "amount": 42.0, "note": ""}
    assert [e["status"] for e in details["history"]][-1] == "waiting"
    assert details["decided"] is None


@pytest.mark.usefixtures("runtime")
def test_details_show_the_proposal_as_a_table_and_the_body_as_safe_markdown() -> None:
    """Field/value rows for the proposal; the body's Markdown as HTML with its HTML inert."""
    body = "**Overdue** since May.\n\n<img src=x onerror=alert(1)> [pay](javascript:alert(2))"
    run = Gatekeeper.start(body)
    (request_id,) = _waiting(run)
    details = click(inbox_widget(), type="details", request_id=request_id)["details"]
    assert details["proposal_rows"] == [
        ["number", "I-7"],
        ["amount", "99.5"],
        ["lines 1 \u203a sku", "S-1"],
        ["lines 1 \u203a qty", "2"],
    ]
    html = details["body_html"]
    assert "<strong>Overdue</strong>" in html
    assert "<img" not in html
    assert "javascript:" not in html.replace("](javascript:", "")
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    run.cancel(by="bob")


@pytest.mark.usefixtures("runtime")
def test_rows_say_what_their_deadline_will_do(tmp_path: Path) -> None:
    """Each row carries its timeout rule in words (for when it is overdue), from the stored request."""
    runs = {
        "reject": Approver.start("T-1", str(tmp_path / "c"), 3600, "reject"),
        "raise": Approver.start("T-2", str(tmp_path / "c"), 3600, "raise"),
        "choose": Chooser.start("1h", "green"),
        "none": Writer.start(),
    }
    ids = dict(zip(runs, _waiting(*runs.values()), strict=True))
    rows = {row["id"]: row for row in inbox_widget().rows}
    rule = {name: rows[request_id]["at_deadline"] for name, request_id in ids.items()}
    assert rule == {
        "reject": "it will be rejected (its default) when the run next looks; answers are refused",
        "raise": "it will raise a timeout in the agent when the run next looks; answers are refused",
        "choose": "it will be answered 'green' (its default) when the run next looks; "
        "answers are refused",
        "none": None,
    }
    assert rows[ids["reject"]]["actions"] == ["approve", "reject", "edit"]
    assert rows[ids["choose"]]["actions"] == ["choose"]


@pytest.mark.usefixtures("runtime")
def test_rows_say_when_the_responder_may_not_answer() -> None:
    """Assignees and the requester rule, as the store applies them, per widget responder."""
    (request_id,) = _waiting(Gatekeeper.start(requester="carol"))
    widget = inbox_widget()
    assert widget.rows[0]["why_not"] == "it is assigned to bob, carol"
    widget.responder = "bob"
    assert widget.rows[0]["why_not"] is None
    widget.responder = "carol"
    assert widget.rows[0]["why_not"] == (
        "they started this run and the request does not let its requester answer"
    )
    refused = click(widget, type="respond", request_id=request_id, approve=True)
    assert not refused["ok"]
    assert refused["message"].startswith(f"“Pay the invoice?” ({request_id}): 'carol' may not")


@pytest.mark.usefixtures("runtime")
def test_the_status_column_does_not_repeat_the_title() -> None:
    """A row's status is the agent's own, never "waiting — <title>"; its state is in words."""
    _waiting(Writer.start(), Gatekeeper.start())
    for row in inbox_widget().rows:
        assert row["title"] not in row["status"]
        assert row["state"] == "waiting"


@pytest.mark.usefixtures("runtime")
def test_a_finished_run_card_shows_no_progress(tmp_path: Path) -> None:
    """The SDK's final status carries progress 1.0; a done run's card shows no bar for it."""
    run = Approver.start("P-1", str(tmp_path / "c"))
    (request_id,) = _waiting(run)
    hitl.respond(request_id, approve=True, by="bob")
    run.result(timeout=30)
    card = run.widget()
    assert card.ended
    assert (card.card["state"], card.card["progress"]) == ("done", None)


def test_widgets_speak_peoples_words_never_dbos_states(db_url: str, tmp_path: Path) -> None:
    """Rows, cards, details and the text/HTML reprs say waiting, parked, done, cancelled."""
    with testing.launched(db_url, executor="pytest", park_after="0.2s"):
        parked, finished, cancelled = Writer.start(), Writer.start(), Writer.start()
        parked_id, finished_id, _ = _waiting(parked, finished, cancelled)
        hitl.respond(finished_id, text="done here", by="bob")
        finished.result(timeout=30)
        cancelled.cancel()
        widget = inbox_widget()

        def parked_row() -> bool:
            widget.refresh()
            return [row["state"] for row in widget.rows] == ["parked"]

        testing.wait_until(parked_row, timeout=30)
        assert [(row["id"], row["state"]) for row in widget.rows] == [(parked_id, "parked")]
        click(widget, type="hello")
        click(widget, type="details", request_id=parked_id)
        cards = [parked.widget(), finished.widget(), cancelled.widget()]
        assert [card.card["state"] for card in cards] == ["parked", "done", "cancelled"]
        for card in cards:
            click(card, type="hello")
        said = [json.dumps(m) for w in [widget, *cards] for m in sent(w)]
        said += [text for w in [widget, *cards] for text in (w.text(), w.html())]
        assert [DBOS_STATES.findall(text) for text in said if DBOS_STATES.search(text)] == []
        parked.cancel()


@pytest.mark.usefixtures("runtime")
def test_live_refresh_thread_follows_answers_from_elsewhere() -> None:
    """The background thread notices a request answered by another channel and patches it out."""
    first, second = _waiting(Writer.start(), Writer.start())
    widget = hitl.inbox().widget(refresh_s=0.05)
    assert widget.running
    hitl.respond(first, text="from the CLI", by="bob")
    testing.wait_until(lambda: [r["id"] for r in widget.rows] == [second], timeout=10)
    assert any(first in p["remove"] for p in sent(widget, "patch"))
    widget.close()
    assert not widget.running


@pytest.mark.usefixtures("runtime")
def test_rerunning_the_inbox_cell_leaves_one_live_widget() -> None:
    """Displaying the inbox 20 times closes each earlier widget: one thread, no model growth."""
    _waiting(Writer.start())

    def refresh_threads() -> int:
        return sum(t.name == "hitl-inbox-refresh" for t in threading.enumerate())

    hitl.inbox().widget()
    models = len(ipywidget_module._instances)
    for _ in range(20):
        hitl.inbox().widget()
    assert refresh_threads() == 1
    assert len(ipywidget_module._instances) == models
    assert len(live_widgets()) == 1
    live_widgets()[0].close()
    assert refresh_threads() == 0


@pytest.mark.usefixtures("runtime")
def test_widget_bundle_has_text_and_html_beside_the_view() -> None:
    """Frontends without widgets (nbconvert, GitHub, nbval) get a readable table."""
    (request_id,) = _waiting(Writer.start())
    data, _metadata = inbox_widget()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert request_id in data["text/plain"]
    assert f"<td>{request_id}</td>" in data["text/html"]


@pytest.mark.usefixtures("runtime")
def test_inbox_outside_a_kernel_is_text_and_html() -> None:
    """In a plain interpreter the inbox shows as text and HTML, and starts no thread."""
    (request_id,) = _waiting(Writer.start())
    bundle = hitl.inbox()._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert request_id in bundle["text/plain"]
    assert live_widgets() == []


class _Kernel:
    def get_parent(self, channel: str = "shell") -> dict[str, Any]:
        return {}


class _Shell:
    kernel = _Kernel()


@pytest.fixture
def in_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Code runs in a Jupyter kernel, where a displayed object can be a widget."""
    monkeypatch.setattr(IPython, "get_ipython", _Shell)


INBOX_QUERY = re.compile(r"FROM \S*hitl_requests JOIN \S*workflow_status", re.IGNORECASE)


@contextlib.contextmanager
def inbox_queries() -> Iterator[list[str]]:
    """The inbox queries run by this thread (a widget's refresh thread is not counted)."""
    engine = hitl.store().database.engine
    here = threading.current_thread()
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.current_thread() is here and INBOX_QUERY.search(statement):
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


@pytest.mark.usefixtures("runtime", "in_a_kernel")
def test_displaying_the_inbox_runs_one_inbox_query() -> None:
    """The widget shown for an inbox draws its first page from the rows already read."""
    first, second = _waiting(Writer.start(), Writer.start())
    with inbox_queries() as seen:
        data, _metadata = hitl.inbox()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert first in data["text/plain"] and second in data["text/plain"]
    assert len(seen) == 1
    with inbox_queries() as seen:
        widget = hitl.inbox().widget(live=False)
    assert [row["id"] for row in widget.rows] == _in_asked_order(first, second)
    assert len(seen) == 1
    with inbox_queries() as seen:
        assert widget.refresh() is None
    assert seen == []  # nothing changed: the change counter says so, no rows are read


@pytest.mark.usefixtures("runtime", "in_a_kernel")
def test_a_paged_inbox_shows_every_request_in_its_widget() -> None:
    """An inbox read with a limit is shown whole: its widget counts the requests and reads its
    first page."""
    first, second = _waiting(Writer.start(), Writer.start())
    with inbox_queries() as seen:
        widget = hitl.inbox(limit=1).widget(live=False)
    assert [row["id"] for row in widget.rows] == _in_asked_order(first, second)
    assert len(seen) == 3


@pytest.mark.usefixtures("runtime", "in_a_kernel")
def test_a_run_shows_as_its_card_in_a_kernel_and_an_unknown_run_as_text() -> None:
    """A run handle displayed in a kernel is its live card; a run that does not exist is text."""
    run = Writer.start()
    _waiting(run)
    data, _metadata = run._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["text/plain"].startswith(f"Run {run.id} (Writer): waiting")
    bundle = hitl.run("no-such-run")._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert "no-such-run" in bundle["text/plain"]


@pytest.mark.usefixtures("runtime")
def test_a_malformed_message_from_the_browser_shows_as_a_notice() -> None:
    """A message the widget cannot act on says what failed; one it does not know is ignored."""
    widget = inbox_widget()
    before = len(sent(widget))
    for content in ({"type": "teleport"}, {"no": "type"}):
        widget._on_message(widget, content, [])
    widget._on_message(widget, ["not", "a", "dict"], [])
    assert sent(widget)[before:] == []
    notice = click(widget, type="respond", approve=True)
    assert notice == {"type": "notice", "message": "respond failed: KeyError: 'request_id'"}
    notice = click(widget, type="query", query={}, page="two")
    assert notice["type"] == "notice"
    assert notice["message"].startswith("query failed: ValueError: invalid literal for int()")
    card = Writer.start().widget()
    notice = click(card, type="form")
    assert notice == {"type": "notice", "message": "form failed: KeyError: 'request_id'"}


# -- the run card --------------------------------------------------------------------------------


@pytest.mark.usefixtures("runtime")
def test_run_card_shows_status_and_answers_in_place(tmp_path: Path) -> None:
    """The card lists the open request; approving from it resumes the run; the card ends."""
    run = Approver.start("C-1", str(tmp_path / "c"))
    (request_id,) = _waiting(run)
    card = run.widget(refresh_s=0.05)
    assert isinstance(card, RunWidget)
    hello = click(card, type="hello")["card"]
    assert (hello["status"], hello["state"]) == ("waiting", "waiting")
    assert [r["id"] for r in hello["requests"]] == [request_id]
    assert [e["status"] for e in hello["timeline"]][-1] == "waiting"
    assert "waiting for: [approval] Refund?" in card.text()

    assert click(card, type="respond", request_id=request_id, approve=True)["ok"]
    testing.wait_until(lambda: card.ended and not card.running, timeout=30)
    assert (card.card["status"], card.card["state"]) == ("finished", "done")
    assert card.card["requests"] == []
    assert "'outcome': 'approved'" in card.card["result"]
    assert "finished" in card.html()


@pytest.mark.usefixtures("runtime")
def test_a_card_for_an_unknown_run_is_a_clear_error() -> None:
    """No widget is made for a run that does not exist."""
    with pytest.raises(hitl.NotFoundError, match="no-such-run"):
        hitl.run("no-such-run").widget()
    assert live_widgets() == []


@pytest.mark.usefixtures("runtime")
def test_wait_async_lets_the_loop_run_while_waiting() -> None:
    """Awaiting a run leaves the event loop free (a widget click would be handled meanwhile)."""
    run = Writer.start()
    (request_id,) = _waiting(run)

    async def scenario() -> str:
        waiting = asyncio.ensure_future(run.wait_async(timeout=30))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await hitl.respond_async(request_id, text="meanwhile", by="alice")
        return await waiting

    assert _run_async(scenario()) == "SUCCESS"
    late = Writer.start()
    with pytest.raises(hitl.ResultTimeoutError):
        _run_async(late.wait_async(timeout=0.1))
    late.cancel()


def _run_async(coroutine: Any) -> Any:
    """Run a coroutine on a loop of its own (Playwright may hold this thread's loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.mark.usefixtures("runtime")
def test_widget_ships_its_module_and_styles() -> None:
    """The ESM and CSS are package files, sent to the browser with the widget's state."""
    (open_message,) = [m for m in inbox_widget().comm.messages if m["msg_type"] == "comm_open"]
    state = open_message["data"]["state"]
    assert "export default" in state["_esm"]
    assert ".hitl-inbox" in state["_css"]
    assert state["view"] == "inbox"
