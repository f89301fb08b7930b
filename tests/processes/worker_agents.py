"""Agents for the worker tests, run by `hitl worker tests/processes/worker_agents.py`."""

from __future__ import annotations

import os

import hitl_notebook as hitl


def mark(path: str, line: str) -> str:
    """A side effect outside the database: one line per call, counted by the test."""
    with open(path, "a") as f:
        f.write(line + "\n")
    return line


class Queued(hitl.Agent):
    """Marks before and after one approval; returns who approved and which process ran it."""

    def run(self, order: int) -> dict[str, object]:
        counter = os.environ["HITL_TEST_COUNTER"]
        self.step(mark, counter, f"before {self.run_id}")
        decision = self.request_approval(f"Ship order {order}?", allow_requester=False)
        self.step(mark, counter, f"after {self.run_id}")
        return {"order": order, "by": decision.by, "pid": os.getpid()}


class Quick(hitl.Agent):
    """Asks nothing: for the throughput benchmark."""

    async def run(self, n: int) -> int:
        return n
