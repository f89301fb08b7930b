"""Runs queued and run per second: hitl_notebook's queue and workers next to raw DBOS's, like with like.

What is measured
----------------
The same three numbers for the SDK and for raw DBOS, each on a fresh Postgres database, with two
worker processes on this machine and a client with only a database URL (no workflow code runs in
the client). A run does nothing: it returns its argument, so the figures are the cost of a run.

1. ``enqueue_per_s`` (nothing runs): the client queues ``n`` runs while no worker runs, in
   batches of ``--batch`` (one transaction per batch) from ``--threads`` client threads; ``n``
   over the time the enqueue calls took. SDK: ``Store.enqueue_many`` (each run is
   ``DBOSClient.enqueue_in_transaction`` of the SDK's ``hitl.agent`` workflow with the agent's
   name and pickled arguments). Raw DBOS: ``DBOSClient.enqueue_in_transaction`` of a plain
   workflow, the same batches, one transaction each.
2. ``run_per_s`` (nothing is queued meanwhile): the two workers start and run those ``n``; ``n``
   over the span from the first run's start to the last run's end (DBOS's own timestamps). SDK:
   two ``hitl worker`` processes (this file is their agent module: ``Quick`` asks nothing and
   returns). Raw DBOS: two DBOS processes of one application, each taking runs of a plain async
   workflow from one queue. Both with ``--concurrency`` runs per worker and the queue polled
   every ``POLL_S`` (the ``hitl worker`` default).
3. ``enqueue_while_running_per_s`` and ``completed_while_enqueueing_per_s``: the client queues
   ``n`` more while the two workers run them, all on the same cores; the enqueue rate, and ``n``
   over the span from the first enqueue until the last run finished.

Run it from the repository root (Postgres on 127.0.0.1:5432, user postgres)::

    python bench/throughput.py            # 2 x 2,000 runs per side
    python bench/throughput.py --n 500    # a smoke run

It prints a table with the SDK's ratio to raw DBOS per measure, then as its last line one JSON
object: ``{"sdk": {"enqueue_per_s", "run_per_s", "enqueue_while_running_per_s",
"completed_while_enqueueing_per_s"}, "dbos": {...}}``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import hitl_notebook as hitl

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
DATABASES = {"sdk": "hitl_bench_throughput", "dbos": "hitl_bench_throughput_raw"}
HITL = str(Path(sys.executable).with_name("hitl"))
READY = re.compile(r"(hitl|raw) worker (\S+) ready")
POLL_S = 0.1
"""How often a worker polls its queue: ``hitl worker``'s default, used for the raw workers too."""
RAW_APPLICATION = "bench-raw-worker"
RAW_QUEUE = "bench-raw"
RAW_WORKFLOW = "bench_trivial"
MEASURES = (
    ("enqueue_per_s", "queued by a client, workers stopped (nothing runs)"),
    ("run_per_s", "run by 2 workers, first start to last end"),
    ("enqueue_while_running_per_s", "queued by a client while 2 workers run"),
    ("completed_while_enqueueing_per_s", "completed meanwhile, first enqueue to last end"),
)

Call = tuple[tuple[Any, ...], dict[str, Any]]


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


# -- the two sides: a client that queues in batches, two workers that run ------------------------


class Side(NamedTuple):
    """One side of the comparison: how its client queues a batch, how a worker of it starts."""

    enqueue_batch: Callable[[Sequence[Call]], Any]
    worker_command: Callable[[str, int], list[str]]
    """The command of a worker named ``name`` running ``concurrency`` runs at once."""


def sdk_side(url: str) -> Side:
    store = hitl.connect(url)

    def enqueue_batch(calls: Sequence[Call]) -> None:
        store.enqueue_many("Quick", calls)

    def worker_command(name: str, concurrency: int) -> list[str]:
        return [
            HITL,
            "worker",
            __file__,
            "--db",
            url,
            "--name",
            name,
            "--concurrency",
            str(concurrency),
        ]

    return Side(enqueue_batch, worker_command)


def dbos_side(url: str) -> Side:
    import sqlalchemy as sa  # noqa: PLC0415
    from dbos import DBOSClient, EnqueueOptions  # noqa: PLC0415

    client = DBOSClient(system_database_url=url, application_name=RAW_APPLICATION)
    engine = sa.create_engine(
        url.replace("postgresql://", "postgresql+psycopg://"), pool_size=5, max_overflow=10
    )
    options: EnqueueOptions = {
        "workflow_name": RAW_WORKFLOW,
        "queue_name": RAW_QUEUE,
        "application_name": RAW_APPLICATION,
    }

    def enqueue_batch(calls: Sequence[Call]) -> None:
        with engine.begin() as conn:
            for args, kwargs in calls:
                client.enqueue_in_transaction(conn, options, *args, **kwargs)

    def worker_command(name: str, concurrency: int) -> list[str]:
        return [
            sys.executable,
            __file__,
            "--raw-worker",
            name,
            "--db",
            url,
            "--concurrency",
            str(concurrency),
        ]

    return Side(enqueue_batch, worker_command)


def raw_worker(url: str, name: str, concurrency: int) -> None:
    """A raw DBOS worker: one application, a plain async workflow, one queue."""
    from dbos import DBOS  # noqa: PLC0415 - only this child launches raw DBOS

    @DBOS.workflow(name=RAW_WORKFLOW)
    async def trivial(n: int) -> int:
        return n

    DBOS(
        config={
            "name": RAW_APPLICATION,
            "system_database_url": url,
            "application_version": "1",
            "executor_id": name,
            "log_level": "WARNING",
        }
    )
    DBOS.launch()
    DBOS.register_queue(
        RAW_QUEUE,
        worker_concurrency=concurrency,
        polling_interval_sec=POLL_S,
        on_conflict="always_update",
    )
    print(f"raw worker {name} ready", flush=True)
    threading.Event().wait()


def start_worker(command: list[str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if READY.search(line):
            return process
    raise RuntimeError(f"{command} exited with {process.wait()}")


# -- measuring -------------------------------------------------------------------------------------


def enqueue_all(side: Side, n: int, batch: int, threads: int, first: int) -> float:
    """Queue ``n`` runs from ``threads`` client threads; returns the seconds it took."""
    batches = [
        [((i,), {}) for i in range(start, min(first + n, start + batch))]
        for start in range(first, first + n, batch)
    ]
    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(side.enqueue_batch, batches))
    return time.perf_counter() - began


def count_done(url: str, total: int) -> None:
    """Wait until ``total`` runs finished."""
    import sqlalchemy as sa  # noqa: PLC0415

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    done = sa.text("SELECT count(*) FROM dbos.workflow_status WHERE status = 'SUCCESS'")
    try:
        with engine.connect() as conn:
            while conn.execute(done).scalar_one() < total:
                time.sleep(0.02)
    finally:
        engine.dispose()


def run_span_s(url: str, since_ms: int) -> float:
    """From the first run created since ``since_ms`` starting to the last finishing (DBOS's clock)."""
    import sqlalchemy as sa  # noqa: PLC0415

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    span = sa.text(
        "SELECT min(started_at_epoch_ms), max(completed_at) FROM dbos.workflow_status "
        "WHERE status = 'SUCCESS' AND created_at >= :since"
    )
    try:
        with engine.connect() as conn:
            began, ended = conn.execute(span, {"since": since_ms}).one()
    finally:
        engine.dispose()
    return (ended - began) / 1000


def migrate(kind: str, url: str) -> None:
    """Create the DBOS (and SDK) tables with a launch in a child process, then stop."""
    code = {
        "sdk": f"import hitl_notebook as h; h.launch({url!r}); h.shutdown()",
        "dbos": (
            "from dbos import DBOS; "
            f"DBOS(config={{'name': {RAW_APPLICATION!r}, 'system_database_url': {url!r}, "
            "'log_level': 'WARNING'}); "
            "DBOS.launch(); DBOS.destroy()"
        ),
    }[kind]
    subprocess.run([sys.executable, "-c", code], check=True)


def measure(kind: str, n: int, batch: int, threads: int, concurrency: int) -> dict[str, float]:
    url = fresh(DATABASES[kind])
    migrate(kind, url)
    side = sdk_side(url) if kind == "sdk" else dbos_side(url)
    side.enqueue_batch([((-1,), {})])  # warm the connection and the client up
    first_ms = int(time.time() * 1000)
    queued_s = enqueue_all(side, n, batch, threads, 0)
    workers = [start_worker(side.worker_command(f"bench-{i}", concurrency)) for i in range(2)]
    try:
        count_done(url, n + 1)
        drained_s = run_span_s(url, first_ms)
        second_ms = int(time.time() * 1000)
        began = time.perf_counter()
        busy_s = enqueue_all(side, n, batch, threads, n)
        count_done(url, 2 * n + 1)
        together_s = time.perf_counter() - began
        assert run_span_s(url, second_ms) > 0
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
    return {
        "enqueue_per_s": n / queued_s,
        "run_per_s": n / drained_s,
        "enqueue_while_running_per_s": n / busy_s,
        "completed_while_enqueueing_per_s": n / together_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="runs per round")
    parser.add_argument("--batch", type=int, default=500, help="runs per enqueue transaction")
    parser.add_argument("--threads", type=int, default=4, help="client threads enqueueing")
    parser.add_argument("--concurrency", type=int, default=200, help="runs at once per worker")
    parser.add_argument("--raw-worker", metavar="NAME", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_worker:
        raw_worker(args.db, args.raw_worker, args.concurrency)
        return
    load = os.getloadavg()[0]
    results = {
        kind: measure(kind, args.n, args.batch, args.threads, args.concurrency)
        for kind in ("sdk", "dbos")
    }
    print(
        f"\n{args.n} runs per round, Postgres, batches of {args.batch} from {args.threads} client"
        f" threads, 2 workers x {args.concurrency} concurrent runs, queue polled every"
        f" {POLL_S:g} s; load average {load:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    print(f"{'runs per second':<50} {'SDK':>9} {'raw DBOS':>9} {'SDK/DBOS':>9}")
    for key, what in MEASURES:
        sdk, raw = results["sdk"][key], results["dbos"][key]
        print(f"{what:<50} {sdk:>9.0f} {raw:>9.0f} {sdk / raw:>8.2f}x")
    print(
        json.dumps(
            {
                kind: {key: round(rate, 1) for key, rate in rates.items()}
                for kind, rates in results.items()
            }
        )
    )


if __name__ == "__main__":
    main()
