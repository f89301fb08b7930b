"""The cost of a tool call a policy approves, against a plain durable step.

What is measured
----------------
One agent run alternates, ``n`` times, a plain step (``self.step(work, i)``) and a call of a tool
made with ``hitl.approval_required(policy=...)`` whose policy approves every call. Each is timed
inside the run with ``time.perf_counter``. The tool call does everything a real one does: it
validates the arguments against the signature, digests them, stores the request decided by the
policy (the request, the answer log and the run's history, in one transaction) and runs the tool
as a durable step. So the difference is the approval's own cost on top of the step the tool runs
as anyway. Alternating the two puts both under the same conditions (the database's size, the
machine's load).

Both databases, one after the other in this process: a fresh SQLite file and a fresh Postgres
database on 127.0.0.1:5432 (user postgres).

Run it from the repository root::

    python bench/tool_approval.py            # 200 calls of each, about 10 s
    python bench/tool_approval.py --n 50

It prints a table (p50 and p90 per database, the ratio of the p50s) and, as its last line, one
JSON object: ``{"policy_call_ms": .., "plain_step_ms": .., "postgres": {"policy_call_ms": ..,
"plain_step_ms": ..}}`` (the top-level pair is SQLite, the embedded default). Goal: the policy
call's p50 at most 2x the plain step's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import hitl_notebook as hitl
from hitl_notebook import testing

GOAL_RATIO = 2.0


def work(i: int) -> int:
    return i * 2


@hitl.approval_required(policy=lambda args: hitl.Verdict.approve("benchmark"))
def double(i: int) -> int:
    """Doubles a number (approved by its policy)."""
    return i * 2


class Timing(hitl.Agent):
    def run(self, n: int) -> dict[str, list[float]]:
        plain: list[float] = []
        policy: list[float] = []
        for i in range(n):
            started = time.perf_counter()
            self.step(work, i)
            plain.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            double(i)
            policy.append((time.perf_counter() - started) * 1000)
        return {"plain": plain, "policy": policy}


def measure(kind: str, n: int) -> dict[str, list[float]]:
    url = testing.fresh_database(kind, prepared=True)  # type: ignore[arg-type]
    try:
        with testing.launched(url, executor="bench"):
            Timing.start(3).result(timeout=60)  # warm up: connections, imports
            timings: dict[str, list[float]] = Timing.start(n).result(timeout=600)
    finally:
        testing.drop_database(url)
    return timings


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="calls of each kind per database")
    n = parser.parse_args().n
    print(f"load average {os.getloadavg()[0]:.2f}; {n} calls of each kind per database")
    results = {}
    print(f"{'database':<10} {'what':<22} {'p50 ms':>8} {'p90 ms':>8}")
    for kind in ("sqlite", "postgres"):
        timings = measure(kind, n)
        row = {
            "policy_call_ms": round(statistics.median(timings["policy"]), 3),
            "plain_step_ms": round(statistics.median(timings["plain"]), 3),
        }
        results[kind] = row
        for label, key in (("plain step", "plain"), ("policy-approved call", "policy")):
            values = timings[key]
            print(f"{kind:<10} {label:<22} {statistics.median(values):8.2f} {p(values, 90):8.2f}")
        ratio = row["policy_call_ms"] / row["plain_step_ms"]
        verdict = "meets" if ratio <= GOAL_RATIO else "misses"
        print(
            f"{kind:<10} {'ratio of p50s':<22} {ratio:8.2f}x ({verdict} the goal <= {GOAL_RATIO}x)"
        )
    print(json.dumps({**results["sqlite"], "postgres": results["postgres"]}))


if __name__ == "__main__":
    main()
