"""The widgets in JupyterLab's light and dark themes: every text readable, in people's words.

The test measures, in the page, the WCAG contrast ratio of each piece of text in the inbox and the
run card (normal rows, an overdue row, state chips, buttons, an open details panel) against its
effective background (semi-transparent layers composited up to the first opaque one), and wants
4.5:1 at least. Screenshots of both themes land in test-artifacts/.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

import hitl_notebook as hitl
from hitl_notebook._core.times import now_ms
from hitl_notebook._db.changes import note_change
from hitl_notebook._db.database import requests
from tests.browser.conftest import screenshot
from tests.browser.jupyter import Lab, open_and_run_all, write_notebook

SETUP = """
import hitl_notebook as hitl
from pydantic import BaseModel

hitl.launch({url!r})


class Refund(BaseModel):
    order_id: str
    amount: float


class ThemeReviewer(hitl.Agent):
    def run(self, order_id: str) -> str:
        self.status("pending_approval", "checking the order")
        return self.request_approval(
            f"Refund {{order_id}}?",
            body="The customer says: **damaged** on arrival. [Order page](https://shop.example/o)",
            proposal=Refund(order_id=order_id, amount=12.5),
            timeout="1h",
            on_timeout="reject",
        ).outcome


class ThemePicker(hitl.Agent):
    def run(self) -> str:
        return self.request_choice("Carrier?", ["ups", "dhl"], timeout="1h", default="ups").value


runs = [ThemeReviewer.start(name, run_id=name) for name in ("theme-ok", "theme-late")]
runs.append(ThemePicker.start(run_id="theme-pick"))
for run in runs:
    run.wait_for_request(timeout=60)
"""

CONTRAST_JS = """() => {
  const parse = (text) => {
    let m = text.match(/^rgba?\\(([^)]+)\\)$/);
    if (m) {
      const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
      return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    }
    m = text.match(/^color\\(srgb ([^)]+)\\)$/);
    if (m) {
      const p = m[1].split(/[\\s\\/]+/).filter(Boolean).map(Number);
      return [p[0] * 255, p[1] * 255, p[2] * 255, p.length > 3 ? p[3] : 1];
    }
    throw new Error(`unknown colour ${text}`);
  };
  const over = (top, base) => [0, 1, 2].map((i) => top[i] * top[3] + base[i] * (1 - top[3])).concat([1]);
  const background = (el) => {
    const layers = [];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const color = parse(getComputedStyle(node).backgroundColor);
      if (color[3] > 0) layers.push(color);
      if (color[3] >= 1) break;
    }
    let base = [255, 255, 255, 1];
    if (layers.length && layers[layers.length - 1][3] >= 1) base = layers.pop();
    for (const layer of layers.reverse()) base = over(layer, base);
    return base;
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const out = [];
  for (const el of document.querySelectorAll(".hitl-inbox *, .hitl-run *")) {
    if (["OPTION", "SCRIPT", "STYLE"].includes(el.tagName)) continue;
    if (el.closest("select, [disabled]")) continue;
    const own = [...el.childNodes]
      .filter((n) => n.nodeType === 3 && n.textContent.trim())
      .map((n) => n.textContent.trim())
      .join(" ");
    if (!own || !el.getClientRects().length || getComputedStyle(el).visibility === "hidden") continue;
    const bg = background(el);
    const fg = over(parse(getComputedStyle(el).color), bg);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    const row = el.closest("tr.hitl-row, .hitl-run-request");
    out.push({
      text: own.slice(0, 60),
      ratio: Math.round(((hi + 0.05) / (lo + 0.05)) * 100) / 100,
      classes: el.className || el.tagName,
      overdue: !!(row && row.classList.contains("hitl-overdue")),
      row: !!row,
    });
  }
  return out;
}"""

DBOS_STATES = re.compile(r"\b(PENDING|ENQUEUED|DELAYED|SUCCESS|ERROR|CANCELLED)\b")


THEMES = {"JupyterLab Dark": "#111", "JupyterLab Light": "white"}
"""Each theme and its --jp-layout-color0, which says its stylesheet has been applied."""


def _theme(page: Page, name: str) -> None:
    page.evaluate(
        "(theme) => window.jupyterapp.commands.execute('apputils:change-theme', { theme })", name
    )
    page.wait_for_function(
        """([theme, layout]) => document.body.dataset.jpThemeName === theme
          && getComputedStyle(document.body).getPropertyValue('--jp-layout-color0').trim() === layout""",
        arg=[name, THEMES[name]],
    )
    # JupyterLab veils the page with its splash while it switches themes: wait until it is gone.
    page.locator("#jupyterlab-splash").wait_for(state="detached")


def _measure(page: Page) -> list[dict[str, Any]]:
    measured: list[dict[str, Any]] = page.evaluate(CONTRAST_JS)
    return measured


def test_widgets_are_readable_in_light_and_dark_themes(page: Page, lab: Lab) -> None:
    """Normal and overdue rows, state chips, buttons, details and the run card reach 4.5:1 in
    JupyterLab Light and JupyterLab Dark; no DBOS state word is on the page."""
    url = f"sqlite:///{lab.hitl_home / 'theme.sqlite'}"
    write_notebook(
        lab.root / "theme.ipynb",
        [SETUP.format(url=url), "hitl.inbox().widget(responder='browser-user')", "runs[0]"],
    )
    open_and_run_all(page, lab, "theme.ipynb")
    expect(page.locator("tr.hitl-row")).to_have_count(3, timeout=90_000)
    with hitl.connect(url).database.engine.begin() as conn:  # theme-late is 3 minutes late
        conn.execute(
            requests.update()
            .where(requests.c.request_id == "theme-late.r1")
            .values(deadline_ms=now_ms() - 180_000)
        )
        note_change(conn, "theme-late")  # nothing in the SDK moves a deadline: say it changed
    late = page.locator('tr.hitl-row[data-id="theme-late.r1"]')
    expect(late).to_have_class(re.compile("hitl-overdue"))
    expect(late.locator(".hitl-overdue-note")).to_contain_text("deadline passed 3 min ago")
    page.locator('tr.hitl-row[data-id="theme-ok.r1"] button.hitl-details-btn').click()
    expect(page.locator(".hitl-details .hitl-markdown strong")).to_have_text("damaged")
    expect(page.locator(".hitl-run .hitl-state")).to_have_text("waiting")
    widgets = page.locator(".hitl-inbox, .hitl-run")
    assert not DBOS_STATES.findall(" ".join(widgets.all_inner_texts()))

    for theme, shot in (("JupyterLab Dark", "widgets_dark"), ("JupyterLab Light", "widgets_light")):
        _theme(page, theme)
        screenshot(page, shot)
        measured = _measure(page)
        low = [m for m in measured if m["ratio"] < 4.5]
        assert low == [], f"{theme}: text below 4.5:1: {low}"
        kinds = {m["classes"] for m in measured}
        assert any(m["row"] and not m["overdue"] for m in measured), theme
        assert any(m["overdue"] for m in measured), theme
        assert any("hitl-state" in c for c in kinds), theme
        assert any("hitl-overdue-note" in c for c in kinds), theme
    for run_id in ("theme-ok", "theme-late", "theme-pick"):
        hitl.connect(url).cancel(run_id)
