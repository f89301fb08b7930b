"""The widget's browser module alone: hitl.js drawn in Chromium with a stand-in model, no Jupyter.

Fast (no server, no kernel): the stand-in model records what the view sends and delivers the
kernel's messages. The messages are those the Python side sends (forms from ``form_for``, bodies
from ``markdown_html``), so these tests check how the page draws them.
"""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Page, expect
from pydantic import BaseModel

from hitl_notebook._core.models import ToolCall
from hitl_notebook._notebook.forms import form_for, only_editable
from hitl_notebook._notebook.inbox_widget import CHOICES
from hitl_notebook._notebook.live import STATIC
from hitl_notebook._notebook.text import markdown_html, proposal_rows, tool_facts

LOAD = """async ({ source, css }) => {
  const style = document.createElement("style");
  style.textContent = css;
  document.head.append(style);
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  const widget = (await import(url)).default;
  window.show = (view, responder) => {
    const handlers = [];
    const model = {
      sent: [],
      get: (key) => ({ view, responder })[key],
      on: (event, fn) => { if (event === "msg:custom") handlers.push(fn); },
      off: () => {},
      send: (message) => model.sent.push(message),
      emit: (message) => handlers.forEach((fn) => fn(message)),
    };
    const el = document.createElement("div");
    document.body.append(el);
    widget.render({ model, el });
    window.model = model;
  };
}"""


def _open(page: Page, view: str = "inbox") -> None:
    page.set_content("<!doctype html><html><body></body></html>")
    source = (STATIC / "hitl.js").read_text()
    css = (STATIC / "hitl.css").read_text()
    page.evaluate(LOAD, {"source": source, "css": css})
    page.evaluate("(view) => window.show(view, 'alice')", view)


def _emit(page: Page, message: dict[str, Any]) -> None:
    page.evaluate("(message) => window.model.emit(message)", message)


def _sent(page: Page) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = page.evaluate("() => window.model.sent")
    return sent


def _row(request_id: str, **fields: Any) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {
        "id": request_id,
        "run_id": request_id.split(".", maxsplit=1)[0],
        "agent": "RefundAgent",
        "kind": "approval",
        "title": f"Refund {request_id}?",
        "body": None,
        "options": None,
        "has_proposal": True,
        "assignees": [],
        "requested_at_ms": now - 60_000,
        "deadline_ms": now + 3_600_000,
        "state": "waiting",
        "status": "",
        "actions": ["approve", "reject", "edit"],
        "at_deadline": "it will be rejected (its default) when the run next looks; "
        "answers are refused",
        "why_not": None,
        **fields,
    }


def _snapshot(*rows: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "snapshot",
        "rows": list(rows),
        "total": len(rows),
        "agents": ["RefundAgent"],
        "choices": CHOICES,
        "query": {
            "search": "",
            "kind": "",
            "agent": "",
            "overdue": False,
            "sort": "requested_at",
            "descending": False,
        },
        "page": 0,
        "page_size": 25,
        "now_ms": int(time.time() * 1000),
    }


def test_the_menus_offer_what_the_kernel_sends(page: Page) -> None:
    """The sort keys and request kinds come from Python (the store's lists), not from hitl.js."""
    _open(page)
    choices = {
        "sorts": [{"key": "deadline", "label": "deadline"}, {"key": "soon", "label": "soonest"}],
        "kinds": ["approval", "poll"],
    }
    _emit(page, {**_snapshot(_row("a.r1")), "choices": choices})
    sort = page.locator("select.hitl-sort option")
    expect(sort).to_have_text(["deadline", "soonest"])
    assert [sort.nth(i).get_attribute("value") for i in range(2)] == ["deadline", "soon"]
    expect(page.locator("select.hitl-kind option")).to_have_text(["all kinds", "approval", "poll"])
    page.locator("select.hitl-sort").select_option("soon")
    assert _sent(page)[-1]["query"]["sort"] == "soon"


class Line(BaseModel):
    sku: str
    qty: int


class Order(BaseModel):
    order_id: str
    lines: list[Line]
    tags: list[str] = []


def test_list_fields_without_a_description_print_no_null(page: Page) -> None:
    """The edit form of a model with undescribed list fields shows their labels and nothing else."""
    _open(page)
    _emit(page, _snapshot(_row("edit-1.r1")))
    page.locator("button.hitl-edit").click()
    assert _sent(page)[-1] == {"type": "form", "request_id": "edit-1.r1"}
    value = {"order_id": "O-1", "lines": [{"sku": "S-1", "qty": 2}], "tags": ["x"]}
    form = form_for(Order.model_json_schema(), value)
    _emit(page, {"type": "form", "request_id": "edit-1.r1", "form": form, "message": ""})
    panel = page.locator(".hitl-panel-edit")
    expect(panel.locator('.hitl-field[data-path="lines"] > .hitl-label')).to_have_text("Lines *")
    text = panel.inner_text()
    assert "null" not in text
    assert "undefined" not in text
    expect(panel.locator('.hitl-field[data-path="lines/*/sku"] input')).to_have_value("S-1")


def test_approve_and_reject_carry_an_optional_comment(page: Page) -> None:
    """Approve opens a comment box like Reject's; Enter or the button sends the answer."""
    _open(page)
    _emit(page, _snapshot(_row("a.r1"), _row("b.r1")))
    page.locator('tr.hitl-row[data-id="a.r1"] button.hitl-approve').click()
    assert _sent(page)[-1]["type"] == "hello", "approve waits for the comment box"
    comment = page.locator('tr.hitl-panel-row[data-id="a.r1"] input.hitl-comment')
    comment.fill("looks right")
    comment.press("Enter")
    assert _sent(page)[-1] == {
        "type": "respond",
        "request_id": "a.r1",
        "approve": True,
        "comment": "looks right",
    }
    page.locator('tr.hitl-row[data-id="b.r1"] button.hitl-reject').click()
    page.locator('tr.hitl-panel-row[data-id="b.r1"] button.hitl-send-reject').click()
    assert _sent(page)[-1] == {
        "type": "respond",
        "request_id": "b.r1",
        "approve": False,
        "comment": "",
    }


def test_overdue_rows_say_what_will_happen_instead_of_offering_buttons(page: Page) -> None:
    """A late row has no Approve/Reject; it says when the deadline passed and what follows.
    A row whose deadline passes while shown swaps its buttons for that sentence."""
    now = int(time.time() * 1000)
    _open(page)
    late = _row("late.r1", deadline_ms=now - 185_000)
    soon = _row("soon.r1", deadline_ms=now + 1_500)
    _emit(page, _snapshot(late, soon))
    late_row = page.locator('tr.hitl-row[data-id="late.r1"]')
    expect(late_row.locator("button.hitl-approve, button.hitl-reject")).to_have_count(0)
    expect(late_row.locator(".hitl-overdue-note")).to_have_text(
        "deadline passed 3 min ago: it will be rejected (its default) when the run next looks; "
        "answers are refused"
    )
    expect(late_row.locator("button.hitl-details-btn")).to_have_count(1)
    soon_row = page.locator('tr.hitl-row[data-id="soon.r1"]')
    expect(soon_row.locator("button.hitl-approve")).to_have_count(1)
    expect(soon_row.locator(".hitl-overdue-note")).to_contain_text("deadline passed", timeout=5_000)
    expect(soon_row.locator("button.hitl-approve")).to_have_count(0)


def test_rows_the_responder_may_not_answer_say_why(page: Page) -> None:
    """No buttons that the store would refuse: the row gives the store's reason."""
    _open(page)
    _emit(page, _snapshot(_row("theirs.r1", why_not="it is assigned to bob, carol")))
    row = page.locator('tr.hitl-row[data-id="theirs.r1"]')
    expect(row.locator("button.hitl-approve")).to_have_count(0)
    expect(row.locator(".hitl-not-yours")).to_have_text(
        "you may not answer: it is assigned to bob, carol"
    )


def test_bulk_approve_applies_to_the_rows_it_fits_and_names_the_rest_first(page: Page) -> None:
    """Select all + approve: choice/text, overdue and not-yours rows are named as skipped, with
    the reason, before anything is sent; then only the fitting rows are sent."""
    now = int(time.time() * 1000)
    _open(page)
    rows = [
        _row("fits.r1"),
        _row("pick.r1", kind="choice", options=["ups", "dhl"], actions=["choose"]),
        _row("late.r1", deadline_ms=now - 60_000),
        _row("theirs.r1", why_not="it is assigned to bob"),
        _row("fits-too.r1", kind="edit"),
    ]
    _emit(page, _snapshot(*rows))
    page.locator("input.hitl-select-all").check()
    page.locator("input.hitl-bulk-comment").fill("batch")
    page.locator("button.hitl-bulk-approve").click()
    expect(page.locator(".hitl-bulk-plan")).to_have_text(
        "Approve 2: fits.r1, fits-too.r1. Skipped 3: pick.r1 (a choice request); "
        "late.r1 (deadline passed); theirs.r1 (you may not answer: it is assigned to bob)."
    )
    assert [m["type"] for m in _sent(page)] == ["hello"], "nothing is sent before the confirm"
    page.locator("button.hitl-bulk-send").click()
    assert _sent(page)[-1] == {
        "type": "bulk",
        "request_ids": ["fits.r1", "fits-too.r1"],
        "approve": True,
        "comment": "batch",
    }


def test_details_draw_the_proposal_table_and_an_inert_markdown_body(page: Page) -> None:
    """The kernel's sanitised Markdown is inserted as HTML: formatting shows, nothing runs."""
    hostile = (
        '**Urgent**: <img src=x onerror="window.pwned = 1"> '
        "[pay now](javascript:window.pwned=2) <script>window.pwned = 3</script>"
    )
    proposal = {"number": "I-7", "lines": [{"sku": "S-1", "qty": 2}], "express": False}
    _open(page)
    _emit(page, _snapshot(_row("d.r1")))
    page.locator("button.hitl-details-btn").click()
    details = {
        "title": "Pay the invoice?",
        "body": hostile,
        "body_html": markdown_html(hostile),
        "kind": "approval",
        "options": None,
        "proposal": proposal,
        "proposal_rows": proposal_rows(proposal),
        "assignees": [],
        "actions": ["approve", "reject", "edit"],
        "at_deadline": None,
        "why_not": None,
        "requested_at_ms": int(time.time() * 1000),
        "deadline_ms": None,
        "decided": None,
        "history": [{"status": "waiting", "detail": None, "at_ms": int(time.time() * 1000)}],
    }
    _emit(page, {"type": "details", "request_id": "d.r1", "details": details})
    panel = page.locator(".hitl-details")
    expect(panel.locator(".hitl-markdown strong")).to_have_text("Urgent")
    expect(
        panel.locator(".hitl-markdown img, .hitl-markdown script, .hitl-markdown a")
    ).to_have_count(0)
    cells = panel.locator(".hitl-proposal tbody tr").all_inner_texts()
    assert [cell.split("\t") for cell in cells] == [
        ["number", "I-7"],
        ["lines 1 \u203a sku", "S-1"],
        ["lines 1 \u203a qty", "2"],
        ["express", "no"],
    ]
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.pwned") is None


class RefundArgs(BaseModel):
    order_id: str
    amount: float


def test_a_tool_call_sends_its_digest_and_keeps_what_may_not_change(page: Page) -> None:
    """Approve and the edit form send the call's digest; a read-only argument goes back as it
    was; a refusal for a stale form shows in the form."""
    _open(page)
    arguments = {"order_id": "A-1", "amount": 80.0}
    call = ToolCall(
        name="refund", description="Refund.", digest="d" * 64, call_index=1, editable=["amount"]
    )
    tool = tool_facts(call, arguments)
    _emit(page, _snapshot(_row("t.tool1", tool=tool), _row("u.tool1", tool=tool)))
    row = page.locator('tr.hitl-row[data-id="t.tool1"]')
    expect(row.locator(".hitl-kind-cell")).to_have_text("Tool call: refund")
    row.locator("button.hitl-approve").click()
    page.locator('tr.hitl-panel-row[data-id="t.tool1"] button.hitl-send-approve').click()
    assert _sent(page)[-1] == {
        "type": "respond",
        "request_id": "t.tool1",
        "approve": True,
        "comment": "",
        "digest": "d" * 64,
    }

    page.locator('tr.hitl-row[data-id="u.tool1"] button.hitl-edit').click()
    form = only_editable(form_for(RefundArgs.model_json_schema(), arguments), call.editable)
    _emit(
        page,
        {"type": "form", "request_id": "u.tool1", "form": form, "message": "", "digest": "e" * 64},
    )
    panel = page.locator(".hitl-panel-edit")
    expect(panel.locator('.hitl-field[data-path="order_id"] .hitl-readonly')).to_have_text("A-1")
    expect(panel.locator('.hitl-field[data-path="order_id"] input')).to_have_count(0)
    panel.locator('.hitl-field[data-path="amount"] input').fill("50")
    panel.locator("button.hitl-submit-edit").click()
    assert _sent(page)[-1] == {
        "type": "respond",
        "request_id": "u.tool1",
        "approve": True,
        "value": {"order_id": "A-1", "amount": 50},
        "comment": "",
        "digest": "e" * 64,
    }
    stale = "drawn for another call: open it again"
    _emit(
        page,
        {
            "type": "result",
            "request_id": "u.tool1",
            "ok": False,
            "message": "not sent",
            "decided": False,
            "errors": {"": [stale]},
        },
    )
    expect(panel.locator(".hitl-form-error")).to_have_text(stale)
