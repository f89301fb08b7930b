"""A tool call in the notebook widgets: the tool, its docstring and its arguments shown; only the
editable arguments editable; the digest carried with every answer, so a stale one is refused;
what an edit changed shown once decided. SQLite and Postgres, DBOS real, the browser's end of
the comm recorded (see test_widget)."""

from __future__ import annotations

from typing import Any

import pytest

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._notebook.run_widget import RunWidget
from tests.test_widget import _close_widgets, click, inbox_widget, recording_comm  # noqa: F401
from tests.tool_shop import ToolShop

pytestmark = pytest.mark.usefixtures("runtime")


def _asked(amount: float, order_id: str = "A-1") -> tuple[hitl.RunHandle, hitl.Request]:
    run = ToolShop.start(amount, order_id)
    testing.wait_until(lambda: run.requests(open_only=True), timeout=30, message="the tool call")
    (request,) = run.requests(open_only=True)
    assert request.tool is not None
    return run, request


def _digest(request: hitl.Request) -> str:
    assert request.tool is not None
    return request.tool.digest


def test_a_tool_call_shows_its_tool_docstring_and_arguments() -> None:
    """The row, the details and the form name the tool and show its arguments, which may change."""
    _run, request = _asked(80)
    widget = inbox_widget()
    (row,) = widget.rows
    tool: Any = row["tool"]
    assert tool["label"] == "Tool call: refund"
    assert tool["description"] == "Refund part of an order."
    assert tool["digest"] == _digest(request)
    assert tool["editable"] == ["amount"]
    assert tool["arguments"] == [["order_id", "A-1", ""], ["amount", "80.0", "editable"]]
    assert row["actions"] == ["approve", "reject", "edit"]
    assert "[Tool call: refund]" in widget.text()
    assert "Tool call: refund" in widget.html()

    details = click(widget, type="details", request_id=request.request_id)["details"]
    assert details["tool"] == tool
    assert details["changes"] == []

    form = click(widget, type="form", request_id=request.request_id)
    assert form["digest"] == _digest(request)
    fields = {field["path"]: field for field in form["form"]["fields"]}
    assert (fields["order_id"].get("readonly"), fields["order_id"]["value"]) == (True, "A-1")
    assert (fields["amount"].get("readonly"), fields["amount"]["value"]) == (None, 80.0)


def test_an_answer_drawn_for_another_call_is_refused_and_the_run_keeps_waiting() -> None:
    """A form's digest that is not the request's: refused with a clear message, nothing stored."""
    run, request = _asked(80)
    _other, other = _asked(90, "B-2")
    widget = inbox_widget()
    refused = click(
        widget,
        type="respond",
        request_id=request.request_id,
        approve=True,
        value={"order_id": "A-1", "amount": 50},
        digest=_digest(other),
    )
    assert (refused["ok"], refused["decided"]) == (False, False)
    assert "drawn for another call" in refused["message"]
    assert "nothing was stored" in refused["message"]
    assert refused["errors"] == {"": ["drawn for another call: open it again"]}
    assert hitl.store().request(request.request_id).is_open
    assert run.requests(open_only=True)
    assert request.request_id in [row["id"] for row in widget.rows]
    assert hitl.decisions(run.id).empty

    approved = click(
        widget, type="respond", request_id=request.request_id, approve=True, digest=_digest(request)
    )
    assert approved["ok"], approved["message"]
    assert run.result(timeout=30) == "refunded 80.0 on A-1"


def test_an_edit_of_an_argument_that_is_not_editable_is_refused() -> None:
    """Changing order_id (only amount is editable) comes back on that field; nothing is stored."""
    run, request = _asked(80)
    widget = inbox_widget()
    refused = click(
        widget,
        type="respond",
        request_id=request.request_id,
        approve=True,
        value={"order_id": "Z-9", "amount": 80},
        digest=_digest(request),
    )
    assert (refused["ok"], refused["decided"]) == (False, False)
    assert list(refused["errors"]) == ["order_id"]
    assert "may not be edited" in refused["errors"]["order_id"][0]
    assert hitl.store().request(request.request_id).is_open
    assert run.requests(open_only=True)


def test_an_edited_tool_call_shows_what_changed() -> None:
    """After an edit the answer, the details and the run card list argument, proposed, approved."""
    run, request = _asked(80)
    widget = inbox_widget()
    card = RunWidget(hitl.store(), run.id, responder="alice", live=False)
    edited = click(
        widget,
        type="respond",
        request_id=request.request_id,
        approve=True,
        value={"order_id": "A-1", "amount": 50},
        digest=_digest(request),
        comment="half is fair",
    )
    assert edited["ok"], edited["message"]
    assert "edited by alice" in edited["message"]
    assert edited["message"].endswith("; amount 80.0 → 50.0")
    assert run.result(timeout=30) == "refunded 50.0 on A-1"

    details = click(card, type="details", request_id=request.request_id)["details"]
    assert details["changes"] == [["amount", "80.0", "50.0"]]
    assert details["decided"].startswith("edited by alice")
    card.refresh(send=False)
    (call,) = card.card["tool_calls"]
    assert (call["id"], call["label"]) == (request.request_id, "Tool call: refund")
    assert call["changes"] == [["amount", "80.0", "50.0"]]
    assert "Tool call: refund: edited by alice" in card.text()
    assert "amount 80.0 → 50.0" in card.text()


def test_the_run_card_answers_a_tool_call_with_its_digest() -> None:
    """The card's request carries the tool; a stale digest is refused there too."""
    run, request = _asked(30)
    card = RunWidget(hitl.store(), run.id, responder="alice", live=False)
    (shown,) = card.card["requests"]
    assert shown["tool"] is not None
    assert shown["tool"]["label"] == "Tool call: refund"
    stale = click(
        card, type="respond", request_id=request.request_id, approve=False, digest="0" * 64
    )
    assert (stale["ok"], stale["decided"]) == (False, False)
    assert run.requests(open_only=True)
    denied = click(
        card,
        type="respond",
        request_id=request.request_id,
        approve=False,
        digest=_digest(request),
        comment="not this one",
    )
    assert denied["ok"], denied["message"]
    assert run.result(timeout=30) == "denied: not this one"
