"""A kernel that dies at a chosen moment, and the agents it runs (the tests import them too).

    python fast_runs.py answer URL EXECUTOR COUNTER BY
        starts a ``Counted`` run, answers it in this process (naming its run, or its request
        when BY is ``request``: the answer then also publishes the run's "resumed" status and
        hands it the decision) and dies (SIGKILL) right after the answer's commit, before the
        run is woken (tests/test_same_process_wake.py);
    python fast_runs.py start URL EXECUTOR N CHUNK DIE_IN
        starts ``Numbered`` runs ``r-0`` .. ``r-<N-1>`` with ``Agent.start_many``, CHUNK runs per
        transaction, and dies inside the transaction of chunk DIE_IN, before its commit
        (tests/test_start_many.py).

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


class Numbered(hitl.Agent):
    """An async run that asks one text question about its number."""

    async def run(self, number: int, suffix: str = "") -> str:
        decision = await self.request_text_async(f"About {number}?", key="q")
        return f"{number}{suffix}: {decision.value}"


class Spawner(hitl.Agent):
    """Starts a run from inside its own run, with a run id made from its own, or with none."""

    async def run(self, with_ids: bool) -> list[str]:
        ids = [f"{self.run_id}-child"] if with_ids else None
        return [run.id for run in await Numbered.start_many_async([(7,)], run_ids=ids)]


def die(*_: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def answer_and_die(counter: str, by: str) -> None:
    from hitl_notebook._runtime.launch import current  # noqa: PLC0415

    run = Counted.start(counter)
    testing.wait_until(lambda: current().poller.waiting == 1, timeout=60)
    (request,) = hitl.store().requests(run.id, open_only=True)
    print(json.dumps([run.id]), flush=True)
    current().poller.wake = die  # type: ignore[method-assign]
    hitl.respond(request.request_id if by == "request" else run.id, approve=True, by="alice")


def start_and_die(n: int, chunk: int, die_in: int) -> None:
    from hitl_notebook._runtime import starting  # noqa: PLC0415 - a test's seam

    ids = [f"r-{i}" for i in range(n)]
    print(json.dumps(ids), flush=True)
    starting.CHUNK = chunk
    append = starting.append_first_statuses
    chunks = 0

    def append_or_die(*args: Any, **kwargs: Any) -> None:
        nonlocal chunks
        chunks += 1
        if chunks == die_in:
            die()
        append(*args, **kwargs)

    starting.append_first_statuses = append_or_die  # type: ignore[assignment]
    Numbered.start_many([(i,) for i in range(n)], run_ids=ids)


def main() -> None:
    from hitl_notebook._runtime.launch import current  # noqa: PLC0415

    command, url, executor, *rest = sys.argv[1:]
    hitl.launch(url, executor=executor, park_after=None)
    current().poller._wake = lambda run_ids: None  # type: ignore[method-assign]
    if command == "answer":
        answer_and_die(*rest)
    else:
        start_and_die(*(int(value) for value in rest))
    raise SystemExit("still alive: the test's death did not happen")


if __name__ == "__main__":
    main()
