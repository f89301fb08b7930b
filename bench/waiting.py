"""Many agents waiting for a human on one machine: threads, idle CPU, memory, start-up, answer latency.

What is measured, per database
------------------------------
*The SDK* (``sqlite``, ``postgres``): ``--n`` async agents (10,000 by default) each store one text
request and wait for it. The runtime is launched with ``park_after`` = ``PARK_AFTER_S``: each
agent waits hot for that long, then parks.

- ``start_s``: from the first ``Agent.start`` until every agent's request is open (waiting);
- ``parked_s``: from the first start until every agent is parked;
- ``threads`` (entries of /proc/self/task), ``rss_mb`` (VmRSS) and ``idle_cpu_pct`` (user+system
  CPU of the whole process over ``IDLE_S`` s, in % of one core), all taken once every agent is
  parked and the process has settled for ``SETTLE_S`` s;
- ``hot_p50_ms`` / ``hot_p90_ms``: one more agent asks ``LATENCY_N`` questions in a row; each is
  answered ``0.05-0.5 s`` after the previous answer (the next question opens within milliseconds,
  so well within the hot phase; the benchmark waits for it to be open only after that pause, so
  its own polling does not compete with the agent being measured); latency = from just before
  ``hitl.respond`` until the agent's code after the request runs (the answer carries its send time,
  the agent subtracts it); ``respond`` itself, the poller's wake-up and the agent's look are in it;
- ``parked_p50_ms`` / ``parked_p90_ms``: ``LATENCY_N`` more agents park, then each is answered,
  ``0.1-0.6 s`` apart; the same latency, now through DBOS's internal queue and a replay.

*The seed pattern* (``seed_sqlite_2000``, ``seed_postgres_2000``): ``--seed-n`` (2,000) sync DBOS
workflows each calling ``DBOS.recv(topic, 3600)``, started with ``DBOS.start_workflow``, DBOS's
default configuration (SQLite polls once a second); the same threads / RSS / idle CPU / start-up,
and hot latency for ``LATENCY_N`` answers sent with ``DBOS.send``. It cannot park: no parked
latency. Each answer waits a random pause first, as the SDK's do; on SQLite the pause spans the
whole 1 s poll cycle (``_rows.answer_delay``): the previous waiter woke on a poll tick, so a pause
shorter than the cycle would land every answer in the same late part of it and inflate the
seed's latency (as ``answer_latency.py`` does for raw DBOS).

Each phase runs in its own child process (DBOS is a process-wide singleton), on fresh databases:
SQLite files in a temporary directory and Postgres databases on 127.0.0.1:5432 (user postgres),
dropped and created again.

    python bench/waiting.py                 # 10,000 agents and 2,000 seed waiters, ~10 minutes
    python bench/waiting.py --n 2000 --seed-n 500   # a quicker run

It prints a table with ratios against the seed pattern, then as its last line one JSON object:
``{"sqlite": {"n", "threads", "idle_cpu_pct", "rss_mb", "start_s", "hot_p50_ms",
"parked_p50_ms", ...}, "postgres": {...}, "seed_sqlite_2000": {...}, "seed_postgres_2000": {...}}``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _rows import (
    DBOS_DEFAULT_POLL_S,
    DELAY_SPAN_S,
    MIN_DELAY_S,
    PG_SERVER,
    answer_delay,
    idle_cpu_pct,
    recreate_postgres_database,
    run_child,
)

PARK_AFTER_S = 5.0
LATENCY_N = 20
IDLE_S = 10.0
SETTLE_S = 3.0
START_BATCH = 200
CHILD_TIMEOUT_S = 1800
GOALS = {
    "threads": 64,
    "idle_cpu_pct": 3.0,
    "rss_mb": 300.0,
    "start_s": 60.0,
    "parked_p50_ms": 1000.0,
}
HOT_GOAL_MS = {"sqlite": 100.0, "postgres": 10.0}

Result = dict[str, Any]


# -- measuring the process ---------------------------------------------------------------------


def threads() -> int:
    return len(os.listdir("/proc/self/task"))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS in /proc/self/status")


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 900) -> None:
    give_up = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > give_up:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


def percentiles(latencies_s: list[float]) -> tuple[float, float]:
    ms = sorted(x * 1000 for x in latencies_s)
    return round(statistics.median(ms), 1), round(statistics.quantiles(ms, n=10)[8], 1)


def progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def process_figures(result: Result) -> None:
    time.sleep(SETTLE_S)
    result["threads"] = threads()
    result["rss_mb"] = rss_mb()
    result["idle_cpu_pct"] = idle_cpu_pct(IDLE_S)


# -- child: the SDK ----------------------------------------------------------------------------


def run_sdk(url: str, n: int) -> Result:
    import asyncio  # noqa: PLC0415 - each phase imports only what it measures

    import sqlalchemy as sa  # noqa: PLC0415

    import hitl_notebook as hitl  # noqa: PLC0415
    from hitl_notebook._db.database import requests  # noqa: PLC0415
    from hitl_notebook._db.dbos_internals import workflow_status  # noqa: PLC0415
    from hitl_notebook._runtime.launch import current  # noqa: PLC0415

    class Waiting(hitl.Agent):
        async def run(self) -> str:
            return str((await self.request_text_async("Anything to add?", key="q")).value)

    class Latency(hitl.Agent):
        async def run(self, questions: int) -> list[float]:
            latencies = []
            for i in range(questions):
                decision = await self.request_text_async(f"question {i}", key=f"q{i}")
                latencies.append(time.time() - float(decision.value))
            return latencies

    class ParkedLatency(hitl.Agent):
        async def run(self) -> float:
            decision = await self.request_text_async("Answer me later", key="q")
            return time.time() - float(decision.value)

    runtime = hitl.launch(url, executor="bench", park_after=PARK_AFTER_S)
    engine = runtime.database.engine

    def count(query: sa.Select[Any]) -> int:
        with engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    open_requests = sa.select(sa.func.count()).where(requests.c.state == "open")
    parked = sa.select(sa.func.count()).where(workflow_status.c.status == "DELAYED")

    async def start_batch(size: int) -> None:
        await asyncio.gather(*(Waiting.start_async() for _ in range(size)))

    result: Result = {"n": n, "park_after_s": PARK_AFTER_S}
    started = time.monotonic()
    for first in range(0, n, START_BATCH):
        asyncio.run_coroutine_threadsafe(
            start_batch(min(START_BATCH, n - first)), current().loop
        ).result()
    wait_until(lambda: count(open_requests) >= n, "all waiting")
    result["start_s"] = round(time.monotonic() - started, 1)
    progress(f"all {n} waiting after {result['start_s']} s")
    wait_until(lambda: count(parked) >= n, "all parked")
    result["parked_s"] = round(time.monotonic() - started, 1)
    progress(f"all parked after {result['parked_s']} s")
    process_figures(result)
    progress(f"idle: {result}")

    def wait_open(run: hitl.RunHandle, request_id: str) -> None:
        wait_until(
            lambda: any(r.request_id == request_id for r in run.requests(open_only=True)),
            f"{request_id} open",
            timeout=60,
        )

    run = Latency.start(LATENCY_N)
    for i in range(LATENCY_N):
        time.sleep(random.uniform(0.05, 0.5))  # think first: no polling while the agent resumes
        wait_open(run, f"{run.id}.q{i}")
        hitl.respond(f"{run.id}.q{i}", text=repr(time.time()), by="bench")
    result["hot_p50_ms"], result["hot_p90_ms"] = percentiles(run.result(timeout=120))

    runs = [ParkedLatency.start() for _ in range(LATENCY_N)]
    wait_until(lambda: count(parked) >= n + LATENCY_N, "latency agents parked", timeout=120)
    for each in runs:
        time.sleep(random.uniform(0.1, 0.6))
        hitl.respond(f"{each.id}.q", text=repr(time.time()), by="bench")
    parked_latencies = [each.result(timeout=120) for each in runs]
    result["parked_p50_ms"], result["parked_p90_ms"] = percentiles(parked_latencies)
    return result


# -- child: the seed pattern -------------------------------------------------------------------


def run_seed(url: str, n: int) -> Result:
    import threading  # noqa: PLC0415

    from dbos import DBOS  # noqa: PLC0415

    DBOS(config={"name": "seed", "system_database_url": url, "log_level": "WARNING"})
    waiting = 0
    lock = threading.Lock()

    @DBOS.workflow()
    def seed_agent() -> float:
        nonlocal waiting
        with lock:
            waiting += 1
        message = DBOS.recv("answer", timeout_seconds=3600)
        return time.time() - float(message)

    DBOS.launch()
    result: Result = {"n": n}
    started = time.monotonic()
    handles = [DBOS.start_workflow(seed_agent) for _ in range(n)]
    wait_until(lambda: waiting >= n, "all waiting")
    result["start_s"] = round(time.monotonic() - started, 1)
    process_figures(result)
    poll_s = DBOS_DEFAULT_POLL_S if url.startswith("sqlite") else 0.0  # Postgres: LISTEN/NOTIFY
    latencies = []
    for handle in handles[:LATENCY_N]:
        time.sleep(answer_delay(poll_s))
        DBOS.send(handle.workflow_id, repr(time.time()), topic="answer")
        latencies.append(handle.get_result())
    result["hot_p50_ms"], result["hot_p90_ms"] = percentiles(latencies)
    result["parked_p50_ms"] = None
    return result


def child_main(phase: str, url: str, n: int) -> None:
    result = run_sdk(url, n) if phase == "sdk" else run_seed(url, n)
    print(json.dumps(result), flush=True)
    os._exit(0)  # thousands of waiting runs would otherwise hold the exit


# -- parent ------------------------------------------------------------------------------------


def postgres(name: str) -> str:
    """The URL of the Postgres database ``name``, dropped and created again."""
    recreate_postgres_database(name)
    return f"{PG_SERVER}/{name}"


COLUMNS = ("n", "threads", "idle CPU %", "RSS MB", "start s", "hot p50", "hot p90", "parked p50")
KEYS = ("n", "threads", "idle_cpu_pct", "rss_mb", "start_s", "hot_p50_ms", "hot_p90_ms")


def cell(value: Any) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def print_table(results: dict[str, Result], seed_n: int) -> None:
    print(f"\n{'':<20}" + "".join(f"{c:>12}" for c in COLUMNS))
    for name, result in results.items():
        values = [result.get(k) for k in KEYS] + [result.get("parked_p50_ms")]
        print(f"{name:<20}" + "".join(f"{cell(v):>12}" for v in values))
    print(
        "\nhot p50/p90 ms: answer sent -> agent code after the wait. Each answer follows a random"
        f" pause of {MIN_DELAY_S:g}..{MIN_DELAY_S + DELAY_SPAN_S:g} s"
        f" ({MIN_DELAY_S:g}..{MIN_DELAY_S + DBOS_DEFAULT_POLL_S:g} s for the seed on SQLite,"
        f" its whole {DBOS_DEFAULT_POLL_S:g} s poll cycle)."
    )
    agents = results["sqlite"]["n"] / seed_n
    print(f"\nAgainst the seed pattern (SDK / seed; the SDK holds {agents:g}x the agents):")
    for kind in ("sqlite", "postgres"):
        sdk, seed = results[kind], results[f"seed_{kind}_{seed_n}"]
        compared = ("threads", "idle_cpu_pct", "rss_mb", "hot_p50_ms")
        ratios = {k: sdk[k] / seed[k] for k in compared if seed[k]}
        shown = ", ".join(f"{k} {v:.3f}x" for k, v in ratios.items())
        print(f"  {kind}: {shown}")
    print("\nGoals at 10,000 agents:")
    for kind in ("sqlite", "postgres"):
        result = results[kind]
        goals = {**GOALS, "hot_p50_ms": HOT_GOAL_MS[kind]}
        verdicts = [
            f"{key} {result[key]:g} <= {goal:g}: {'met' if result[key] <= goal else 'MISSED'}"
            for key, goal in goals.items()
        ]
        print(f"  {kind} (n={result['n']}): " + "; ".join(verdicts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seed-n", type=int, default=2_000)
    parser.add_argument("--phase", choices=["sdk", "seed"])
    parser.add_argument("--db")
    args = parser.parse_args()
    if args.phase:
        child_main(args.phase, args.db, args.n)
        return
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory() as tmp:
        plan = [
            ("sqlite", "sdk", f"sqlite:///{tmp}/sdk.sqlite", args.n),
            ("postgres", "sdk", postgres("hitl_bench_waiting"), args.n),
            (f"seed_sqlite_{args.seed_n}", "seed", f"sqlite:///{tmp}/seed.sqlite", args.seed_n),
            (
                f"seed_postgres_{args.seed_n}",
                "seed",
                postgres("hitl_bench_seed"),
                args.seed_n,
            ),
        ]
        for name, phase, url, n in plan:
            print(f"{name}: {n} agents ...", file=sys.stderr, flush=True)
            results[name] = run_child(__file__, phase, url, n, timeout=CHILD_TIMEOUT_S)
            print(f"  {json.dumps(results[name])}", file=sys.stderr, flush=True)
    print_table(results, args.seed_n)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
