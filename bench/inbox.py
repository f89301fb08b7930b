"""The inbox at 1,000 and 10,000 waiting requests: the SDK's one query against the seed's N+1 loop.

What is measured
----------------
Both sides read the same database from a separate process that has only its URL (no launch, no
agent code run), as an operator's notebook would:

- *SDK*: ``hitl.connect(url).inbox()``, every waiting request (no limit), best and median of 5;
  the first page, ``inbox(limit=50)``, is an extra column (best of 5);
- *seed*: the agent-inbox demo's pattern (reference/dbos_api.md 4.5-4.6):
  ``DBOSClient(system_database_url=url).list_workflows(status="PENDING", name="hitl.agent")``, then
  one ``client.get_event(workflow_id, "agent_status", timeout_seconds=0)`` per workflow; best of 3
  (of 1 when one pass takes longer than 3 s, as at 10,000 on Postgres).

Each side first runs once untimed: a warm-up that opens the connections and checks the answer (the
inbox lists N requests; the seed loop returns N published events, all "pending_approval").

How the waiting requests are built
----------------------------------
Starting 10,000 real runs that each ask a question takes far too long on a small machine, so a
builder process launches the SDK, starts a few real runs (``RefundAgent``: publish a status, publish
the seed's ``agent_status`` event with ``DBOS.set_event``, then ask for an approval with a proposal
and a 1-day deadline) and waits until they all wait. It then bulk-inserts the other requests as
copies of the first real run's rows, with new ids, order numbers (in titles and proposals), times
(spread over the last 8 hours) and event values, so that both read paths see what a real run
leaves: DBOS's ``workflow_status`` (PENDING, ``hitl.agent``), ``workflow_input`` (the seed's
``list_workflows`` loads inputs), ``workflow_events`` and ``workflow_events_history`` (the
``agent_status`` event, pickled as DBOS pickles it), and the SDK's ``hitl_requests`` (open),
``hitl_runs`` and ``hitl_status`` rows. The step log (``operation_outputs``) is not copied: neither
read path looks at it. On Postgres the builder then runs ``ANALYZE``, as autovacuum would soon
after such a load (without statistics the planner sorts every request to find the first page:
``inbox(limit=50)`` costs about 60 ms instead of 5 ms at 10,000). The builder exits without
shutting down, so the real runs stay PENDING, as if their process had stopped.

Every run starts from fresh databases: SQLite files in a new temporary directory, and the Postgres
database ``hitl_bench_inbox`` on 127.0.0.1:5432 (user postgres), dropped and created again for
each size. Each build and each measurement runs in its own child process, because DBOS is a
process-wide singleton.

Run it from the repository root::

    python bench/inbox.py            # 1,000 and 10,000 requests, about 2 minutes
    python bench/inbox.py --quick    # 200 and 1,000 requests, a smoke run

It prints a table, then as its last line one JSON object:
``{"sqlite": {"1000": {"sdk_ms", "seed_ms", "ratio"}, "10000": {...}}, "postgres": {...}}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict, cast

from _rows import (
    PG_SERVER,
    copy_row,
    insert_chunks,
    recreate_postgres_database,
    run_child,
    table_row,
    template_rows,
    timed,
)
from pydantic import BaseModel

PG_DB = "hitl_bench_inbox"

SIZES = (1_000, 10_000)
QUICK_SIZES = (200, 1_000)
REAL_RUNS = 4
"""Runs started for real in the builder; the rest of the N requests are copies of the first."""
SPREAD_MS = 8 * 3600 * 1000
"""The copied requests were asked over the last 8 hours (all within their 1-day deadline)."""
DEADLINE = "1d"

WORKFLOW_NAME = "hitl.agent"
"""The one DBOS workflow behind every SDK run (``hitl_notebook._agent.agent.WORKFLOW_NAME``)."""
EVENT_KEY = "agent_status"
"""The event the seed's inbox reads (the demo's ``AGENT_STATUS``)."""

SDK_REPEATS = 5
PAGE = 50
SEED_REPEATS = 3
SEED_SLOW_S = 3.0
"""A seed pass slower than this is timed once."""
WAIT_TIMEOUT_S = 60.0
CHILD_TIMEOUT_S = 900

GOAL_N = 10_000
GOAL_SDK_MS = 50.0
GOAL_RATIO = 100.0

DBOS_TABLES = ("workflow_status", "workflow_input", "workflow_events", "workflow_events_history")
"""DBOS's rows of a run that the two read paths look at (list_workflows loads the inputs)."""
TEMPLATE_ROWS = dict.fromkeys(DBOS_TABLES, 1) | {
    "hitl_requests": 1,
    "hitl_runs": 1,
    "hitl_status": 3,
}
"""The rows a real run has once it waits: 3 status transitions (started, working, waiting)."""

TIME_COLUMNS = frozenset(
    {
        # DBOS
        "created_at",
        "updated_at",
        "completed_at",
        "started_at_epoch_ms",
        "workflow_deadline_epoch_ms",
        "retention_timestamp",
        # the SDK
        "requested_at_ms",
        "deadline_ms",
        "decided_at_ms",
        "started_at_ms",
        "updated_at_ms",
        "finished_at_ms",
        "at_ms",
    }
)
"""Epoch-millisecond columns, moved to the copy's time (durations such as timeout_ms are not)."""


class BuildResult(TypedDict):
    n: int
    real_runs: int
    seconds: float


class Measurement(TypedDict):
    n: int
    sdk_ms: float
    sdk_median_ms: float
    page50_ms: float
    seed_ms: float
    seed_list_ms: float
    seed_repeats: int
    ratio: float
    seconds: float


# -- what the agents ask (the real runs and the copies share it) -------------------------------


class Refund(BaseModel):
    """The proposal a RefundAgent asks a human to approve."""

    order_id: str
    amount: float


def order_id(i: int) -> str:
    return f"A-{i:05d}"


def agent_status(i: int, created_at: str) -> dict[str, Any]:
    """The demo's AgentStatus (as a dict): what the seed's inbox shows for a waiting agent."""
    return {
        "name": f"Agent {i}",
        "task": f"Refund order {order_id(i)}",
        "status": "pending_approval",
        "created_at": created_at,
        "question": f"Should I proceed with task: refund order {order_id(i)}?",
        "agent_id": None,
    }


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


# -- child: build the waiting requests ---------------------------------------------------------


def build(url: str, n: int) -> BuildResult:
    """Launch the SDK, start REAL_RUNS real waiting runs, copy the first to reach ``n`` requests."""
    # Each child imports only what it uses (hitl_notebook registers a DBOS workflow on import).
    import sqlalchemy as sa  # noqa: PLC0415
    from dbos import DBOS  # noqa: PLC0415
    from dbos._serialization import DefaultSerializer  # noqa: PLC0415

    import hitl_notebook as hitl  # noqa: PLC0415
    from hitl_notebook._db.database import requests, runs, statuses  # noqa: PLC0415
    from hitl_notebook._db.dbos_internals import DBOS_SCHEMA  # noqa: PLC0415

    started = time.monotonic()

    class RefundAgent(hitl.Agent):
        def run(self, i: int) -> str:
            refund = Refund(order_id=order_id(i), amount=20.0 + i % 80)
            self.status("working", f"drafting a refund for {refund.order_id}")
            DBOS.set_event(EVENT_KEY, agent_status(i, datetime.now(UTC).isoformat()))
            decision = self.request_approval(
                f"Refund order {refund.order_id}?",
                body=f"Proposed: {refund.amount:.2f} EUR",
                proposal=refund,
                timeout=DEADLINE,
                on_timeout="reject",
            )
            return decision.outcome.value

    hitl.launch(url, executor="hitl-bench-inbox-builder")
    handles = [RefundAgent.start(i) for i in range(REAL_RUNS)]
    for handle in handles:
        handle.wait_for_request(timeout=WAIT_TIMEOUT_S)
    template = handles[0].id

    engine = hitl.store().database.engine
    dbos_tables = sa.MetaData()
    dbos_tables.reflect(engine, schema=None if engine.dialect.name == "sqlite" else DBOS_SCHEMA)

    def dbos_table(name: str) -> sa.Table:
        return dbos_tables.tables[name if engine.dialect.name == "sqlite" else f"dbos.{name}"]

    # Each table a run has rows in, with the column that names the run; DBOS's tables first
    # (the events refer to workflow_status), in the order the copies are inserted.
    by_run = {dbos_table(name): dbos_table(name).c.workflow_uuid for name in DBOS_TABLES}
    by_run |= {requests: requests.c.run_id, runs: runs.c.run_id, statuses: statuses.c.run_id}
    serializer = DefaultSerializer()
    with engine.begin() as conn:
        templates = {
            table: template_rows(conn, table, key == template) for table, key in by_run.items()
        }
    counts = {table.name: len(rows) for table, rows in templates.items()}
    if counts != TEMPLATE_ROWS:
        raise RuntimeError(f"unexpected rows of the template run {template}: {counts}")
    event = templates[dbos_table("workflow_events")][0]
    # The copies' events must be what DBOS.set_event writes: check the serializer against it.
    if serializer.serialize(serializer.deserialize(event["value"])) != event["value"]:
        raise RuntimeError("DefaultSerializer does not reproduce the value DBOS.set_event wrote")
    anchor = templates[requests][0]["requested_at_ms"]

    copies: dict[sa.Table, list[dict[str, Any]]] = {table: [] for table in templates}
    first_ms = int(time.time() * 1000) - SPREAD_MS
    for i in range(REAL_RUNS, n):
        asked_ms = first_ms + (i - REAL_RUNS) * SPREAD_MS // max(1, n - REAL_RUNS)
        swaps = {template: str(uuid.uuid4()), order_id(0): order_id(i)}
        value = serializer.serialize(agent_status(i, iso(asked_ms)))
        for table, rows in templates.items():
            for row in rows:
                copy = copy_row(row, swaps, asked_ms - anchor, TIME_COLUMNS)
                if copy.get("key") == EVENT_KEY:  # the event, in DBOS's two tables
                    copy["value"] = value
                copies[table].append(copy)
    with engine.begin() as conn:
        for table in templates:
            insert_chunks(conn, table, copies[table])
    if engine.dialect.name == "postgresql":
        # Autovacuum analyzes tables this size within a minute or so; without it the planner
        # would see the estimates of empty tables, which no long-lived database has.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))
    return {"n": n, "real_runs": REAL_RUNS, "seconds": round(time.monotonic() - started, 1)}


# -- child: measure, with only the URL ---------------------------------------------------------


def measure(url: str, n: int) -> Measurement:
    """Time the SDK's inbox and the seed's list + get_event loop, as an operator's notebook."""
    from dbos import DBOSClient  # noqa: PLC0415 - see build

    import hitl_notebook as hitl  # noqa: PLC0415

    started = time.monotonic()
    store = hitl.connect(url)
    waiting = store.inbox()  # warm-up and check
    if len(waiting) != n:
        raise RuntimeError(f"the SDK's inbox lists {len(waiting)} requests, expected {n}")
    sdk, waiting = timed(store.inbox, SDK_REPEATS)
    page, first = timed(lambda: store.inbox(limit=PAGE), SDK_REPEATS)
    if len(waiting) != n or len(first) != min(n, PAGE):
        raise RuntimeError(f"the inbox changed while timed: {len(waiting)}, page {len(first)}")

    client = DBOSClient(system_database_url=url)

    def seed_list() -> list[Any]:
        return client.list_workflows(status="PENDING", name=WORKFLOW_NAME)

    def seed_inbox() -> list[Any]:
        return [client.get_event(w.workflow_id, EVENT_KEY, timeout_seconds=0) for w in seed_list()]

    check, events = timed(seed_inbox, 1)  # warm-up and check
    shown = [e for e in events if isinstance(e, dict) and e.get("status") == "pending_approval"]
    if len(events) != n or len(shown) != n:
        raise RuntimeError(f"the seed loop returned {len(events)} events ({len(shown)} pending)")
    repeats = SEED_REPEATS if check[0] < 1000 * SEED_SLOW_S else 1
    seed, _ = timed(seed_inbox, repeats)
    listing, _ = timed(seed_list, SEED_REPEATS)
    client.destroy()
    return {
        "n": n,
        "sdk_ms": round(min(sdk), 2),
        "sdk_median_ms": round(statistics.median(sdk), 2),
        "page50_ms": round(min(page), 2),
        "seed_ms": round(min(seed), 1),
        "seed_list_ms": round(min(listing), 1),
        "seed_repeats": repeats,
        "ratio": round(min(seed) / min(sdk), 1),
        "seconds": round(time.monotonic() - started, 1),
    }


def child_main(phase: str, url: str, n: int) -> None:
    result = build(url, n) if phase == "build" else measure(url, n)
    print(json.dumps(result), flush=True)
    sys.stderr.flush()
    os._exit(0)  # the builder's real runs stay PENDING in the database, as after a crash


# -- parent: fresh databases, a builder and a reader per size, the table -----------------------


COLUMNS = ("db", "n", "sdk_ms", "sdk_median_ms", "page50_ms", "seed_ms", "ratio")
WIDTHS = (8, 7, 8, 14, 10, 10, 9)


def print_table(results: dict[str, dict[int, Measurement]], builds: list[str]) -> None:
    print("\nInbox read from a separate process (best of runs; ratio = seed_ms / sdk_ms)")
    header = table_row(COLUMNS, WIDTHS)
    print(header)
    print("-" * len(header))
    for backend, by_size in results.items():
        for n, m in by_size.items():
            cells = (m["sdk_ms"], m["sdk_median_ms"], m["page50_ms"], m["seed_ms"])
            shown = [f"{value:.1f}" for value in cells]
            print(table_row((backend, f"{n:,}", *shown, f"{m['ratio']:.0f}x"), WIDTHS))
    print()
    for backend, by_size in results.items():
        if GOAL_N not in by_size:
            largest = max(by_size)
            print(f"goal at {GOAL_N:,} ({backend}): not checked, this run stops at {largest:,}")
            continue
        m = by_size[GOAL_N]
        met = m["sdk_ms"] <= GOAL_SDK_MS and m["ratio"] >= GOAL_RATIO
        print(
            f"goal at {GOAL_N:,} ({backend}): sdk_ms {m['sdk_ms']:.1f} <= {GOAL_SDK_MS:g} and"
            f" ratio {m['ratio']:.0f} >= {GOAL_RATIO:g}: {'met' if met else 'MISSED'}"
        )
    details = "; ".join(
        f"{backend} {n:,}: list_workflows {m['seed_list_ms']:.1f} ms, {m['seed_repeats']} timed"
        for backend, by_size in results.items()
        for n, m in by_size.items()
    )
    print(
        f"\nsdk_ms: hitl.connect(url).inbox(), best of {SDK_REPEATS} (median beside it);"
        f" page50_ms: inbox(limit={PAGE}).\nseed_ms: DBOSClient.list_workflows(status='PENDING',"
        f" name='{WORKFLOW_NAME}') + get_event per run, best of the passes timed.\nSeed detail:"
        f" {details}.\nBuilds: {', '.join(builds)}.\nLoad average (1 min) of the machine"
        f" ({os.cpu_count()} CPUs): {os.getloadavg()[0]:.2f}.\n"
    )


def parent_main(sizes: tuple[int, ...]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="hitl_bench_inbox_"))
    results: dict[str, dict[int, Measurement]] = {"sqlite": {}, "postgres": {}}
    builds = []
    try:
        for backend, by_size in results.items():
            for n in sizes:
                if backend == "sqlite":
                    url = f"sqlite:///{folder / f'inbox_{n}.sqlite'}"
                else:
                    recreate_postgres_database(PG_DB)
                    url = f"{PG_SERVER}/{PG_DB}"
                print(f"building {n:,} waiting requests on {backend} ...", file=sys.stderr)
                built = run_child(__file__, "build", url, n, timeout=CHILD_TIMEOUT_S)
                builds.append(f"{backend} {n:,} in {built['seconds']:g} s")
                print(f"measuring {n:,} on {backend} ...", file=sys.stderr, flush=True)
                by_size[n] = cast(
                    "Measurement", run_child(__file__, "measure", url, n, timeout=CHILD_TIMEOUT_S)
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print_table(results, builds)
    summary = {
        backend: {
            str(n): {"sdk_ms": m["sdk_ms"], "seed_ms": m["seed_ms"], "ratio": m["ratio"]}
            for n, m in by_size.items()
        }
        for backend, by_size in results.items()
    }
    print(json.dumps(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run: {' and '.join(map(str, QUICK_SIZES))}"
    )
    parser.add_argument("--phase", choices=["build", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        child_main(args.phase, args.db, args.n)
    else:
        parent_main(QUICK_SIZES if args.quick else SIZES)


if __name__ == "__main__":
    main()
