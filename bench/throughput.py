"""Agents started per second: queued from a client and run by two workers, next to raw DBOS.

What is measured
----------------
*SDK*: two ``hitl worker`` processes (this file is their agent module: ``Quick`` asks nothing and
returns) on a fresh Postgres database. The parent process, with only a database URL (no launch, no
agent code run here), queues runs with ``Store.enqueue_many`` in batches of ``--batch`` (one
transaction per batch) from ``--threads`` client threads. Two rounds of ``n`` runs:

1. *queued, then run*: the client queues ``n`` runs while no worker runs (``enqueued/s``: ``n``
   over the time the enqueue calls took); then the two workers start and run them all (``run/s``:
   ``n`` over the span from the first run's start to the last run's end, DBOS's own timestamps);
2. *at the same time*: the client queues ``n`` more while the two workers run them, all on the
   same two cores (``enqueued/s`` while running, and ``completed/s`` from the first enqueue until
   the last run finished).

*DBOS sequential*: in a child process, raw DBOS on its own fresh Postgres database with its
default config, a trivial ``@DBOS.workflow()`` started ``n`` times in a loop with
``DBOS.start_workflow``; ``started/s`` is ``n`` over the loop's time (each call returns once the
workflow is recorded and handed to a thread).

Run it from the repository root (Postgres on 127.0.0.1:5432, user postgres)::

    python bench/throughput.py            # 2 x 2,000 runs
    python bench/throughput.py --n 500    # a smoke run

It prints a table, then as its last line one JSON object: ``{"sdk_agents_per_s": (round 1
enqueued/s), "sdk_run_per_s", "sdk_enqueued_while_running_per_s",
"sdk_completed_while_enqueueing_per_s", "dbos_sequential_per_s"}``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import hitl_notebook as hitl

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
SDK_DB = "hitl_bench_throughput"
RAW_DB = "hitl_bench_throughput_raw"
HITL = str(Path(sys.executable).with_name("hitl"))
READY = re.compile(r"hitl worker (\S+) ready")


class Quick(hitl.Agent):
    """Asks nothing: measures the cost of a run itself."""

    async def run(self, n: int) -> int:
        return n


def fresh(name: str) -> str:
    """The URL of the Postgres database ``name``, dropped and created again."""
    # Only the parent needs it; the workers import this file without bench/ on their path.
    from _rows import recreate_postgres_database  # noqa: PLC0415

    recreate_postgres_database(name)
    return f"{PG_SERVER}/{name}"


def start_worker(url: str, name: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [HITL, "worker", __file__, "--db", url, "--name", name, "--concurrency", "200"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if READY.search(line):
            return process
    raise RuntimeError(f"worker {name} exited with {process.wait()}")


def enqueue_all(store: hitl.Store, n: int, batch: int, threads: int, first: int) -> float:
    """Queue ``n`` runs of Quick from ``threads`` client threads; returns the seconds it took."""
    batches = [
        [((i,), {}) for i in range(start, min(first + n, start + batch))]
        for start in range(first, first + n, batch)
    ]
    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda calls: store.enqueue_many("Quick", calls), batches))
    return time.perf_counter() - began


def wait_done(store: hitl.Store, total: int) -> None:
    import sqlalchemy as sa  # noqa: PLC0415

    done = sa.text("SELECT count(*) FROM dbos.workflow_status WHERE status = 'SUCCESS'")
    with store.database.engine.connect() as conn:
        while conn.execute(done).scalar_one() < total:
            time.sleep(0.02)


def run_span_s(store: hitl.Store, first: int, n: int) -> float:
    """From the first of these runs starting to the last finishing, by DBOS's own timestamps."""
    import sqlalchemy as sa  # noqa: PLC0415

    span = sa.text(
        "SELECT min(started_at_epoch_ms), max(completed_at) FROM dbos.workflow_status "
        "WHERE status = 'SUCCESS' AND created_at >= :since"
    )
    with store.database.engine.connect() as conn:
        began, ended = conn.execute(span, {"since": first}).one()
    return (ended - began) / 1000


def sdk_phase(n: int, batch: int, threads: int) -> dict[str, float]:
    url = fresh(SDK_DB)
    subprocess.run(
        [sys.executable, "-c", f"import hitl_notebook as h; h.launch({url!r}); h.shutdown()"],
        check=True,
    )
    store = hitl.connect(url)
    store.enqueue_many("Quick", [((-1,), {})])  # warm the connection and the client up
    first_ms = int(time.time() * 1000)
    queued_s = enqueue_all(store, n, batch, threads, 0)
    workers = [start_worker(url, f"bench-{i}") for i in range(2)]
    try:
        wait_done(store, n + 1)
        drained_s = run_span_s(store, first_ms, n)
        second_ms = int(time.time() * 1000)
        began = time.perf_counter()
        busy_s = enqueue_all(store, n, batch, threads, n)
        wait_done(store, 2 * n + 1)
        together_s = time.perf_counter() - began
        assert run_span_s(store, second_ms, n) > 0
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
    return {
        "enqueued_per_s": n / queued_s,
        "drained_per_s": n / drained_s,
        "enqueued_busy_per_s": n / busy_s,
        "completed_busy_per_s": n / together_s,
    }


def raw_child(n: int, url: str) -> None:
    from dbos import DBOS  # noqa: PLC0415 - the child alone launches DBOS

    @DBOS.workflow()
    def trivial(i: int) -> int:
        return i

    DBOS(config={"name": "bench-raw", "system_database_url": url, "log_level": "WARNING"})
    DBOS.launch()
    DBOS.start_workflow(trivial, -1).get_result()
    start = time.perf_counter()
    handles = [DBOS.start_workflow(trivial, i) for i in range(n)]
    elapsed = time.perf_counter() - start
    for handle in handles:
        handle.get_result()
    print(json.dumps({"started_per_s": n / elapsed}), flush=True)
    os._exit(0)


def raw_phase(n: int) -> dict[str, float]:
    url = fresh(RAW_DB)
    child = subprocess.run(
        [sys.executable, __file__, "--raw", "--n", str(n), "--db", url],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(child.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="runs per round")
    parser.add_argument("--batch", type=int, default=500, help="runs per enqueue transaction")
    parser.add_argument("--threads", type=int, default=4, help="client threads enqueueing")
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw:
        raw_child(args.n, args.db)
        return
    load = os.getloadavg()[0]
    sdk = sdk_phase(args.n, args.batch, args.threads)
    raw = raw_phase(args.n)
    rows = [
        ("SDK: enqueued by a client (workers stopped)", sdk["enqueued_per_s"]),
        ("SDK: run by 2 workers (first start to last end)", sdk["drained_per_s"]),
        ("SDK: enqueued by a client while 2 workers run", sdk["enqueued_busy_per_s"]),
        ("SDK: completed meanwhile (first enqueue to last end)", sdk["completed_busy_per_s"]),
        ("DBOS: sequential DBOS.start_workflow", raw["started_per_s"]),
    ]
    print(
        f"{args.n} runs per phase, Postgres, {args.threads} client threads, "
        f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    print(f"{'what':<56} {'per second':>12}")
    for what, rate in rows:
        print(f"{what:<56} {rate:>12.0f}")
    print(
        json.dumps(
            {
                "sdk_agents_per_s": round(sdk["enqueued_per_s"], 1),
                "sdk_run_per_s": round(sdk["drained_per_s"], 1),
                "sdk_enqueued_while_running_per_s": round(sdk["enqueued_busy_per_s"], 1),
                "sdk_completed_while_enqueueing_per_s": round(sdk["completed_busy_per_s"], 1),
                "dbos_sequential_per_s": round(raw["started_per_s"], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
