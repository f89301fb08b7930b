"""Kernels played by child processes (``processes/runner.py``) for the multi-process tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import hitl_notebook as hitl
from hitl_notebook import testing

HERE = Path(__file__).parent / "processes"
TEMPLATE = (HERE / "agents_template.py").read_text()
HITL = str(Path(sys.executable).with_name("hitl"))


class ChildProcesses:
    """A test's child processes, sharing a side-effect counter file; close() kills what is left."""

    def __init__(self, db_url: str, tmp_path: Path) -> None:
        self.db_url = db_url
        self.counter = tmp_path / "counter.txt"
        self.processes: list[subprocess.Popen[str]] = []

    @staticmethod
    def kill(process: subprocess.Popen[str]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.kill(process)

    def counted(self) -> list[str]:
        """The lines the children wrote to the counter file."""
        return self.counter.read_text().splitlines() if self.counter.exists() else []


class Kernels(ChildProcesses):
    """Starts and kills runner processes playing kernels."""

    def __init__(self, db_url: str, tmp_path: Path) -> None:
        super().__init__(db_url, tmp_path)
        self.agents = tmp_path / "scenario_agents.py"
        self.write_agents("v1")

    def write_agents(self, version: str, extra: str = "") -> None:
        """Write the agent module; ``extra`` code goes after the imports, moving every later line."""
        head, _, tail = TEMPLATE.partition('VERSION = "v1"')
        self.agents.write_text(head + extra + f"VERSION = {version!r}" + tail)

    def launch(self, executor: str, *command: str) -> tuple[subprocess.Popen[str], list[str]]:
        env = {**os.environ, "HITL_TEST_COUNTER": str(self.counter)}
        process = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "runner.py"),
                "--db",
                self.db_url,
                "--executor",
                executor,
                "--agents",
                str(self.agents),
                *command,
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.processes.append(process)
        assert process.stdout is not None
        ids: list[str] = []
        for line in process.stdout:
            if line.startswith("["):
                ids = json.loads(line)
            if line.strip() == "ready":
                return process, ids
        raise AssertionError(f"runner {executor} exited with {process.wait()} before it was ready")

    def lines(self) -> list[str]:
        return self.counted()

    def restart_and_approve_from_a_third_process(self, run_ids: list[str]) -> None:
        """Restart ``kernel-a``, approve each run as alice from the command line in another
        process, and check that each resumed once, in the restarted kernel, with that answer."""
        restarted, _ = self.launch("kernel-a", "serve")
        for run_id in run_ids:
            done = answer_from_a_third_process(self.db_url, run_id, "--approve", "--by", "alice")
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["outcome"] == "approved"
        store = hitl.connect(self.db_url)
        for run_id in run_ids:
            result = store.result(run_id, timeout=60)
            assert (result["outcome"], result["by"], result["pid"]) == (
                "approved",
                "alice",
                restarted.pid,
            )
        lines = self.lines()
        for run_id in run_ids:
            assert (lines.count(f"before {run_id}"), lines.count(f"after {run_id}")) == (1, 1)


def answer_from_a_third_process(
    db_url: str, target: str, *flags: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HITL, "respond", target, *flags, "--db", db_url, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def wait_until_waiting(store: hitl.Store, run_ids: list[str]) -> None:
    for run_id in run_ids:
        testing.wait_until(
            lambda r=run_id: store.requests(r, open_only=True),
            timeout=60,
            message=f"run {run_id} waiting",
        )
