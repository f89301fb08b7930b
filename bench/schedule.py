"""The durable schedule under a burst: 10,000 scheduled sends due at once, two processes claiming.

What is measured
----------------
*fired_s*: the time from the moment 10,000 scheduled sends become due at once (one UPDATE sets
their ``due_ms`` to now) until none is left undone, while two launched processes (each
``hitl.launch(...)`` with the default ``schedule_every`` of 1 s and one channel, ``bench``, that
appends the notification's key to a file of its own) claim and fire them. It includes each
process's wait for its next look (up to 1 s), the claims, loading each request, the send and the
fenced completion with its history line, one transaction per send.

*duplicates*: deliveries beyond the first of each key, over both processes' files (must be 0:
nobody is killed here, so every row is claimed and sent exactly once).

*idle_cpu_pct*: the CPU (user + system, from ``os.times()``) of a process that runs nothing but
a ``Scheduler`` (one look per second) on the same database while 10,000 sends are scheduled in the
future and nothing is due, over ``IDLE_SECONDS``, in % of one core: the schedule's own cost. The
table also shows the idle CPU of each whole launched claimer process (DBOS, the answer poller,
the schedule) over the same seconds, read from ``/proc``, for context.

The sends are real: 1,000 approval requests (10 runs asking 100 at once), each with
``Notify(channels=["bench"], remind_every="1h", max_reminders=9)``: its notify and 9 reminders,
10 rows per request.

Every run starts from fresh databases: a SQLite file in a new temporary directory, and the
Postgres database ``hitl_bench_schedule`` on 127.0.0.1:5432 (user postgres), dropped and created
again.

Run it from the repository root::

    python bench/schedule.py            # 10,000 sends per database, about 2 minutes
    python bench/schedule.py --n 2000   # fewer (rounded to whole requests of 10 rows)

It prints a table, then as its last line one JSON object:
``{"sqlite": {"fired_s", "duplicates", "idle_cpu_pct"}, "postgres": {...}}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TypedDict

from _rows import PG_SERVER, idle_cpu_pct, recreate_postgres_database

DEFAULT_N = 10_000
ROWS_PER_REQUEST = 10
PER_RUN = 100
IDLE_SECONDS = 10.0
SETTLE_S = 3.0
"""How long the claimers run before their idle CPU is read (their launch's own work done)."""
IDLE_CPU_GOAL_PCT = 1.0
PG_DATABASE = "hitl_bench_schedule"
WAIT_TIMEOUT_S = 600.0
CLAIMERS = 2


class Result(TypedDict):
    fired_s: float
    duplicates: int
    idle_cpu_pct: float


# -- children ------------------------------------------------------------------------------------


def build(url: str, n: int) -> None:
    """Store n // 10 requests with 10 scheduled sends each, then exit."""
    import hitl_notebook as hitl  # noqa: PLC0415 - children import what they measure

    notify = hitl.Notify(channels=["bench"], remind_every="1h", max_reminders=ROWS_PER_REQUEST - 1)

    class Asking(hitl.Agent):
        def run(self, first: int, count: int) -> int:
            questions = [
                hitl.Question.approval(
                    f"Request {i}?", assignees=["alice"], key=f"q{i}", notify=notify
                )
                for i in range(first, first + count)
            ]
            return len(self.ask(*questions))

    hitl.launch(url, executor="bench-asker", schedule_every=None, park_after=0)
    requests = n // ROWS_PER_REQUEST
    for first in range(0, requests, PER_RUN):
        Asking.start(first, min(PER_RUN, requests - first))
    wait_until(lambda: count_rows(url, pending=False) >= requests * ROWS_PER_REQUEST, "requests")
    print(json.dumps({"rows": requests * ROWS_PER_REQUEST}), flush=True)
    os._exit(0)  # the runs stay waiting in the database


def claim(url: str, out: str, executor: str) -> None:
    """A launched process with the channel ``bench``: fires its share until killed."""
    import hitl_notebook as hitl  # noqa: PLC0415
    from hitl_notebook._runtime.schedule import configure  # noqa: PLC0415

    class Appending:
        name = "bench"

        def __init__(self) -> None:
            self.fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

        def send(self, notification: hitl.Notification) -> str | None:
            os.write(self.fd, f"{notification.key}\n".encode())
            return notification.key

    configure([Appending()])
    hitl.launch(url, executor=executor)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


def idle(url: str) -> None:
    """Only a Scheduler on the database, with nothing due: its CPU over IDLE_SECONDS."""
    from hitl_notebook._db.database import Database  # noqa: PLC0415
    from hitl_notebook._runtime.schedule import Channels, Scheduler  # noqa: PLC0415

    class Nowhere:
        name = "bench"

        def send(self, notification: Any) -> str | None:
            raise AssertionError("nothing is due while idle")

    database = Database(url)
    scheduler = Scheduler(database, "bench-idle", channels=lambda: Channels({"bench": Nowhere()}))
    scheduler.tick()  # connections and statements ready before measuring
    scheduler.start()
    print(json.dumps({"idle_cpu_pct": idle_cpu_pct(IDLE_SECONDS)}), flush=True)
    scheduler.stop()
    os._exit(0)


# -- the parent ----------------------------------------------------------------------------------


def count_rows(url: str, *, pending: bool) -> int:
    import sqlalchemy as sa  # noqa: PLC0415

    from hitl_notebook._db.database import Database, schedule  # noqa: PLC0415

    database = _databases.get(url) or _databases.setdefault(url, Database(url))
    query = sa.select(sa.func.count()).select_from(schedule)
    if pending:
        query = query.where(schedule.c.done_ms.is_(None))
    with database.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


_databases: dict[str, Any] = {}


def make_due(url: str, *, after_s: float) -> None:
    """Every scheduled send due ``after_s`` from now, in one statement."""
    from hitl_notebook._db.database import Database, schedule  # noqa: PLC0415

    database = _databases.get(url) or _databases.setdefault(url, Database(url))
    with database.engine.begin() as conn:
        conn.execute(schedule.update().values(due_ms=int((time.time() + after_s) * 1000)))


def wait_until(condition: Any, what: str, timeout: float = WAIT_TIMEOUT_S) -> None:
    give_up = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > give_up:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


def child(phase: str, url: str, *extra: str) -> list[str]:
    return [sys.executable, __file__, "--phase", phase, "--db", url, *extra]


def cpu_seconds(pid: int) -> float:
    """A process's CPU time (user + system) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(url: str, n: int, work: Path) -> tuple[Result, list[float]]:
    built = subprocess.run(
        child("build", url, "--n", str(n)), stdout=subprocess.PIPE, text=True, check=False
    )
    if built.returncode != 0:
        raise RuntimeError(f"building {n} sends on {url} failed:\n{built.stdout}")
    rows = int(json.loads(built.stdout.splitlines()[-1])["rows"])
    make_due(url, after_s=86_400.0)  # the notifies too: nothing is due until the burst
    outs = [work / f"claimer-{i}.txt" for i in range(CLAIMERS)]
    claimers = [
        subprocess.Popen(
            child("claim", url, "--out", str(out), "--executor", f"claimer-{i}"),
            stdout=subprocess.PIPE,
            text=True,
        )
        for i, out in enumerate(outs)
    ]
    try:
        for process in claimers:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a claimer exited with {process.wait()}")
        # Idle: nothing due; the bare scheduler's CPU, and each whole claimer's over the same time.
        time.sleep(SETTLE_S)
        before = [cpu_seconds(p.pid) for p in claimers]
        started = time.monotonic()
        bare = subprocess.run(child("idle", url), stdout=subprocess.PIPE, text=True, check=True)
        wall = time.monotonic() - started
        claimer_idle = [
            round(100 * (cpu_seconds(p.pid) - b) / wall, 2)
            for p, b in zip(claimers, before, strict=True)
        ]
        idle_pct = float(json.loads(bare.stdout.splitlines()[-1])["idle_cpu_pct"])
        if count_rows(url, pending=True) != rows:
            raise RuntimeError("a send fired while nothing was due")

        make_due(url, after_s=0.0)
        started = time.monotonic()
        wait_until(lambda: count_rows(url, pending=True) == 0, "every send fired")
        fired_s = time.monotonic() - started
    finally:
        for process in claimers:
            process.kill()
            process.wait()
    keys = [key for out in outs if out.exists() for key in out.read_text().split()]
    if len(set(keys)) != rows:
        raise RuntimeError(f"{len(set(keys))} distinct keys delivered, {rows} scheduled")
    result: Result = {
        "fired_s": round(fired_s, 2),
        "duplicates": len(keys) - len(set(keys)),
        "idle_cpu_pct": idle_pct,
    }
    return result, claimer_idle


def parent_main(n: int) -> None:
    load = os.getloadavg()[:2]
    results: dict[str, Result] = {}
    extras: dict[str, list[float]] = {}
    work = Path(tempfile.mkdtemp(prefix="hitl-bench-schedule-"))
    try:
        for backend in ("sqlite", "postgres"):
            folder = work / backend
            folder.mkdir()
            if backend == "sqlite":
                url = f"sqlite:///{folder / 'hitl.sqlite'}"
            else:
                recreate_postgres_database(PG_DATABASE)
                url = f"{PG_SERVER}/{PG_DATABASE}"
            print(f"{backend}: {n} sends due at once, {CLAIMERS} processes...", flush=True)
            results[backend], extras[backend] = measure(url, n, folder)
            for database in _databases.values():
                database.close()
            _databases.clear()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    header = f"{'':<10} {'sends':>7} {'fired s':>8} {'per s':>7} {'dupes':>6} {'idle CPU %':>11}"
    header += f"  {'claimers idle CPU %':>20}"
    print(f"\nThe schedule: {n} sends due at once, {CLAIMERS} processes claiming")
    print(f"(load average {load[0]:.2f} / {load[1]:.2f}; idle goal <= {IDLE_CPU_GOAL_PCT:g} %)")
    print(header)
    print("-" * len(header))
    for backend, result in results.items():
        rate = n / result["fired_s"] if result["fired_s"] else 0.0
        claimers = " / ".join(f"{pct:.2f}" for pct in extras[backend])
        met = "met" if result["idle_cpu_pct"] <= IDLE_CPU_GOAL_PCT else "MISSED"
        print(
            f"{backend:<10} {n:>7} {result['fired_s']:>8.2f} {rate:>7.0f} "
            f"{result['duplicates']:>6} {result['idle_cpu_pct']:>11.2f}  {claimers:>20}  {met}"
        )
    print(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="scheduled sends")
    parser.add_argument("--phase", choices=["build", "claim", "idle"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--executor", help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = args.n - args.n % ROWS_PER_REQUEST
    if n <= 0:
        parser.error(f"--n must be at least {ROWS_PER_REQUEST}")
    if args.phase == "build":
        build(args.db, n)
    elif args.phase == "claim":
        claim(args.db, args.out, args.executor)
    elif args.phase == "idle":
        idle(args.db)
    else:
        parent_main(n)


if __name__ == "__main__":
    main()
