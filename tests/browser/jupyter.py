"""A headless JupyterLab (or Notebook 7) on 127.0.0.1 driven by Playwright and Debian's Chromium.

Used by the browser tests and by ``bench/widget.py``. The server runs on a free loopback port
with a random token, its own Jupyter dirs and its own ``HITL_HOME``; it contacts nothing outside.
The recipe and the reasons for each flag: reference/widgets.md section 2.3.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
from playwright.sync_api import Browser, Page, Playwright, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
KNOWN_NOISE = ("reading 'schema'", "filebrowser:open-path")
"""Page errors Notebook 7.6 logs by itself on load (with or without widgets)."""


@dataclass
class Lab:
    """A running Jupyter server: where it is, its token, its notebooks folder and HITL_HOME."""

    url: str
    token: str
    root: Path
    hitl_home: Path
    log: Path

    def page_url(self, notebook: str, ui: str) -> str:
        """The address of ``notebook`` in JupyterLab (``lab``) or Notebook 7 (``notebook7``)."""
        if ui == "lab":
            return f"{self.url}/lab/tree/{notebook}?reset&token={self.token}"
        return f"{self.url}/notebooks/{notebook}?token={self.token}"


def free_port() -> int:
    """A TCP port nobody listens on at 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def jupyter_server(base: Path) -> Iterator[Lab]:
    """Start ``jupyter lab`` on loopback under ``base``; stop the process group we started."""
    port, token = free_port(), secrets.token_hex(16)
    root, home, jupyter = base / "notebooks", base / "hitl_home", base / "jupyter"
    settings = jupyter / "settings" / "@jupyterlab" / "apputils-extension"
    for folder in (root, home, settings):
        folder.mkdir(parents=True, exist_ok=True)
    # Silence the "official Jupyter news?" toast, which covers the notebook.
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(jupyter / "config"),
        JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(jupyter / "workspaces"),
        JUPYTERLAB_SETTINGS_DIR=str(jupyter / "settings"),
        IPYTHONDIR=str(jupyter / "ipython"),
        HITL_HOME=str(home),
        HITL_USER="browser-user",  # who the widgets answer as, by default
        PYTHONPATH=os.pathsep.join(
            [str(REPO / "src"), str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    )
    env.pop("HITL_DATABASE_URL", None)
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.port_retries=0",
        "--ServerApp.allow_remote_access=False",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
        "--allow-root",
    ]
    log = base / "jupyter.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        give_up = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"jupyter lab exited early; see {log}") from None
                if time.monotonic() > give_up:
                    raise TimeoutError(f"jupyter lab did not start in 90 s; see {log}") from None
                time.sleep(0.2)
        yield Lab(url, token, root, home, log)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless (Playwright never downloads a browser here)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def write_notebook(path: Path, cells: list[str]) -> None:
    """Write a notebook of code cells."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = KERNELSPEC
    nbformat.write(notebook, path)


KERNEL_READY_JS = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const context = panel && panel.sessionContext;
  const kernel = context && context.session && context.session.kernel;
  return !!kernel && context.isReady && kernel.connectionStatus === 'connected'
    && kernel.status === 'idle';
}"""
RUN_CELL_JS = """(index) => {
  const panel = window.jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = index;
  // Fire and forget: awaiting the command's promise would wait for the cell to finish.
  void window.jupyterapp.commands.execute('notebook:run-cell');
}"""


def open_and_run_all(page: Page, lab: Lab, notebook: str, ui: str = "lab") -> None:
    """Open ``notebook`` and run its cells in order; the last one may still be running.

    Cells run one after the other once the kernel is connected and idle (``run_all``).
    (Clicking "Run All" as soon as the toolbar said idle left the cells unrun, "[ ]:", in about
    1 run of 5 here, once behind a "Select Kernel" dialog.)
    """
    open_notebook(page, lab, notebook, ui)
    run_all(page)


def open_notebook(page: Page, lab: Lab, notebook: str, ui: str = "lab") -> None:
    """Open ``notebook`` and wait until its kernel is connected and idle."""
    page.goto(lab.page_url(notebook, ui))
    if ui == "lab":
        current = page.locator("#jp-main-dock-panel li.lm-TabBar-tab.lm-mod-current")
        expect(current).to_have_text(notebook, timeout=60_000)
    page.wait_for_function(KERNEL_READY_JS, timeout=90_000)


CLEAR_AND_RUN_ALL_JS = """() => {
  const commands = window.jupyterapp.commands;
  return commands.execute('notebook:clear-all-cell-outputs').then(() => {
    // Fire and forget: awaiting Run All's promise would wait for every cell.
    void commands.execute('notebook:run-all-cells');
  });
}"""
STARTED_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.model.cells;
  for (let i = 0; i < cells.length; i++) {
    if (cells.get(i).type === 'code' && cells.get(i).executionCount !== null) return true;
  }
  return panel.sessionContext.session.kernel.status === 'busy';
}"""
RAN_ALL_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.model.cells;
  let ran = true;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    for (let j = 0; j < cell.outputs.length; j++) {
      if (cell.outputs.get(j).type === 'error') return 'error';
    }
    if (cell.executionCount === null) ran = false;
  }
  const kernel = panel.sessionContext.session.kernel;
  return ran && kernel.status === 'idle' ? 'done' : false;
}"""


def run_all_to_the_end(page: Page, *, timeout_s: float = 300) -> str:
    """Clear the outputs, Run All, and wait until every code cell ran (``done``) or one raised
    (``error``: Run All stops there). For long notebooks, whose off-screen cells JupyterLab does
    not draw: this reads the notebook's model, not the page."""
    page.wait_for_function(KERNEL_READY_JS, timeout=90_000)
    page.evaluate(CLEAR_AND_RUN_ALL_JS)
    try:
        page.wait_for_function(STARTED_JS, timeout=10_000)
    except PlaywrightTimeoutError:  # Run All did nothing (seen on a cold server): once more
        page.evaluate(
            "() => { void window.jupyterapp.commands.execute('notebook:run-all-cells'); }"
        )
    outcome: str = page.wait_for_function(RAN_ALL_JS, timeout=timeout_s * 1000).json_value()
    return outcome


def run_all(page: Page, *, wait_for_last: bool = False) -> None:
    """Run the code cells of the current notebook in order (the last may still be running)."""
    page.wait_for_function(KERNEL_READY_JS, timeout=90_000)
    cells = page.locator(".jp-NotebookPanel").filter(visible=True).locator(".jp-Cell")
    code = [
        i
        for i in range(cells.count())
        if "jp-CodeCell" in (cells.nth(i).get_attribute("class") or "")
    ]
    for index in code:
        run_cell(page, index)
        if index != code[-1] or wait_for_last:
            prompt = cells.nth(index).locator(".jp-InputPrompt")
            expect(prompt).to_have_text(re.compile(r"^\[\d+\]:$"), timeout=300_000)


def run_cell(page: Page, index: int) -> None:
    """Start cell ``index`` of the current notebook (without waiting for it to finish)."""
    cells = page.locator(".jp-NotebookPanel").filter(visible=True).locator(".jp-Cell")
    prompt = cells.nth(index).locator(".jp-InputPrompt")
    for attempt in range(3):
        accept = page.locator(".jp-Dialog .jp-mod-accept")
        if accept.count():  # a "Select Kernel" dialog: keep the notebook's own kernel
            accept.click()
        before = prompt.inner_text()
        page.evaluate(RUN_CELL_JS, index)
        try:
            expect(prompt).not_to_have_text(before, timeout=5_000)
            return
        except AssertionError:
            if attempt == 2:
                raise


def page_errors(errors: list[str]) -> list[str]:
    """The page errors that are ours (Notebook 7's own noise left out)."""
    return [e for e in errors if not any(noise in e for noise in KNOWN_NOISE)]
