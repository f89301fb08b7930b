"""A tool call in the widgets, in a real browser: JupyterLab (light and dark) and Notebook 7.

The notebook's agent calls a ``hitl.approval_required`` tool; the inbox shows the tool's name,
docstring and arguments; the edit form lets the one editable argument change (the other is shown
read-only); the answer carries the call's digest; the run card then shows what the edit changed.
Screenshots land in test-artifacts/ and every text is measured at 4.5:1 in both themes.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

import hitl_notebook as hitl
from tests.browser.conftest import screenshot
from tests.browser.jupyter import Lab, open_and_run_all, write_notebook
from tests.browser.test_theme_browser import _measure, _theme

SETUP = """
import hitl_notebook as hitl

hitl.launch({url!r})


@hitl.approval_required(editable=["amount"])
def refund(order_id: str, amount: float) -> str:
    \"\"\"Refund part of an order.\"\"\"
    return f"refunded {{amount}} on {{order_id}}"


class ToolShop(hitl.Agent):
    def run(self, order_id: str, amount: float) -> str:
        return refund(order_id, amount)


runs = [ToolShop.start("A-1", 80, run_id=name) for name in {names!r}]
for run in runs:
    run.wait_for_request(timeout=60)
"""


def _notebook(lab: Lab, name: str, names: list[str], *cells: str) -> str:
    url = f"sqlite:///{lab.hitl_home / (name + '.sqlite')}"
    write_notebook(lab.root / f"{name}.ipynb", [SETUP.format(url=url, names=names), *cells])
    return url


def _row(page: Page, request_id: str) -> Any:
    return page.locator(f'tr.hitl-row[data-id="{request_id}"]')


def _panel(page: Page, request_id: str) -> Any:
    return page.locator(f'tr.hitl-panel-row[data-id="{request_id}"]')


def test_a_tool_call_is_shown_edited_and_its_change_listed_in_jupyterlab(
    page: Page, lab: Lab
) -> None:
    """Row, details and form show the tool; an edit of the amount goes through with the digest;
    the run card lists amount 80.0 -> 50.0; readable in light and dark."""
    url = _notebook(lab, "tools", ["tool-a"], "hitl.inbox()", "runs[0]")
    open_and_run_all(page, lab, "tools.ipynb")
    row = _row(page, "tool-a.tool1")
    expect(row).to_have_count(1, timeout=90_000)
    expect(row.locator(".hitl-kind-cell")).to_have_text("Tool call: refund")
    expect(row.locator(".hitl-preview")).to_have_text("Refund part of an order.")
    expect(row.locator(".hitl-args-line")).to_have_text("order_id A-1amount 80.0")

    row.locator("button.hitl-details-btn").click()
    details = _panel(page, "tool-a.tool1").locator(".hitl-details")
    expect(details.locator(".hitl-tool-name")).to_have_text("Tool call: refund")
    arguments = details.locator("table.hitl-args tbody tr")
    expect(arguments).to_have_count(2)
    expect(arguments.nth(0)).to_have_text("order_idA-1")
    expect(arguments.nth(1)).to_have_text("amount80.0editable")
    screenshot(page, "tool_call_details")

    row.locator("button.hitl-edit").click()
    form = _panel(page, "tool-a.tool1")
    expect(form.locator('.hitl-field[data-path="order_id"] .hitl-readonly')).to_have_text("A-1")
    expect(form.locator('.hitl-field[data-path="order_id"] input')).to_have_count(0)
    amount = form.locator('.hitl-field[data-path="amount"] input')
    expect(amount).to_have_value("80")
    amount.fill("50")
    form.locator("input.hitl-comment").fill("half is fair")
    screenshot(page, "tool_call_edit_form")
    form.locator("button.hitl-submit-edit").click()
    expect(row).to_have_count(0, timeout=15_000)
    expect(page.locator(".hitl-inbox .hitl-notice")).to_contain_text("amount 80.0 → 50.0")
    assert hitl.connect(url).result("tool-a", timeout=60) == "refunded 50.0 on A-1"
    decision = hitl.connect(url).requests("tool-a")[0].decision
    assert decision is not None
    assert (decision.outcome, decision.by, decision.tool) == ("edited", "browser-user", "refund")

    changed = page.locator(".hitl-run .hitl-tool-call table.hitl-changed tbody tr")
    expect(changed).to_have_text("amount80.050.0", timeout=15_000)
    for theme, shot in (
        ("JupyterLab Dark", "tool_call_dark"),
        ("JupyterLab Light", "tool_call_light"),
    ):
        _theme(page, theme)
        screenshot(page, shot)
        measured = _measure(page)
        low = [m for m in measured if m["ratio"] < 4.5]
        assert low == [], f"{theme}: text below 4.5:1: {low}"
        assert any("hitl-tool-name" in m["classes"] for m in measured), theme


def test_a_tool_call_is_shown_and_approved_in_notebook7(page: Page, lab: Lab) -> None:
    """The same row and details in Notebook 7; Approve sends the digest and the tool runs."""
    url = _notebook(lab, "tools7", ["tool-7"], "hitl.inbox()")
    open_and_run_all(page, lab, "tools7.ipynb", ui="notebook7")
    row = _row(page, "tool-7.tool1")
    expect(row).to_have_count(1, timeout=90_000)
    expect(row.locator(".hitl-kind-cell")).to_have_text("Tool call: refund")
    row.locator("button.hitl-details-btn").click()
    expect(_panel(page, "tool-7.tool1").locator("table.hitl-args tbody tr")).to_have_count(2)
    screenshot(page, "tool_call_notebook7")
    row.locator("button.hitl-approve").click()
    _panel(page, "tool-7.tool1").locator("button.hitl-send-approve").click()
    expect(row).to_have_count(0, timeout=15_000)
    assert hitl.connect(url).result("tool-7", timeout=60) == "refunded 80.0 on A-1"
