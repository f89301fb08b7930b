"""Agents started per second: queued from a client and run by two workers, next to raw DBOS.

What is measured
----------------
*SDK*: two ``hitl worker`` processes (this file is their agent module: ``Quick`` asks nothing and
returns) on a fresh Postgres database. The parent process, with only a database URL (no launch, no
agent code run here), queues ``n`` runs with ``Store.enqueue_many`` in batches of ``--batch``
(one transaction per batch) from ``--threads`` client threads, while the workers run them.
``enqueued/s`` is ``n`` over the time the enqueue calls took; ``completed/s`` is ``n`` over the
time from the first enqueue until the workers finished them all (DBOS state SUCCESS, polled every
20 ms). Both share the machine's cores with the workers, as a client next to its workers would.

*DBOS sequential*: in a child process, raw DBOS on its own fresh Postgres database with its
default config, a trivial ``@DBOS.workflow()`` started ``n`` times in a loop with
``DBOS.start_workflow``; ``started/s`` is ``n`` over the loop's time (each call returns once the
workflow is recorded and handed to a thread).

Run it from the repository root (Postgres on 127.0.0.1:5432, user postgres)::

    python bench/throughput.py            # 3,000 runs
    python bench/throughput.py --n 500    # a smoke run

It prints a table, then as its last line one JSON object:
``{"sdk_agents_per_s": .., "sdk_completed_per_s": .., "dbos_sequential_per_s": ..}``.
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
    import sqlalchemy as sa  # noqa: PLC0415 - only the parent needs it

    admin = sa.create_engine(f"{PG_SERVER.replace('postgresql', 'postgresql+psycopg')}/postgres")
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
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


def sdk_phase(n: int, batch: int, threads: int) -> dict[str, float]:
    import sqlalchemy as sa  # noqa: PLC0415

    url = fresh(SDK_DB)
    subprocess.run(
        [sys.executable, "-c", f"import hitl_notebook as h; h.launch({url!r}); h.shutdown()"],
        check=True,
    )
    workers = [start_worker(url, f"bench-{i}") for i in range(2)]
    try:
        store = hitl.connect(url)
        store.enqueue("Quick", -1)  # warm the connection and the client up
        done_query = sa.text(
            "SELECT count(*) FROM dbos.workflow_status WHERE status = 'SUCCESS' AND name = 'hitl.agent'"
        )
        with store.database.engine.connect() as conn:
            while conn.execute(done_query).scalar_one() < 1:
                time.sleep(0.02)
        batches = [
            [((i,), {}) for i in range(first, min(n, first + batch))]
            for first in range(0, n, batch)
        ]
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda calls: store.enqueue_many("Quick", calls), batches))
        enqueued = time.perf_counter() - start
        with store.database.engine.connect() as conn:
            while conn.execute(done_query).scalar_one() < n + 1:
                time.sleep(0.02)
        completed = time.perf_counter() - start
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
    return {"enqueued_per_s": n / enqueued, "completed_per_s": n / completed}


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
    parser.add_argument("--n", type=int, default=3000, help="runs per phase")
    parser.add_argument("--batch", type=int, default=500, help="runs per enqueue transaction")
    parser.add_argument("--threads", type=int, default=2, help="client threads enqueueing")
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw:
        raw_child(args.n, args.db)
        return
    load = os.getloadavg()[0]
    sdk = sdk_phase(args.n, args.batch, args.threads)
    raw = raw_phase(args.n)
    print(
        f"{args.n} runs per phase, Postgres, {args.threads} client threads, "
        f"load average {load:.2f} before"
    )
    print(f"{'what':<52} {'per second':>12}")
    print(
        f"{'SDK: enqueued from a client (Store.enqueue_many)':<52} {sdk['enqueued_per_s']:>12.0f}"
    )
    print(
        f"{'SDK: completed by 2 workers (from first enqueue)':<52} {sdk['completed_per_s']:>12.0f}"
    )
    print(f"{'DBOS: sequential DBOS.start_workflow':<52} {raw['started_per_s']:>12.0f}")
    print(
        json.dumps(
            {
                "sdk_agents_per_s": round(sdk["enqueued_per_s"], 1),
                "sdk_completed_per_s": round(sdk["completed_per_s"], 1),
                "dbos_sequential_per_s": round(raw["started_per_s"], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
