"""The inbox widget in a real browser: JupyterLab and Notebook 7, headless Chromium.

A notebook starts agents, shows the inbox and then awaits the runs; meanwhile the test clicks in
the rendered widget (the clicks get through because the cell awaits) and checks each run's outcome
in the database. One request is answered from another process (the CLI) and must leave the page
without a click.
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

from playwright.sync_api import Page, expect

import hitl_notebook as hitl
from hitl_notebook._core.times import now_ms
from hitl_notebook._db.changes import note_change
from hitl_notebook._db.database import requests
from tests.browser.conftest import screenshot
from tests.browser.jupyter import (
    KERNEL_READY_JS,
    Lab,
    open_and_run_all,
    run_cell,
    write_notebook,
)

SETUP = """
import hitl_notebook as hitl
from pydantic import BaseModel, Field

hitl.launch({url!r})


class Refund(BaseModel):
    order_id: str
    amount: float = Field(gt=0, le=1000)
    express: bool = False


class Reviewer(hitl.Agent):
    def run(self, order_id: str, timeout: str | None = None) -> dict:
        decision = self.request_approval(
            f"Refund {{order_id}}?",
            proposal=Refund(order_id=order_id, amount=10),
            timeout=timeout,
            on_timeout="reject",
        )
        value = decision.value.model_dump() if decision.approved else None
        return {{"outcome": decision.outcome.value, "value": value, "by": decision.by}}


class Picker(hitl.Agent):
    def run(self) -> str:
        return self.request_choice("Pick a carrier", ["ups", "dhl"]).value


class Asker(hitl.Agent):
    def run(self) -> str:
        return self.request_text("Any note?").value


runs = [Reviewer.start(name, {timeout!r}, run_id=name) for name in {reviews!r}]
runs += [Picker.start(run_id=name) for name in {picks!r}]
runs += [Asker.start(run_id=name) for name in {asks!r}]
for run in runs:
    run.wait_for_request(timeout=60)
"""
SHOW = "hitl.inbox()  # a live widget, answering as $HITL_USER"
AWAIT = "ended = [await run.wait_async(timeout=300) for run in runs]\nended"


def _notebook(lab: Lab, name: str, **runs: list[str]) -> str:
    url = f"sqlite:///{lab.hitl_home / (name + '.sqlite')}"
    setup = SETUP.format(url=url, timeout=None, **runs)
    write_notebook(lab.root / f"{name}.ipynb", [setup, SHOW, AWAIT])
    return url


def _row(page: Page, request_id: str) -> Any:
    return page.locator(f'tr.hitl-row[data-id="{request_id}"]')


def _panel(page: Page, request_id: str) -> Any:
    return page.locator(f'tr.hitl-panel-row[data-id="{request_id}"]')


def _result(url: str, run_id: str) -> Any:
    return hitl.connect(url).result(run_id, timeout=60)


def test_every_action_in_jupyterlab(page: Page, lab: Lab) -> None:
    """Approve, Reject, Choose, Answer and Edit-and-submit; the runs get exactly those answers."""
    url = _notebook(
        lab,
        "actions",
        reviews=["approve-me", "reject-me", "edit-me"],
        picks=["choose-me"],
        asks=["answer-me"],
    )
    open_and_run_all(page, lab, "actions.ipynb")
    expect(page.locator("tr.hitl-row")).to_have_count(5, timeout=90_000)
    expect(page.locator(".hitl-badge")).to_have_text("5 waiting")
    expect(page.locator(".hitl-responder")).to_have_text("answering as browser-user")
    screenshot(page, "inbox_lab")

    _row(page, "approve-me.r1").locator("button.hitl-approve").click()
    _panel(page, "approve-me.r1").locator("input.hitl-comment").fill("fine")
    _panel(page, "approve-me.r1").locator("button.hitl-send-approve").click()
    expect(_row(page, "approve-me.r1")).to_have_count(0, timeout=15_000)
    expect(page.locator(".hitl-notice")).to_contain_text("“Refund approve-me?” (approve-me.r1)")

    _row(page, "reject-me.r1").locator("button.hitl-reject").click()
    _panel(page, "reject-me.r1").locator("input.hitl-comment").fill("too generous")
    _panel(page, "reject-me.r1").locator("button.hitl-send-reject").click()
    expect(_row(page, "reject-me.r1")).to_have_count(0, timeout=15_000)

    _row(page, "choose-me.r1").locator("button.hitl-choose", has_text="dhl").click()
    expect(_row(page, "choose-me.r1")).to_have_count(0, timeout=15_000)

    _row(page, "answer-me.r1").locator("button.hitl-answer").click()
    _panel(page, "answer-me.r1").locator("textarea.hitl-text").fill("call the customer")
    _panel(page, "answer-me.r1").locator("button.hitl-send-answer").click()
    expect(_row(page, "answer-me.r1")).to_have_count(0, timeout=15_000)

    _row(page, "edit-me.r1").locator("button.hitl-edit").click()
    form = _panel(page, "edit-me.r1")
    amount = form.locator('.hitl-field[data-path="amount"] input')
    expect(amount).to_have_value("10")
    amount.fill("5000")
    form.locator("button.hitl-submit-edit").click()
    error = form.locator('.hitl-field[data-path="amount"] > .hitl-field-error')
    expect(error).to_contain_text("1000")
    screenshot(page, "inbox_lab_edit_error")
    assert hitl.connect(url).requests("edit-me", open_only=True), "nothing sent while invalid"
    amount.fill("7.5")
    form.locator('.hitl-field[data-path="express"] input').check()
    form.locator("button.hitl-submit-edit").click()
    expect(_row(page, "edit-me.r1")).to_have_count(0, timeout=15_000)
    expect(page.locator(".hitl-badge")).to_have_text("0 waiting")
    screenshot(page, "inbox_lab_done")

    assert _result(url, "approve-me") == {
        "outcome": "approved",
        "value": {"order_id": "approve-me", "amount": 10.0, "express": False},
        "by": "browser-user",
    }
    assert _result(url, "reject-me")["outcome"] == "rejected"
    assert hitl.connect(url).requests("approve-me")[0].decision.comment == "fine"  # type: ignore[union-attr]
    assert hitl.connect(url).requests("reject-me")[0].decision.comment == "too generous"  # type: ignore[union-attr]
    assert _result(url, "edit-me") == {
        "outcome": "edited",
        "value": {"order_id": "edit-me", "amount": 7.5, "express": True},
        "by": "browser-user",
    }
    assert _result(url, "choose-me") == "dhl"
    assert _result(url, "answer-me") == "call the customer"
    # The awaiting cell finished once every run ended: clicks got through while it awaited.
    prompts = page.locator(".jp-NotebookPanel").filter(visible=True).locator(".jp-InputPrompt")
    expect(prompts.nth(2)).to_have_text("[3]:", timeout=30_000)


def test_answer_from_another_process_updates_the_page(page: Page, lab: Lab) -> None:
    """The CLI answers one request; its row leaves the page by itself, the other stays."""
    url = _notebook(lab, "remote", reviews=[], picks=[], asks=["remote-a", "remote-b"])
    open_and_run_all(page, lab, "remote.ipynb")
    expect(page.locator("tr.hitl-row")).to_have_count(2, timeout=90_000)
    cli = [
        sys.executable,
        "-m",
        "hitl_notebook._service.cli",
        "respond",
        "remote-a.r1",
        "--db",
        url,
    ]
    subprocess.run(
        [*cli, "--answer", "from the terminal", "--by", "carol"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    expect(_row(page, "remote-a.r1")).to_have_count(0, timeout=15_000)
    expect(_row(page, "remote-b.r1")).to_have_count(1)
    expect(page.locator(".hitl-badge")).to_have_text("1 waiting")
    screenshot(page, "inbox_lab_remote")
    assert _result(url, "remote-a") == "from the terminal"
    hitl.connect(url).respond("remote-b.r1", text="done", by="carol")


def test_smoke_in_notebook7(page: Page, lab: Lab) -> None:
    """The same widget renders and answers in Notebook 7."""
    url = _notebook(lab, "nb7", reviews=["nb7-approve"], picks=["nb7-choose"], asks=[])
    open_and_run_all(page, lab, "nb7.ipynb", ui="notebook7")
    expect(page.locator("tr.hitl-row")).to_have_count(2, timeout=90_000)
    screenshot(page, "inbox_notebook7")
    _row(page, "nb7-approve.r1").locator("button.hitl-approve").click()
    _panel(page, "nb7-approve.r1").locator("button.hitl-send-approve").click()
    _row(page, "nb7-choose.r1").locator("button.hitl-choose", has_text="ups").click()
    expect(page.locator("tr.hitl-row")).to_have_count(0, timeout=15_000)
    assert _result(url, "nb7-approve")["outcome"] == "approved"
    assert _result(url, "nb7-choose") == "ups"


CHECK = """import threading
import ipywidgets.widgets.widget as ipywidget_module
from hitl_notebook._notebook.live import live_widgets

threads = sum(t.name == "hitl-inbox-refresh" for t in threading.enumerate())
print(f"LIVE {len(live_widgets())} THREADS {threads} MODELS {len(ipywidget_module._instances)}")"""


def _cell(page: Page, index: int) -> Any:
    return page.locator(".jp-NotebookPanel").filter(visible=True).locator(".jp-Cell").nth(index)


def _run_cell(page: Page, index: int) -> str:
    """Run one cell and wait until it has finished; return its output text."""
    prompt = _cell(page, index).locator(".jp-InputPrompt")
    page.wait_for_function(KERNEL_READY_JS)
    before = prompt.inner_text()
    run_cell(page, index)
    expect(prompt).not_to_have_text(before)
    expect(prompt).to_have_text(re.compile(r"^\[\d+\]:$"))
    return str(_cell(page, index).locator(".jp-OutputArea").inner_text())


def test_bulk_details_run_card_and_rerunning_the_cell(page: Page, lab: Lab) -> None:
    """Bulk approve, a refused bulk reject, countdowns, overdue rows, details, the run card;
    20 re-runs of the inbox cell leave one live widget."""
    url = f"sqlite:///{lab.hitl_home / 'bulk.sqlite'}"
    reviews = ["bulk-1", "bulk-2", "bulk-3"]
    setup = SETUP.format(url=url, timeout="1h", reviews=reviews, picks=[], asks=["card"])
    write_notebook(lab.root / "bulk.ipynb", [setup, SHOW, "runs[-1]", CHECK])
    open_and_run_all(page, lab, "bulk.ipynb")
    expect(page.locator("tr.hitl-row")).to_have_count(4, timeout=90_000)
    card = page.locator(".hitl-run")
    expect(card).to_have_attribute("data-status", "waiting")
    expect(_cell(page, 3)).to_contain_text("LIVE 2 THREADS 1")

    _row(page, "bulk-1.r1").locator("button.hitl-details-btn").click()
    details = _panel(page, "bulk-1.r1").locator(".hitl-details")
    expect(details.locator(".hitl-proposal tbody tr").first).to_have_text("order_idbulk-1")
    expect(details.locator(".hitl-timeline li").last).to_contain_text("waiting")
    screenshot(page, "inbox_lab_details")

    countdown = _row(page, "bulk-1.r1").locator("td.hitl-deadline")
    expect(countdown).to_have_text(re.compile(r"^(59m \d\ds|1h 00m) left$"))
    with hitl.connect(url).database.engine.begin() as conn:  # bulk-3 is now a minute late
        conn.execute(
            requests.update()
            .where(requests.c.request_id == "bulk-3.r1")
            .values(deadline_ms=now_ms() - 60_000)
        )
        note_change(conn, "bulk-3")  # nothing in the SDK moves a deadline: say it changed
    expect(_row(page, "bulk-3.r1")).to_have_class(re.compile("hitl-overdue"))
    expect(_row(page, "bulk-3.r1").locator("td.hitl-deadline")).to_contain_text("overdue 1m")
    expect(_row(page, "bulk-3.r1").locator(".hitl-overdue-note")).to_contain_text(
        "it will be rejected (its default) when the run next looks; answers are refused"
    )
    expect(_row(page, "bulk-3.r1").locator("button.hitl-approve")).to_have_count(0)

    for request_id in ("bulk-1.r1", "bulk-2.r1"):
        _row(page, request_id).locator("input.hitl-select").check()
    page.locator("input.hitl-bulk-comment").fill("batch")
    page.locator("button.hitl-bulk-approve").click()
    expect(page.locator(".hitl-bulk-plan")).to_have_text("Approve 2: bulk-1.r1, bulk-2.r1.")
    page.locator("button.hitl-bulk-send").click()
    expect(page.locator(".hitl-bulk-msg")).to_have_text("2 approved")
    _row(page, "bulk-3.r1").locator("input.hitl-select").check()
    page.locator("button.hitl-bulk-reject").click()  # too late: skipped, with the reason
    expect(page.locator(".hitl-bulk-plan")).to_have_text(
        "Nothing to reject. Skipped 1: bulk-3.r1 (deadline passed)."
    )
    expect(page.locator("tr.hitl-row")).to_have_count(2)

    card.locator("button.hitl-answer").click()
    card.locator("textarea.hitl-text").fill("from the card")
    card.locator("button.hitl-send-answer").click()
    expect(card).to_have_attribute("data-status", "finished", timeout=15_000)
    expect(card.locator(".hitl-result")).to_contain_text("from the card")
    screenshot(page, "run_card_lab")
    assert _result(url, "bulk-1")["outcome"] == "approved"
    assert _result(url, "bulk-2")["by"] == "browser-user"
    assert hitl.connect(url).requests("bulk-3", open_only=True), "the late answer changed nothing"
    assert _result(url, "card") == "from the card"

    before = _run_cell(page, 3).split("MODELS")[-1].strip()
    for _ in range(20):
        _run_cell(page, 1)
    after = _run_cell(page, 3)
    assert "LIVE 2 THREADS 1" in after, after
    assert after.split("MODELS")[-1].strip() == before, after
    expect(page.locator(".hitl-inbox")).to_have_count(1)
