"""Operating many runs: a same-process answer's resume, and starting thousands of runs, next to
today's way (issue 16). ``bench/operate.py`` imports ``measure_runs``; run alone it prints a table.

What is measured, per database
------------------------------
*Same-process resume* (``same_process_p50_ms``): one async agent asks ``2 * resumes`` questions in
a row, in the process that answers them (a widget click in the kernel that runs the agent). The
latency is from just before ``hitl.respond`` until the agent's code after the wait runs (the
answer carries its ``perf_counter`` time, the agent subtracts it): the answer's transaction, the
wake-up, the run's look at its request. The answerer waits until the run waits hot, then a random
0..50 ms (a whole cycle of the SQLite poller), then answers. Every other answer is the baseline
(``same_process_p50_ms_baseline``): it goes through a second store on the same URL
(``hitl.connect``), which does not wake the run itself: the run waits for the poller (its poll on
SQLite, the announcement on Postgres), as every answer did before.

*Start* (``start_many_s``): ``Agent.start_many`` of ``starts`` async agents (an argument each),
from the call until every run's request is stored (all wait). The clock starts once the launch
has settled: ``hitl.launch`` imports jsonschema in a background thread (1-2 s of CPU where its
format extras are installed), which would otherwise compete with the runs for the interpreter. The baseline
(``start_many_s_baseline``) starts them with ``Agent.start_async``, 200 at a time with
``asyncio.gather`` on the runtime's loop (as ``bench/waiting.py`` does).

Each phase runs in a child process of its own (DBOS is one per process). Each names its own
agent and executor and counts only its own runs, so phases may share a database; each adds
``starts`` waiting runs to it.

    python bench/_operate_runs.py                    # 10,000 starts, 200 resumes, both databases
    python bench/_operate_runs.py --starts 2000 --resumes 100
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _rows import PG_SERVER, recreate_postgres_database, run_child

START_BATCH = 200
CHILD_TIMEOUT_S = 1800
ANSWER_JITTER_S = 0.05
GOALS = {"same_process_p50_ms": 3.0, "start_many_s": 15.0}
PHASES = ("resume", "start_many", "start_loop")


def measure_runs(kind: str, url: str, *, starts: int, resumes: int) -> dict[str, float]:
    """The four figures on the database at ``url`` (of ``kind``, "sqlite" or "postgres"),
    each phase in a child process: ``{"same_process_p50_ms", "same_process_p50_ms_baseline",
    "start_many_s", "start_many_s_baseline"}``."""
    script = str(Path(__file__).resolve())
    resumed = run_child(script, "resume", url, resumes, timeout=CHILD_TIMEOUT_S)
    many = run_child(script, "start_many", url, starts, timeout=CHILD_TIMEOUT_S)
    loop = run_child(script, "start_loop", url, starts, timeout=CHILD_TIMEOUT_S)
    progress(f"{kind}: {resumed} {many} {loop}")
    return {
        "same_process_p50_ms": resumed["here_p50_ms"],
        "same_process_p50_ms_baseline": resumed["poller_p50_ms"],
        "start_many_s": many["seconds"],
        "start_many_s_baseline": loop["seconds"],
    }


def progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


# -- children ----------------------------------------------------------------------------------


def run_resume(url: str, resumes: int) -> dict[str, float]:
    import hitl_notebook as hitl  # noqa: PLC0415 - each child imports what it measures
    from hitl_notebook._runtime.launch import current  # noqa: PLC0415

    latencies: list[float] = []
    resumed = threading.Semaphore(0)

    class OperateResume(hitl.Agent):
        async def run(self, questions: int) -> None:
            for i in range(questions):
                decision = await self.request_text_async(f"question {i}", key=f"q{i}")
                latencies.append(time.perf_counter() - float(decision.value))
                resumed.release()

    hitl.launch(url, executor="bench-resume", park_after=None)
    poller = current().poller
    # Alternated answer by answer, so that neither way gets a warmer or quieter machine.
    stores = (hitl.store(), hitl.connect(url))
    run = OperateResume.start(2 * resumes)
    for i in range(2 * resumes):
        while poller.waiting < 1:
            time.sleep(0.001)
        time.sleep(random.uniform(0, ANSWER_JITTER_S))
        sent_at = time.perf_counter()
        stores[i % 2].respond(f"{run.id}.q{i}", text=repr(sent_at), by="bench")
        resumed.acquire()
    run.result(timeout=60)
    here, poller_woken = latencies[0::2], latencies[1::2]
    return {
        "here_p50_ms": round(1000 * statistics.median(here), 2),
        "poller_p50_ms": round(1000 * statistics.median(poller_woken), 2),
    }


def run_start(url: str, starts: int, *, many: bool) -> dict[str, float]:
    import asyncio  # noqa: PLC0415

    import sqlalchemy as sa  # noqa: PLC0415

    import hitl_notebook as hitl  # noqa: PLC0415
    from hitl_notebook._db.database import requests  # noqa: PLC0415
    from hitl_notebook._runtime.launch import current  # noqa: PLC0415

    class OperateStartMany(hitl.Agent):
        async def run(self, i: int) -> str:
            return str((await self.request_text_async(f"Anything to add to {i}?", key="q")).value)

    class OperateStartLoop(hitl.Agent):
        async def run(self, i: int) -> str:
            return str((await self.request_text_async(f"Anything to add to {i}?", key="q")).value)

    agent = OperateStartMany if many else OperateStartLoop
    runtime = hitl.launch(url, executor=f"bench-{agent.agent_name}")
    waiting = sa.select(sa.func.count()).where(
        requests.c.agent == agent.agent_name, requests.c.state == "open"
    )
    with runtime.database.engine.connect() as conn:
        before = int(conn.execute(waiting).scalar_one())

    while any(thread.name == "hitl-preload" for thread in threading.enumerate()):
        time.sleep(0.05)

    async def start_batch(first: int, size: int) -> None:
        await asyncio.gather(*(agent.start_async(i) for i in range(first, first + size)))

    started = time.monotonic()
    if many:
        agent.start_many([(i,) for i in range(starts)])
    else:
        for first in range(0, starts, START_BATCH):
            size = min(START_BATCH, starts - first)
            asyncio.run_coroutine_threadsafe(start_batch(first, size), current().loop).result()
    while True:
        with runtime.database.engine.connect() as conn:
            if int(conn.execute(waiting).scalar_one()) >= before + starts:
                break
        if time.monotonic() - started > CHILD_TIMEOUT_S:
            raise TimeoutError(f"{starts} runs not all waiting")
        time.sleep(0.05)
    return {"seconds": round(time.monotonic() - started, 2)}


def child_main(phase: str, url: str, n: int) -> None:
    many = phase == "start_many"
    result = run_resume(url, n) if phase == "resume" else run_start(url, n, many=many)
    print(json.dumps(result), flush=True)
    sys.stderr.flush()
    os._exit(0)  # the waiting runs' threads would otherwise delay the exit


# -- alone: fresh databases, a table -----------------------------------------------------------


def print_table(results: dict[str, dict[str, float]]) -> None:
    print(f"\n{'':<36}{'sqlite':>12}{'postgres':>12}   goal")
    rows = (
        ("same-process resume p50 ms", "same_process_p50_ms", "<= 3"),
        ("  baseline: the poller wakes it", "same_process_p50_ms_baseline", ""),
        ("start until all wait, s", "start_many_s", "<= 15 at 10,000"),
        ("  baseline: a loop of Agent.start", "start_many_s_baseline", ""),
    )
    for label, key, goal in rows:
        cells = "".join(f"{results[kind][key]:>12g}" for kind in ("sqlite", "postgres"))
        print(f"{label:<36}{cells}   {goal}")
    print(f"\nLoad average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--starts", type=int, default=10_000)
    parser.add_argument("--resumes", type=int, default=200)
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        child_main(args.phase, args.db, args.n)
        return
    folder = Path(tempfile.mkdtemp(prefix="hitl_bench_runs_"))
    recreate_postgres_database("hitl_bench_runs")
    urls = {
        "sqlite": f"sqlite:///{folder / 'runs.sqlite'}",
        "postgres": f"{PG_SERVER}/hitl_bench_runs",
    }
    try:
        results: dict[str, Any] = {
            kind: measure_runs(kind, url, starts=args.starts, resumes=args.resumes)
            for kind, url in urls.items()
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print_table(results)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
