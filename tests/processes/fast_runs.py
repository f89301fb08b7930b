"""A kernel that dies at a chosen moment, and the agents it runs (the tests import them too).

    python fast_runs.py answer URL EXECUTOR COUNTER
        starts a ``Counted`` run, answers it in this process and dies (SIGKILL) right after the
        answer's commit, before the run is woken (tests/test_same_process_wake.py).
Either prints the run ids as one JSON line first. The poller is blinded: only the store's own
wake could wake a run here, so the death is before any wake.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

import hitl_notebook as hitl
from hitl_notebook import testing


def mark(path: str, line: str) -> None:
    """A side effect outside the database: one line per call."""
    with open(path, "a") as f:
        f.write(line + "\n")


class Counted(hitl.Agent):
    """A sync run with a side effect before and after one approval."""

    def run(self, counter: str) -> str:
        self.step(mark, counter, f"before {self.run_id}")
        decision = self.request_approval("Go ahead?")
        self.step(mark, counter, f"after {self.run_id}")
        return decision.outcome.value


def die(*_: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def answer_and_die(counter: str) -> None:
    run = Counted.start(counter)
    testing.wait_until(lambda: hitl.store().requests(run.id, open_only=True), timeout=60)
    print(json.dumps([run.id]), flush=True)
    hitl.store().wake_here = die
    hitl.respond(run.id, approve=True, by="alice")


def main() -> None:
    from hitl_notebook._runtime.launch import current  # noqa: PLC0415

    _, url, executor, *rest = sys.argv[1:]
    hitl.launch(url, executor=executor, park_after=None)
    current().poller._wake = lambda run_ids: None  # type: ignore[method-assign]
    answer_and_die(*rest)
    raise SystemExit("still alive: the test's death did not happen")


if __name__ == "__main__":
    main()
