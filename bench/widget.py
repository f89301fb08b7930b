"""The inbox widget in a real browser at 1,000 and 10,000 waiting requests.

What is measured
----------------
An operator's notebook in JupyterLab (headless Debian Chromium driven by Playwright, a fresh
server on 127.0.0.1) connects to a database holding N waiting requests, with only its URL, and
shows ``store.inbox().widget()``. Three numbers, each the median of ``REPEATS`` tries, once the
kernel is warm (the notebook ran once):

- *first_rows_ms*: from executing the widget cell (in the page: ``notebook:run-cell``) until the
  first row of the new widget is in the DOM. It covers the kernel round trip, the inbox query of
  all N requests, the widget's model and ESM reaching the page, and the first page of rows;
- *click_ms*: from the click on a row's Approve button (the browser's clock) until this process,
  polling the database every 5 ms, reads the stored decision (same machine clock; so an upper
  bound by a few ms). Each try clicks another row;
- *refresh_ms*: the cost of one refresh in the kernel (``widget.refresh()``: one inbox query of
  N requests, the diff of the page, nothing sent when nothing changed), timed in the kernel after
  the clicks. Each execution of that cell numbers its output, and the figure is read from the
  second one's (the first ran with Run All), never from an earlier output still on the page.

The goals at 10,000: first rows within 1,000 ms, click within 300 ms.

How the waiting requests are built
----------------------------------
By ``bench/inbox.py``'s builder (``--phase build``): a few real RefundAgent runs that wait for an
approval, copied to N requests with new ids and times. SQLite by default, ``--postgres`` for the
databases ``hitl_bench_widget_<N>`` on 127.0.0.1:5432 (made fresh, dropped at the end).

Run it from the repository root (about 2 minutes)::

    python bench/widget.py               # 1,000 and 10,000
    python bench/widget.py --quick       # 200 and 1,000

It prints a table, then as its last line one JSON object:
``{"1000": {"first_rows_ms", "click_ms", "refresh_ms"}, "10000": {...}}``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _rows import PG_SERVER, recreate_postgres_database, table_row

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402
from tests.browser.jupyter import (  # noqa: E402
    KERNEL_READY_JS,
    Lab,
    jupyter_server,
    launch_chromium,
    open_and_run_all,
    write_notebook,
)

from hitl_notebook.testing import drop_database  # noqa: E402

SIZES = (1_000, 10_000)
QUICK_SIZES = (200, 1_000)
REPEATS = 5
PG_DB = "hitl_bench_widget"
GOAL_N = 10_000
GOAL_FIRST_ROWS_MS = 1_000.0
GOAL_CLICK_MS = 300.0

SETUP = """import time
import hitl_notebook as hitl

store = hitl.connect({url!r})
assert len(store.inbox()) == {n}"""
SHOW = """widget = store.inbox().widget(responder="bench", refresh_s=3600)
widget"""
REFRESH = """refresh_runs = globals().get("refresh_runs", 0) + 1
costs = []
for _ in range({repeats}):
    started = time.perf_counter()
    widget.refresh()
    costs.append((time.perf_counter() - started) * 1000)
print(f"REFRESH_MS run {{refresh_runs}}:", sorted(costs)[len(costs) // 2])"""
"""Each execution of the cell numbers its output, so the benchmark reads the run it started."""

# In the page: re-run the active (widget) cell and time until a row of the *new* widget shows.
FIRST_ROWS_JS = """() => new Promise((resolve) => {
  document.querySelectorAll('.hitl-inbox').forEach((n) => { n.dataset.old = '1'; });
  const started = performance.now();
  const found = () => document.querySelector('.hitl-inbox:not([data-old]) tr.hitl-row');
  const observer = new MutationObserver(() => {
    if (found()) { observer.disconnect(); resolve(performance.now() - started); }
  });
  observer.observe(document.body, { childList: true, subtree: true });
  void window.jupyterapp.commands.execute('notebook:run-cell');
})"""
CLICK_JS = """(id) => {
  // Approve opens a box for an optional comment; the answer leaves with "Send approval".
  document.querySelector(`tr.hitl-row[data-id="${id}"] button.hitl-approve`).click();
  const send = document.querySelector(`tr.hitl-panel-row[data-id="${id}"] button.hitl-send-approve`);
  const at = Date.now();
  send.click();
  return at;
}"""


def build(url: str, n: int) -> None:
    """N waiting requests, made by bench/inbox.py's builder in a child process."""
    command = [sys.executable, str(REPO / "bench" / "inbox.py"), "--phase", "build"]
    done = subprocess.run(
        [*command, "--db", url, "--n", str(n)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"building {n} requests failed:\n{done.stdout}\n{done.stderr}")


def cell(page: Page, index: int) -> Any:
    return page.locator(".jp-NotebookPanel").filter(visible=True).locator(".jp-Cell").nth(index)


def activate(page: Page, index: int) -> None:
    """Make cell ``index`` the active one."""
    page.evaluate(
        "(i) => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = i; }", index
    )


def measure(page: Page, lab: Lab, url: str, n: int) -> dict[str, float]:
    import hitl_notebook as hitl  # noqa: PLC0415

    name = f"bench_{n}.ipynb"
    write_notebook(
        lab.root / name,
        [SETUP.format(url=url, n=n), SHOW, REFRESH.format(repeats=REPEATS)],
    )
    open_and_run_all(page, lab, name)
    expect(cell(page, 2)).to_contain_text("REFRESH_MS run 1:", timeout=300_000)

    first_rows = []
    for _ in range(REPEATS):
        page.wait_for_function(KERNEL_READY_JS)
        activate(page, 1)
        first_rows.append(page.evaluate(FIRST_ROWS_JS))
    expect(page.locator(".hitl-inbox")).to_have_count(1)

    store = hitl.connect(url)
    clicks = []
    for _ in range(REPEATS):
        row = page.locator("tr.hitl-row").first
        request_id = row.get_attribute("data-id")
        clicked_ms = page.evaluate(CLICK_JS, request_id)
        seen_ms = None
        give_up = time.monotonic() + 30
        while seen_ms is None and time.monotonic() < give_up:
            if store.request(str(request_id)).decision is not None:
                seen_ms = time.time() * 1000
            time.sleep(0.005)
        if seen_ms is None:
            raise RuntimeError(f"the click on {request_id} stored nothing within 30 s")
        clicks.append(seen_ms - clicked_ms)
        expect(page.locator(f'tr.hitl-row[data-id="{request_id}"]')).to_have_count(0)

    page.wait_for_function(KERNEL_READY_JS)
    activate(page, 2)
    page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:run-cell'); }")
    output = cell(page, 2).locator(".jp-OutputArea-output")
    expect(output).to_contain_text("REFRESH_MS run 2:")  # this run's, not the Run All's
    refresh_ms = float(output.inner_text().split("REFRESH_MS run 2:")[-1].split()[0])
    page.screenshot(path=str(REPO / "bench" / "results" / f"widget_{n}.png"))
    return {
        "first_rows_ms": round(statistics.median(first_rows), 1),
        "click_ms": round(statistics.median(clicks), 1),
        "refresh_ms": round(refresh_ms, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 and 1,000 requests")
    parser.add_argument("--postgres", action="store_true", help="Postgres instead of SQLite")
    args = parser.parse_args()
    sizes = QUICK_SIZES if args.quick else SIZES
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    results: dict[int, dict[str, float]] = {}
    folder = Path(tempfile.mkdtemp(prefix="hitl_bench_widget_"))
    urls: list[str] = []
    with jupyter_server(folder) as lab, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for n in sizes:
            if args.postgres:  # one database per size: the kernels keep theirs open
                recreate_postgres_database(f"{PG_DB}_{n}")
                url = f"{PG_SERVER}/{PG_DB}_{n}"
                urls.append(url)
            else:
                url = f"sqlite:///{folder / f'widget_{n}.sqlite'}"
            print(f"building {n:,} waiting requests ...", file=sys.stderr, flush=True)
            build(url, n)
            print(f"measuring {n:,} in JupyterLab ...", file=sys.stderr, flush=True)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(60_000)
            try:
                results[n] = measure(page, lab, url, n)
            finally:
                context.close()
        browser.close()
    shutil.rmtree(folder, ignore_errors=True)
    for url in urls:
        drop_database(url)
    columns, widths = ("n", "first_rows_ms", "click_ms", "refresh_ms"), (8, 14, 10, 11)
    backend = "postgres" if args.postgres else "sqlite"
    print(f"\nInbox widget in JupyterLab ({backend}; median of {REPEATS})")
    print(table_row(columns, widths))
    for n, m in results.items():
        cells = (f"{n:,}", *(f"{m[key]:.1f}" for key in columns[1:]))
        print(table_row(cells, widths))
    if GOAL_N in results:
        m = results[GOAL_N]
        met = m["first_rows_ms"] <= GOAL_FIRST_ROWS_MS and m["click_ms"] <= GOAL_CLICK_MS
        print(
            f"goal at {GOAL_N:,}: first rows {m['first_rows_ms']:.0f} <= {GOAL_FIRST_ROWS_MS:g}"
            f" ms and click {m['click_ms']:.0f} <= {GOAL_CLICK_MS:g} ms: "
            f"{'met' if met else 'MISSED'}"
        )
    print(json.dumps({str(n): m for n, m in results.items()}))


if __name__ == "__main__":
    main()
