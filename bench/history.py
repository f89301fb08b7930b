"""History at scale: ``hitl.history()`` and ``hitl.decisions()`` over 10,000 finished agents.

What is measured
----------------
From a separate process that has only the database URL (no launch), as an operator's notebook:

- ``hitl.history(via=store)``: every status transition as a DataFrame, 100,000 rows (10 per agent);
- ``hitl.decisions(via=store)``: every decided request as a DataFrame, 10,000 rows, with the count
  of late answers each one refused;

with ``store = hitl.connect(url)``; best and median of 3, after one untimed call of each that warms
up the connection and checks the frames' sizes and counts. The SQL part alone
(``store.history_rows()`` / ``store.decision_rows()``, best of 3) is shown too, so the table says
how much of the time is the query and how much building the DataFrame.

How the history is built
------------------------
Running 10,000 agents for real takes too long on a small machine, so a builder process launches
the SDK and runs five ``RefundAgent`` runs to the end, one per way a request ends: approved, edited
(approved with a changed proposal), rejected, timed out, and timed out with a late answer (answered
just after its 1 s deadline, before the run looked: the SDK refuses it and logs it as ``late``).
Each run publishes 10 transitions: started, three working steps, waiting, resumed (or timed_out),
three more working steps, finished. The builder then bulk-inserts copies of these runs' rows with
new ids, order numbers and times (one run every 0.36 s over the last hour, so that their
transitions interleave as concurrent agents' do) in the mix 10 approved : 2 edited : 4 rejected
: 3 timed out : 1 late answer: DBOS's ``workflow_status`` (SUCCESS) and the SDK's ``hitl_runs``,
``hitl_status``, ``hitl_requests`` (decided) and ``hitl_answers`` rows. On Postgres it then runs
``ANALYZE``, as autovacuum would soon after such a load.

Every run starts from fresh databases: a SQLite file in a new temporary directory, and the Postgres
database ``hitl_bench_history`` on 127.0.0.1:5432 (user postgres), dropped and created again. Each
build and each measurement runs in its own child process, because DBOS is a process-wide singleton.

Run it from the repository root::

    python bench/history.py            # 10,000 agents, about a minute
    python bench/history.py --quick    # 1,000 agents, a smoke run

It prints a table, then as its last line one JSON object:
``{"sqlite": {"history_ms", "decisions_ms"}, "postgres": {...}}``.
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
from collections.abc import Callable
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

PG_DB = "hitl_bench_history"

AGENTS = 10_000
QUICK_AGENTS = 1_000
TRANSITIONS = 10
"""Status transitions per run (see HistoryAgent.run)."""
PLAN_MIX = {"approved": 10, "edited": 2, "rejected": 4, "timed_out": 3, "late": 1}
"""How the copied runs' requests end, out of every 20 runs."""
SPREAD_MS = 3600 * 1000
"""The copied runs started over the last hour."""
SHORT_DEADLINE = "1s"
LONG_DEADLINE = "1h"
LATE_ATTEMPTS = 3

REPEATS = 3
WAIT_TIMEOUT_S = 60.0
CHILD_TIMEOUT_S = 900
GOAL_MS = 1_000.0

TIME_COLUMNS = frozenset(
    {
        # DBOS
        "created_at",
        "updated_at",
        "completed_at",
        "started_at_epoch_ms",
        "workflow_deadline_epoch_ms",
        # the SDK
        "requested_at_ms",
        "deadline_ms",
        "decided_at_ms",
        "started_at_ms",
        "updated_at_ms",
        "finished_at_ms",
        "at_ms",
        "received_at_ms",
    }
)
"""Epoch-millisecond columns, moved to the copy's time (durations such as timeout_ms are not)."""


class Expected(TypedDict):
    agents: int
    status_rows: int
    timed_out: int
    late_answers: int


class BuildResult(Expected):
    real_runs: int
    seconds: float


class Measurement(TypedDict):
    history_ms: float
    history_median_ms: float
    history_rows_ms: float
    decisions_ms: float
    decisions_median_ms: float
    decision_rows_ms: float
    seconds: float


# -- what the agents do (the real runs and the copies share it) --------------------------------


class Refund(BaseModel):
    """The proposal a RefundAgent asks a human to approve."""

    order_id: str
    amount: float


def order_id(i: int) -> str:
    return f"H-{i:05d}"


def plan_of(i: int) -> str:
    """How run ``i``'s request ends, following PLAN_MIX."""
    slot = i % sum(PLAN_MIX.values())
    for plan, count in PLAN_MIX.items():
        if slot < count:
            return plan
        slot -= count
    raise AssertionError("unreachable")


def wait_until(condition: Callable[[], bool], what: str) -> None:
    give_up = time.monotonic() + WAIT_TIMEOUT_S
    while not condition():
        if time.monotonic() > give_up:
            raise TimeoutError(f"{what}: not within {WAIT_TIMEOUT_S:g} s")
        time.sleep(0.005)


# -- child: build the history ------------------------------------------------------------------


def build(url: str, agents: int) -> BuildResult:
    """Run one real agent per plan to the end, then copy them up to ``agents`` finished runs."""
    # Each child imports only what it uses (hitl_notebook registers a DBOS workflow on import).
    import sqlalchemy as sa  # noqa: PLC0415

    import hitl_notebook as hitl  # noqa: PLC0415
    from hitl_notebook._db.database import answers, requests, runs, statuses  # noqa: PLC0415
    from hitl_notebook._db.dbos_internals import workflow_status  # noqa: PLC0415

    started = time.monotonic()

    class RefundAgent(hitl.Agent):
        def run(self, i: int, deadline: str) -> str:
            refund = Refund(order_id=order_id(i), amount=20.0 + i % 80)
            for step, progress in (("reading", 0.1), ("checking", 0.2), ("drafting", 0.3)):
                self.status("working", f"{step} order {refund.order_id}", progress=progress)
            decision = self.request_approval(
                f"Refund order {refund.order_id}?",
                body=f"Proposed: {refund.amount:.2f} EUR",
                proposal=refund,
                timeout=deadline,
                on_timeout="reject",
            )
            verb = "paying" if decision.approved else "closing"
            for step, progress in ((verb, 0.6), ("notifying", 0.8), ("filing", 0.9)):
                self.status("working", f"{step} order {refund.order_id}", progress=progress)
            return decision.outcome.value

    def answer(handle: hitl.RunHandle, plan: str) -> None:
        """Answer as a human would for ``plan`` (approved, edited or rejected)."""
        request = handle.wait_for_request(timeout=WAIT_TIMEOUT_S)
        if plan == "approved":
            handle.approve(by="alice", comment="looks right")
        elif plan == "edited":
            handle.approve(value=dict(request.proposal or {}, amount=10.0), by="bob")
        else:
            handle.reject(by="carol", comment="already refunded")

    def answer_late(handle: hitl.RunHandle) -> bool:
        """Answer just after the deadline, before the run looks; False if the run looked first."""
        request = handle.wait_for_request(timeout=WAIT_TIMEOUT_S)
        assert request.deadline is not None
        deadline_ms = request.deadline.timestamp() * 1000
        wait_until(lambda: time.time() * 1000 > deadline_ms + 1, "the deadline")
        try:
            handle.approve(by="dave", comment="sorry, was out")
        except hitl.DeadlinePassedError:
            return True  # refused and logged as late: what this plan wants
        except hitl.AlreadyDecidedError:
            return False  # the run had already timed the request out
        raise RuntimeError("an answer after the deadline was accepted")

    hitl.launch(url, executor="hitl-bench-history-builder")
    real: list[hitl.RunHandle] = []
    templates_of: dict[str, int] = {}  # plan -> index of its template run in ``real``

    def start(plan: str) -> hitl.RunHandle:
        short = plan in {"timed_out", "late"}
        templates_of[plan] = len(real)
        real.append(RefundAgent.start(len(real), SHORT_DEADLINE if short else LONG_DEADLINE))
        return real[-1]

    human = [start(plan) for plan in ("approved", "edited", "rejected")]
    start("timed_out")
    for handle, plan in zip(human, ("approved", "edited", "rejected"), strict=True):
        answer(handle, plan)
    # The late answer races the run's own look at its deadline, so it starts alone.
    for attempt in range(1, LATE_ATTEMPTS + 1):
        if answer_late(start("late")):
            break
        if attempt == LATE_ATTEMPTS:
            raise RuntimeError(f"no late answer landed in {LATE_ATTEMPTS} attempts")
    for handle in real:
        handle.result(timeout=WAIT_TIMEOUT_S)

    engine = hitl.store().database.engine
    with engine.begin() as conn:
        # DBOS's workflow_status reflected, with every column (the SDK declares only a few).
        dbos_status = sa.Table(
            "workflow_status",
            sa.MetaData(),
            schema=None if engine.dialect.name == "sqlite" else workflow_status.schema,
            autoload_with=conn,
        )
        # Each table a run has rows in, with the column that names the run.
        by_run = {
            dbos_status: dbos_status.c.workflow_uuid,
            runs: runs.c.run_id,
            statuses: statuses.c.run_id,
            requests: requests.c.run_id,
            answers: answers.c.run_id,
        }
        templates = {
            plan: {
                table: template_rows(conn, table, key == real[index].id)
                for table, key in by_run.items()
            }
            for plan, index in templates_of.items()
        }
    for plan, rows in templates.items():
        counts = {table.name: len(found) for table, found in rows.items()}
        answered = 0 if plan == "timed_out" else 1
        wanted = {"workflow_status": 1, "hitl_runs": 1, "hitl_status": TRANSITIONS}
        wanted |= {"hitl_requests": 1, "hitl_answers": answered}
        if counts != wanted:
            raise RuntimeError(f"unexpected rows of the {plan} run: {counts}")

    copies: dict[sa.Table, list[dict[str, Any]]] = {table: [] for table in by_run}
    first_ms = int(time.time() * 1000) - SPREAD_MS
    spacing_ms = SPREAD_MS // agents
    for i in range(len(real), agents):
        plan = plan_of(i)
        template, index = templates[plan], templates_of[plan]
        anchor = template[runs][0]["started_at_ms"]
        swaps = {real[index].id: str(uuid.uuid4()), order_id(index): order_id(i)}
        for table, found in template.items():
            copies[table].extend(
                copy_row(row, swaps, first_ms + i * spacing_ms - anchor, TIME_COLUMNS)
                for row in found
            )
    copies[statuses].sort(key=lambda row: row["at_ms"])  # concurrent agents' ids interleave
    with engine.begin() as conn:
        for table, rows_of_table in copies.items():
            insert_chunks(conn, table, rows_of_table)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))

    plans = [plan_of(i) for i in range(len(real), agents)] + list(PLAN_MIX)
    lost_late = len(real) - len(PLAN_MIX)  # runs whose late answer lost the race: timed out
    return {
        "agents": agents,
        "status_rows": agents * TRANSITIONS,
        "timed_out": plans.count("timed_out") + plans.count("late") + lost_late,
        "late_answers": plans.count("late"),
        "real_runs": len(real),
        "seconds": round(time.monotonic() - started, 1),
    }


# -- child: measure, with only the URL ---------------------------------------------------------


def measure(url: str, expected: Expected) -> Measurement:
    """Time the history and decision frames (and their queries alone) from a fresh process."""
    import hitl_notebook as hitl  # noqa: PLC0415 - see build

    started = time.monotonic()
    store = hitl.connect(url)

    def history() -> Any:
        return hitl.history(via=store)

    def decisions() -> Any:
        return hitl.decisions(via=store)

    # Warm-up and check.
    frame, decided = history(), decisions()
    found: Expected = {
        "agents": int(frame["run_id"].nunique()),
        "status_rows": len(frame),
        "timed_out": int(decided["timed_out"].sum()),
        "late_answers": int(decided["late_answers"].sum()),
    }
    if found != expected or len(decided) != expected["agents"]:
        raise RuntimeError(f"the frames hold {found} ({len(decided)} decisions), not {expected}")
    if int(frame["seq"].max()) != TRANSITIONS:
        raise RuntimeError(f"a run has {frame['seq'].max()} transitions, not {TRANSITIONS}")

    history_times, _ = timed(history, REPEATS)
    decision_times, _ = timed(decisions, REPEATS)
    history_rows, _ = timed(store.history_rows, REPEATS)
    decision_rows, _ = timed(store.decision_rows, REPEATS)
    return {
        "history_ms": round(min(history_times), 1),
        "history_median_ms": round(statistics.median(history_times), 1),
        "history_rows_ms": round(min(history_rows), 1),
        "decisions_ms": round(min(decision_times), 1),
        "decisions_median_ms": round(statistics.median(decision_times), 1),
        "decision_rows_ms": round(min(decision_rows), 1),
        "seconds": round(time.monotonic() - started, 1),
    }


def child_main(phase: str, url: str, agents: int, expected: str | None) -> None:
    if phase == "build":
        result: Any = build(url, agents)
    else:
        result = measure(url, cast("Expected", json.loads(expected or "{}")))
    print(json.dumps(result), flush=True)
    sys.stderr.flush()
    os._exit(0)  # DBOS's worker threads would otherwise delay exit


# -- parent: fresh databases, a builder and a reader per database, the table -------------------


COLUMNS = (
    "db",
    "agents",
    "status rows",
    "history_ms",
    "median",
    "query",
    "decisions_ms",
    "median",
    "query",
)
WIDTHS = (8, 7, 11, 10, 8, 8, 12, 8, 8)


def print_table(results: dict[str, Measurement], builds: dict[str, BuildResult]) -> None:
    print("\nHistory frames read from a separate process (best of runs, median beside it)")
    header = table_row(COLUMNS, WIDTHS)
    print(header)
    print("-" * len(header))
    for backend, m in results.items():
        built = builds[backend]
        times = (
            *(m["history_ms"], m["history_median_ms"], m["history_rows_ms"]),
            *(m["decisions_ms"], m["decisions_median_ms"], m["decision_rows_ms"]),
        )
        sizes = (f"{built['agents']:,}", f"{built['status_rows']:,}")
        print(table_row((backend, *sizes, *(f"{t:.1f}" for t in times)), WIDTHS))
    print()
    for backend, m in results.items():
        met = m["history_ms"] <= GOAL_MS and m["decisions_ms"] <= GOAL_MS
        print(
            f"goal ({backend}): history_ms {m['history_ms']:.0f} and decisions_ms"
            f" {m['decisions_ms']:.0f} <= {GOAL_MS:,.0f}: {'met' if met else 'MISSED'}"
        )
    shown = ", ".join(
        f"{backend} {b['agents']:,} agents ({b['timed_out']:,} timed out,"
        f" {b['late_answers']:,} late answers) in {b['seconds']:g} s"
        for backend, b in builds.items()
    )
    print(
        f"\nhistory_ms: hitl.history(via=store); decisions_ms: hitl.decisions(via=store); best of"
        f" {REPEATS}.\nquery: store.history_rows() / store.decision_rows() alone (SQL and rows,"
        f" no DataFrame), best of {REPEATS}.\nBuilds: {shown}.\nLoad average (1 min) of the"
        f" machine ({os.cpu_count()} CPUs): {os.getloadavg()[0]:.2f}.\n"
    )


def parent_main(agents: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="hitl_bench_history_"))
    results: dict[str, Measurement] = {}
    builds: dict[str, BuildResult] = {}
    try:
        recreate_postgres_database(PG_DB)
        urls = {
            "sqlite": f"sqlite:///{folder / 'history.sqlite'}",
            "postgres": f"{PG_SERVER}/{PG_DB}",
        }
        for backend, url in urls.items():
            print(f"building {agents:,} finished agents on {backend} ...", file=sys.stderr)
            built = cast(
                "BuildResult", run_child(__file__, "build", url, agents, timeout=CHILD_TIMEOUT_S)
            )
            builds[backend] = built
            expected: Expected = {
                "agents": built["agents"],
                "status_rows": built["status_rows"],
                "timed_out": built["timed_out"],
                "late_answers": built["late_answers"],
            }
            print(f"measuring on {backend} ...", file=sys.stderr, flush=True)
            measured = run_child(
                __file__,
                "measure",
                url,
                agents,
                "--expect",
                json.dumps(expected),
                timeout=CHILD_TIMEOUT_S,
            )
            results[backend] = cast("Measurement", measured)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print_table(results, builds)
    summary = {
        backend: {"history_ms": m["history_ms"], "decisions_ms": m["decisions_ms"]}
        for backend, m in results.items()
    }
    print(json.dumps(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_AGENTS:,} agents")
    parser.add_argument("--phase", choices=["build", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--expect", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        child_main(args.phase, args.db, args.n, args.expect)
    else:
        parent_main(QUICK_AGENTS if args.quick else AGENTS)


if __name__ == "__main__":
    main()
