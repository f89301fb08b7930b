"""The tutorial notebooks run again and again: Run All twice in JupyterLab on one database.

The quickstart and the inbox tour share the default database (the server's own HITL_HOME). Each
is run twice in a row; the second run must finish without an error, its widgets must show rows,
neither notebook's inbox may list what the other left waiting, and the second run withdraws what
the first left waiting for the reader (its count is the stored one).
"""

from __future__ import annotations

import shutil
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.jupyter import REPO, Lab, open_notebook, run_all_to_the_end

NOTEBOOKS = REPO / "notebooks"

ERRORS_JS = """() => {
  const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
  const errors = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== "code") continue;
    for (let j = 0; j < cell.outputs.length; j++) {
      const output = cell.outputs.get(j).toJSON();
      if (output.output_type === "error") errors.push(`${output.ename}: ${output.evalue}`);
    }
  }
  return errors;
}"""


def _run_twice(page: Page, lab: Lab, notebook: str) -> Any:
    shutil.copy(NOTEBOOKS / notebook, lab.root / notebook)
    open_notebook(page, lab, notebook)
    for attempt in ("first", "second"):
        outcome = run_all_to_the_end(page)
        assert outcome == "done", f"{notebook}, {attempt} Run All: {page.evaluate(ERRORS_JS)}"
    return page.locator(".jp-NotebookPanel").filter(visible=True)


def test_quickstart_and_inbox_tour_run_all_twice_on_one_database(page: Page, lab: Lab) -> None:
    """Second runs finish without an error and show filled widgets, each with its own rows only."""
    quickstart = _run_twice(page, lab, "01_quickstart.ipynb")
    rows = quickstart.locator("tr.hitl-row")
    expect(rows.first).to_be_visible(timeout=30_000)
    ids = {rows.nth(i).get_attribute("data-id") for i in range(rows.count())}
    assert ids and all(i.startswith("refund-A-") for i in ids if i), ids  # type: ignore[union-attr]
    # the second run withdrew the first run's two refunds: only its own two wait
    expect(quickstart.locator(".hitl-badge").last).to_have_text("2 waiting")
    screenshot(page, "notebook_01_second_run")

    tour = _run_twice(page, lab, "02_inbox.ipynb")
    rows = tour.locator("tr.hitl-row")
    expect(rows.first).to_be_visible(timeout=30_000)
    ids = {rows.nth(i).get_attribute("data-id") for i in range(rows.count())}
    assert ids and all(i.startswith("refund-B-3-") for i in ids if i), ids  # type: ignore[union-attr]
    # the second run withdrew the first run's refund-B-3: only its own waits
    expect(tour.locator(".hitl-badge").first).to_have_text("1 waiting")
    screenshot(page, "notebook_02_second_run")
