"""Durability across processes: SIGKILL, restarts, deadlines passing while down, two kernels, code edits.

Each test plays kernels with ``tests/processes/runner.py`` child processes and answers from a third
process with the ``hitl respond`` command, which has no agent code and launches nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._database import answers

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent / "processes"
TEMPLATE = (HERE / "agents_template.py").read_text()
HITL = str(Path(sys.executable).with_name("hitl"))


class Kernels:
    """Starts and kills runner processes; kills whatever is left at the end of the test."""

    def __init__(self, db_url: str, tmp_path: Path) -> None:
        self.db_url = db_url
        self.counter = tmp_path / "counter.txt"
        self.agents = tmp_path / "scenario_agents.py"
        self.write_agents("v1")
        self.processes: list[subprocess.Popen[str]] = []

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

    @staticmethod
    def kill(process: subprocess.Popen[str]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.kill(process)

    def lines(self) -> list[str]:
        return self.counter.read_text().splitlines() if self.counter.exists() else []


@pytest.fixture
def kernels(db_url: str, tmp_path: Path) -> Iterator[Kernels]:
    launched = Kernels(db_url, tmp_path)
    yield launched
    launched.close()


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


def test_sigkill_while_waiting_then_restart_and_answer_from_a_third_process(
    kernels: Kernels, db_url: str
) -> None:
    """Every run resumes exactly once with its answer; steps before the wait ran once."""
    first, run_ids = kernels.launch("kernel-a", "start", "3")
    store = hitl.connect(db_url)
    wait_until_waiting(store, run_ids)
    kernels.kill(first)
    assert all(store.run_state(r) == "PENDING" for r in run_ids)

    restarted, _ = kernels.launch("kernel-a", "serve")
    for run_id in run_ids:
        done = answer_from_a_third_process(db_url, run_id, "--approve", "--by", "alice")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["outcome"] == "approved"

    for run_id in run_ids:
        result = store.result(run_id, timeout=60)
        assert (result["outcome"], result["by"], result["pid"]) == (
            "approved",
            "alice",
            restarted.pid,
        )
    lines = kernels.lines()
    for run_id in run_ids:
        assert lines.count(f"before {run_id}") == 1
        assert lines.count(f"after {run_id}") == 1


def test_deadline_passes_while_the_process_is_down(kernels: Kernels, db_url: str) -> None:
    """A late answer is refused and recorded; at restart the declared default applies as a timeout."""
    first, (run_id,) = kernels.launch(
        "kernel-a", "start", "1", "--timeout", "2", "--on-timeout", "reject"
    )
    store = hitl.connect(db_url)
    wait_until_waiting(store, [run_id])
    (request,) = store.requests(run_id, open_only=True)
    kernels.kill(first)
    assert request.deadline is not None
    testing.wait_until(lambda: time.time() > request.deadline.timestamp() + 0.2, timeout=30)

    late = answer_from_a_third_process(db_url, request.request_id, "--approve", "--by", "bob")
    assert late.returncode == 1
    assert "DeadlinePassedError" in late.stderr
    assert "recorded as late" in late.stderr
    with store.database.engine.connect() as conn:
        logged = conn.execute(sa.select(answers.c.by, answers.c.result)).all()
    assert [(r.by, r.result) for r in logged] == [("bob", "late")]

    kernels.launch("kernel-a", "serve")
    result = store.result(run_id, timeout=60)
    assert (result["outcome"], result["approved"], result["by"]) == ("timed_out", False, None)
    decision = store.request(request.request_id).decision
    assert decision is not None
    assert decision.timed_out
    assert decision.channel == "timeout"


def test_two_kernels_keep_their_own_runs_across_restarts(kernels: Kernels, db_url: str) -> None:
    """Neither kernel takes over the other's runs; each restarted kernel resumes its own."""
    a, runs_a = kernels.launch("kernel-a", "start", "2")
    store = hitl.connect(db_url)
    b, runs_b = kernels.launch("kernel-b", "start", "2")
    wait_until_waiting(store, runs_a + runs_b)

    kernels.kill(a)
    a2, _ = kernels.launch("kernel-a", "serve")
    kernels.kill(b)
    b2, _ = kernels.launch("kernel-b", "serve")

    for run_id in runs_a + runs_b:
        done = answer_from_a_third_process(db_url, run_id, "--approve", "--by", "carol")
        assert done.returncode == 0, done.stderr
    assert {store.result(r, timeout=60)["pid"] for r in runs_a} == {a2.pid}
    assert {store.result(r, timeout=60)["pid"] for r in runs_b} == {b2.pid}


def test_a_live_kernel_leaves_another_kernels_recovered_runs_alone(
    kernels: Kernels, db_url: str
) -> None:
    """While kernel A is down, live kernel B does not run A's agents, even when they are answered."""
    a, runs_a = kernels.launch("kernel-a", "start", "2")
    store = hitl.connect(db_url)
    kernels.launch("kernel-b", "serve")
    wait_until_waiting(store, runs_a)
    kernels.kill(a)
    for run_id in runs_a:
        assert answer_from_a_third_process(db_url, run_id, "--approve").returncode == 0
    with pytest.raises(hitl.ResultTimeoutError):
        store.result(runs_a[0], timeout=3)
    assert [line for line in kernels.lines() if line.startswith("after")] == []
    a2, _ = kernels.launch("kernel-a", "serve")
    assert {store.result(r, timeout=60)["pid"] for r in runs_a} == {a2.pid}


def test_editing_the_agent_between_sessions_does_not_orphan_waiting_runs(
    kernels: Kernels, db_url: str
) -> None:
    """Runs started by v1 of the code resume in the edited v2 after a restart."""
    first, run_ids = kernels.launch("kernel-a", "start", "2")
    store = hitl.connect(db_url)
    wait_until_waiting(store, run_ids)
    kernels.kill(first)
    kernels.write_agents(
        "v2",
        extra="# Edited: a new helper moves every line.\n\n"
        "def helper() -> int:\n    return 2\n\n\n",
    )
    kernels.launch("kernel-a", "serve")
    for run_id in run_ids:
        assert answer_from_a_third_process(db_url, run_id, "--approve").returncode == 0
    for run_id in run_ids:
        result = store.result(run_id, timeout=60)
        assert (result["outcome"], result["version"]) == ("approved", "v2")
    assert sorted(kernels.lines()).count(f"before {run_ids[0]}") == 1
