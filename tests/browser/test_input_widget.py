"""An input request and a multiple choice in the inbox widget, in JupyterLab (light and dark).

The notebook's two runs ask for a shipping address (a blank form: defaults filled in, the
required fields marked, a number with its bounds, a Literal as a select, a bool as a checkbox)
and for 1 to 2 extras (checkboxes, "pick 1 to 2", Submit enabled only while the count fits). A
form submitted with a required field left empty is refused at that field and the run waits on;
filled in, it resumes the run with those values; ticking two extras resumes the other. Every text
is measured at 4.5:1 in both themes; screenshots land in test-artifacts/.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

import hitl_notebook as hitl
from tests.browser.conftest import screenshot
from tests.browser.jupyter import Lab, open_and_run_all, write_notebook
from tests.browser.test_theme_browser import _measure, _theme

SETUP = """
from typing import Literal

from pydantic import BaseModel, Field

import hitl_notebook as hitl

hitl.launch({url!r})


class Address(BaseModel):
    street: str = Field(min_length=1)
    city: str
    floor: int = Field(default=0, ge=0, le=99)
    express: bool = False
    kind: Literal["home", "work"] = "home"


class Shipping(hitl.Agent):
    def run(self) -> dict:
        return self.request_input("Where do we ship?", Address).value.model_dump()


class Extras(hitl.Agent):
    def run(self) -> list:
        return self.request_choice(
            "Which extras?", ["gift wrap", "express", "insurance"], multiple=True, min=1, max=2
        ).value


runs = [Shipping.start(run_id="ship-1"), Extras.start(run_id="extras-1")]
for run in runs:
    run.wait_for_request(timeout=60)
"""


def _row(page: Page, request_id: str) -> Any:
    return page.locator(f'tr.hitl-row[data-id="{request_id}"]')


def _panel(page: Page, request_id: str) -> Any:
    return page.locator(f'tr.hitl-panel-row[data-id="{request_id}"]')


def test_a_blank_form_and_checkboxes_answer_in_jupyterlab(page: Page, lab: Lab) -> None:
    """Fill in the blank form (a required field first left empty is refused there) and tick two
    extras: both runs resume with those values; readable in light and dark."""
    url = f"sqlite:///{lab.hitl_home / 'inputs.sqlite'}"
    write_notebook(
        lab.root / "inputs.ipynb",
        [SETUP.format(url=url), "hitl.inbox().widget(responder='browser-user')"],
    )
    open_and_run_all(page, lab, "inputs.ipynb")
    form_row, pick_row = _row(page, "ship-1.r1"), _row(page, "extras-1.r1")
    expect(form_row).to_have_count(1, timeout=90_000)
    expect(pick_row.locator(".hitl-kind-cell")).to_have_text("choice")

    form_row.locator("button.hitl-fill").click()
    form = _panel(page, "ship-1.r1")
    expect(form.locator('.hitl-field[data-path="street"] .hitl-label')).to_have_text("Street *")
    expect(form.locator('.hitl-field[data-path="street"] input')).to_have_value("")
    expect(form.locator('.hitl-field[data-path="floor"] input')).to_have_value("0")
    expect(form.locator('.hitl-field[data-path="floor"] .hitl-bounds')).to_have_text("(≥ 0, ≤ 99)")
    expect(
        form.locator('.hitl-field[data-path="express"] input[type="checkbox"]')
    ).not_to_be_checked()
    expect(form.locator('.hitl-field[data-path="kind"] select')).to_have_value('"home"')
    form.locator('.hitl-field[data-path="street"] input').fill("1 Main St")
    form.locator("button.hitl-submit-input").click()
    expect(form.locator('.hitl-field[data-path="city"] .hitl-field-error')).to_have_text(
        "a value is required"
    )
    assert hitl.connect(url).request("ship-1.r1").is_open
    form.locator('.hitl-field[data-path="city"] input').fill("Bergen")
    form.locator('.hitl-field[data-path="floor"] input').fill("3")
    form.locator('.hitl-field[data-path="express"] input').check()
    form.locator('.hitl-field[data-path="kind"] select').select_option('"work"')
    screenshot(page, "input_form")

    pick_row.locator("button.hitl-pick").click()
    picks = _panel(page, "extras-1.r1")
    expect(picks.locator(".hitl-pick-rule")).to_contain_text("pick 1 to 2")
    submit = picks.locator("button.hitl-submit-picks")
    expect(submit).to_be_disabled()
    for option in ("insurance", "express", "gift wrap"):
        picks.locator(f'input.hitl-pick[data-option="{option}"]').check()
    expect(submit).to_be_disabled()  # three is one too many
    picks.locator('input.hitl-pick[data-option="gift wrap"]').uncheck()
    expect(submit).to_be_enabled()
    screenshot(page, "multiple_choice")
    for theme in ("JupyterLab Dark", "JupyterLab Light"):
        _theme(page, theme)
        screenshot(page, f"input_and_picks_{theme.split()[-1].lower()}")
        low = [m for m in _measure(page) if m["ratio"] < 4.5]
        assert low == [], f"{theme}: text below 4.5:1: {low}"

    form.locator("button.hitl-submit-input").click()
    submit.click()
    expect(form_row).to_have_count(0, timeout=15_000)
    expect(pick_row).to_have_count(0, timeout=15_000)
    store = hitl.connect(url)
    assert store.result("ship-1", timeout=60) == {
        "street": "1 Main St",
        "city": "Bergen",
        "floor": 3,
        "express": True,
        "kind": "work",
    }
    assert store.result("extras-1", timeout=60) == ["express", "insurance"]
    decision = store.request("extras-1.r1").decision
    assert decision is not None
    assert (decision.outcome, decision.by, decision.channel) == ("chose", "browser-user", "widget")
