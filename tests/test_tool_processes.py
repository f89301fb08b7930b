"""A tool call's approval survives SIGKILL: the approved tool runs exactly once after a restart."""

from __future__ import annotations

import pytest

import hitl_notebook as hitl
from tests.kernels import Kernels, answer_from_a_third_process, wait_until_waiting

pytestmark = pytest.mark.slow


def test_sigkill_between_the_approval_and_the_tools_step(kernels: Kernels, db_url: str) -> None:
    """Approved from a third process, the kernel dies inside the tool's step before its side
    effect; restarted, the run reads the approval back (nothing is asked again) and the tool
    runs once."""
    first, (run_id,) = kernels.launch("kernel-a", "start", "1", "--agent", "Tooling")
    store = hitl.connect(db_url)
    wait_until_waiting(store, [run_id])
    (request,) = store.requests(run_id, open_only=True)
    assert request.tool is not None
    done = answer_from_a_third_process(db_url, request.request_id, "--approve", "--by", "alice")
    assert done.returncode == 0, done.stderr
    assert first.wait(timeout=60) == -9  # killed inside the tool's step, before paying
    assert kernels.lines() == []

    kernels.launch("kernel-a", "serve")
    assert store.result(run_id, timeout=60) == "paid 42"
    assert kernels.lines() == ["paid 42"]
    assert [r.request_id for r in store.requests(run_id)] == [request.request_id]


def test_sigkill_while_a_tool_call_waits_then_answered_while_down(
    kernels: Kernels, db_url: str
) -> None:
    (kernels.counter.parent / "counter.txt.died").touch()  # the tool pays on its first try
    first, (run_id,) = kernels.launch("kernel-a", "start", "1", "--agent", "Tooling")
    store = hitl.connect(db_url)
    wait_until_waiting(store, [run_id])
    kernels.kill(first)
    (request,) = store.requests(run_id, open_only=True)
    done = answer_from_a_third_process(db_url, request.request_id, "--approve", "--by", "alice")
    assert done.returncode == 0, done.stderr

    kernels.launch("kernel-a", "serve")
    assert store.result(run_id, timeout=60) == "paid 42"
    assert kernels.lines() == ["paid 42"]
