"""Operating a big inbox: what a person notices at 10,000 waiting requests, next to today's way.

What is measured
----------------
On one database of each kind holding N waiting requests (10,000; ``--quick``: 1,000), read and
answered from a separate process that has only the URL (no launch), as an operator's notebook:

- ``full_inbox_ms``: ``store.inbox()``, every waiting request as Python objects (best of 5);
  today's way is the same call (made faster in place, so the column only shows a regression;
  when issue 16 was written, 81-92 ms at 10,000 on this 2-core machine; before the inbox read
  kept the run's own status and rules on the request's row, 64-74 ms).
- ``first_page_count_ms``: what one look at the inbox needs: the first page (50) and the total,
  ``store.inbox_counts(spec)`` then ``store.inbox(limit=50)`` (best of 5). Today's way counted
  by reading every row: ``len(store.inbox())`` then ``store.inbox(limit=50)``.
- ``idle_refresh_ms``: one refresh of the live inbox widget (25 rows a page) when nothing
  changed: the change cursor, one small query (median of 50). Today's way read every matching
  row, then built the page: ``store.read_inbox(spec)`` and the page's rows (median of 5).
- ``bulk_1000_ms``: ``store.respond_many(1,000 request ids, approve=True)``, each answer
  validated, audited, all-or-nothing on its own (once: it answers them). Today's way answered
  them one by one, ``store.respond`` in a loop, on 1,000 other requests (``--quick``: 200,
  scaled to 1,000 in the table and the JSON, and said so).
- ``same_process_p50_ms`` and ``start_many_s``: measured by ``bench/_operate_runs.py`` when it
  is there (the in-process wake and ``Agent.start_many``); "not measured" otherwise.

How the waiting requests are built: by ``bench/inbox.py``'s builder (a few real runs of a
RefundAgent, copied to N; see its docstring), in a child process, on fresh databases (SQLite in
a temporary directory, Postgres ``hitl_bench_operate`` on 127.0.0.1:5432, user postgres); the
Postgres one is then vacuumed, as autovacuum would soon (``settle``).

Run it from the repository root::

    python bench/operate.py               # 10,000 waiting, about 3 minutes
    python bench/operate.py --quick       # 1,000 waiting, a smoke run
    python bench/operate.py --only reads  # the reads alone: full inbox, first page, refresh

It prints a table, then as its last line one JSON object:
``{"sqlite": {"bulk_1000_ms", "idle_refresh_ms", "same_process_p50_ms", "full_inbox_ms",
"first_page_count_ms", "start_many_s"}, "postgres": {...}}`` (null: not measured).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _rows import PG_SERVER, recreate_postgres_database, run_child, table_row, timed

BENCH = Path(__file__).parent
PG_DB = "hitl_bench_operate"
N = 10_000
QUICK_N = 1_500
BULK = 1_000
BASELINE_LOOP = 1_000
QUICK_BASELINE_LOOP = 200
PAGE = 50
WIDGET_PAGE = 25
CHILD_TIMEOUT_S = 900

GOALS = {
    "bulk_1000_ms": 1000.0,
    "idle_refresh_ms": 5.0,
    "same_process_p50_ms": 3.0,
    "full_inbox_ms": 50.0,
    "first_page_count_ms": 10.0,
    "start_many_s": 15.0,
}
METRICS = tuple(GOALS)


# -- child: measure, with only the URL ---------------------------------------------------------


def measure(url: str, n: int, loop: int, *, reads_only: bool = False) -> dict[str, float]:
    """Time the reads, then (unless ``reads_only``) the bulk answer, then today's loop of single
    answers."""
    import hitl_notebook as hitl  # noqa: PLC0415 - each child imports what it uses
    from hitl_notebook._notebook.inbox_widget import InboxWidget, _row  # noqa: PLC0415
    from hitl_notebook._store.inbox import InboxFilter  # noqa: PLC0415

    settle(url)
    store = hitl.connect(url)
    spec = InboxFilter()
    if len(store.inbox()) != n:  # warm-up and check
        raise RuntimeError(f"the inbox lists {len(store.inbox())} requests, expected {n}")

    full, _ = timed(store.inbox, 5)

    def first_page() -> int:
        counts = store.inbox_counts(spec)
        store.inbox(limit=PAGE)
        return counts.total

    def first_page_before() -> int:
        total = len(store.inbox())
        store.inbox(limit=PAGE)
        return total

    page, total = timed(first_page, 5)
    page_before, total_before = timed(first_page_before, 5)
    if total != n or total_before != n:
        raise RuntimeError(f"counted {total} and {total_before}, expected {n}")

    widget = InboxWidget(store, spec, responder="bench", page_size=WIDGET_PAGE, live=False)
    widget.refresh()
    idle, changed = timed(widget.refresh, 50)
    if changed is not None:
        raise RuntimeError("an idle refresh found a change")

    def refresh_before() -> int:
        everything = store.read_inbox(spec)
        rows = [_row(item, "bench") for item in everything.items[:WIDGET_PAGE]]
        sorted({item.agent for item in everything.items})
        return len(rows)

    idle_before, _ = timed(refresh_before, 5)
    widget.close()
    reads = {
        "full_inbox_ms": round(min(full), 2),
        "full_inbox_ms_baseline": round(min(full), 2),
        "first_page_count_ms": round(min(page), 2),
        "first_page_count_ms_baseline": round(min(page_before), 2),
        "idle_refresh_ms": round(statistics.median(idle), 3),
        "idle_refresh_ms_baseline": round(statistics.median(idle_before), 2),
        "loop": loop,
    }
    if reads_only:
        return reads

    waiting = [item.request_id for item in store.inbox()]
    bulk_ids, loop_ids = waiting[:BULK], waiting[BULK : BULK + loop]
    bulk, result = timed(lambda: store.respond_many(bulk_ids, approve=True, by="bench"), 1)
    if not result.ok or len(result.decided) != BULK:
        raise RuntimeError(f"the bulk answer refused {len(result.failed)}")
    started = time.perf_counter()
    for request_id in loop_ids:
        store.respond(request_id, approve=True, by="bench")
    loop_ms = 1000 * (time.perf_counter() - started)
    return reads | {
        "bulk_1000_ms": round(bulk[0], 1),
        "bulk_1000_ms_baseline": round(loop_ms * BULK / loop, 1),
    }


def settle(url: str) -> None:
    """On Postgres, ``VACUUM ANALYZE`` the freshly loaded database, as autovacuum does soon after
    a load of this size (insert-triggered, Postgres 13+): it also marks the pages all-visible,
    so the counts read their index alone as in any database older than a minute."""
    import sqlalchemy as sa  # noqa: PLC0415 - the parent process imports no SQLAlchemy

    if not url.startswith("postgresql"):
        return
    engine = sa.create_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()


def runs_measurer() -> Any:
    """``measure_runs`` of ``bench/_operate_runs.py`` (the in-process wake, start_many), or None."""
    if importlib.util.find_spec("_operate_runs") is None:
        return None
    import _operate_runs  # type: ignore[import-not-found]  # noqa: PLC0415 - another helper's

    return _operate_runs.measure_runs


# -- parent: fresh databases, a builder and a reader per kind, the table -----------------------


def _cell(value: float | None, unit: str) -> str:
    if value is None:
        return "not measured"
    return f"{value:.3g} {unit}" if value < 10 else f"{value:,.0f} {unit}"


def print_table(results: dict[str, dict[str, Any]], n: int) -> None:
    print(f"\nOperating an inbox of {n:,} waiting requests (from a process with only the URL)")
    widths = (22, 9, 14, 14, 9, 8, 6)
    header = table_row(("metric", "db", "now", "today's way", "ratio", "goal", "met"), widths)
    print(header)
    print("-" * len(header))
    for metric in METRICS:
        unit = "s" if metric.endswith("_s") else "ms"
        for backend, found in results.items():
            value, before = found.get(metric), found.get(f"{metric}_baseline")
            ratio = f"{before / value:.0f}x" if value and before else ""
            met = "" if value is None else ("yes" if value <= GOALS[metric] else "NO")
            cells = (metric, backend, _cell(value, unit), _cell(before, unit), ratio)
            print(table_row((*cells, f"{GOALS[metric]:g}", met), widths))
    loops = {found.get("loop") for found in results.values()}
    scaled = "" if loops == {BULK} else f" (timed over {loops.pop()} answers, scaled to {BULK:,})"
    print(
        "\nfull_inbox_ms: store.inbox(), best of 5 (today's way is the same call);"
        " first_page_count_ms: counts + inbox(limit=50), best of 5 (today: len(inbox())"
        " + the page); idle_refresh_ms: the widget's refresh with nothing changed, median of"
        f" 50 (today: read every row + the page, median of 5); bulk_1000_ms: respond_many of"
        f" {BULK:,}, once (today: store.respond in a loop{scaled}).\nLoad average (1 min) of"
        f" the machine ({os.cpu_count()} CPUs): {os.getloadavg()[0]:.2f}.\n"
    )


def parent_main(n: int, loop: int, *, reads_only: bool = False) -> None:
    folder = Path(tempfile.mkdtemp(prefix="hitl_bench_operate_"))
    results: dict[str, dict[str, Any]] = {}
    measure_runs = None if reads_only else runs_measurer()
    only = ["--only", "reads"] if reads_only else []
    try:
        for backend in ("sqlite", "postgres"):
            if backend == "sqlite":
                url = f"sqlite:///{folder / 'operate.sqlite'}"
            else:
                recreate_postgres_database(PG_DB)
                url = f"{PG_SERVER}/{PG_DB}"
            print(f"building {n:,} waiting requests on {backend} ...", file=sys.stderr, flush=True)
            run_child(str(BENCH / "inbox.py"), "build", url, n, timeout=CHILD_TIMEOUT_S)
            print(f"measuring on {backend} ...", file=sys.stderr, flush=True)
            found = run_child(
                __file__, "measure", url, n, str(loop), *only, timeout=CHILD_TIMEOUT_S
            )
            if measure_runs is not None:
                if backend == "postgres":
                    recreate_postgres_database(PG_DB)
                else:
                    url = f"sqlite:///{folder / 'runs.sqlite'}"
                found |= measure_runs(backend, url, starts=n, resumes=100)
            results[backend] = found
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print_table(results, n)
    print(json.dumps({b: {m: found.get(m) for m in METRICS} for b, found in results.items()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_N:,} waiting")
    parser.add_argument(
        "--only", choices=["reads"], help="measure only the reads (no answers, no runs started)"
    )
    parser.add_argument("--phase", choices=["measure"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("loop", nargs="?", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        reads_only = args.only == "reads"
        print(json.dumps(measure(args.db, args.n, args.loop, reads_only=reads_only)), flush=True)
        sys.stderr.flush()
        os._exit(0)
    n, loop = (QUICK_N, QUICK_BASELINE_LOOP) if args.quick else (N, BASELINE_LOOP)
    parent_main(n, loop, reads_only=args.only == "reads")


if __name__ == "__main__":
    main()
