"""Agent module for the multi-process tests; the tests copy it with another VERSION to edit it."""

from __future__ import annotations

import os

import hitl_notebook as hitl

VERSION = "v1"


def mark(path: str, line: str) -> str:
    """A side effect outside the database: one line per call, counted by the test."""
    with open(path, "a") as f:
        f.write(line + "\n")
    return line


class Counting(hitl.Agent):
    def run(self, timeout: float | None, on_timeout: str) -> dict[str, object]:
        counter = os.environ["HITL_TEST_COUNTER"]
        self.step(mark, counter, f"before {self.run_id}")
        decision = self.request_approval("Go ahead?", timeout=timeout, on_timeout=on_timeout)
        self.step(mark, counter, f"after {self.run_id}")
        return {
            "outcome": decision.outcome.value,
            "approved": decision.approved,
            "by": decision.by,
            "pid": os.getpid(),
            "version": VERSION,
        }
