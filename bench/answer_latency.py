"""Answer latency on the hot path and idle CPU of hitl_notebook agents, against raw DBOS.

What is measured
----------------
*Answer latency on the hot path*: the time from an answer being sent until the agent's code after
the wait runs, while the run waits hot (answers come well within ``park_after``, so the run never
parks; the parked path is measured by ``waiting.py``). The answer carries its send time
(``time.time()`` taken just before the answer call) and the agent computes ``time.time() -
sent_at`` right after its wait returns, with no step in between. So the latency includes
everything the answer path costs: for the SDK, ``hitl.respond`` (look up the request, check the
run, one transaction that decides it and wakes the run), the poller's wake-up and the run's look;
for raw DBOS, ``DBOS.send`` and ``DBOS.recv``'s wake-up.

One agent asks ``n`` questions in a row. The answerer (the main thread of the agents' process)
waits until question ``i`` is open, sleeps a random delay, then answers it. The random delay puts
answers at a random phase of SQLite's polling cycle, so polling is sampled fairly
(``_rows.answer_delay``): it is uniform over 0.05..0.5 s, widened to 0.05..(0.05 + poll interval)
when the poll interval is longer than 0.45 s (raw DBOS on SQLite polls every 1.0 s by default; a
shorter delay would land every answer in the same part of the cycle, since the agent wakes up on
a poll tick).

*Idle CPU*: the CPU time (user + system, all threads, from ``os.times()``) used by the process
hosting the agents over ~5 s of wall time while 20 agents wait and nobody answers, in % of one core.

Six phases, each in its own child process because DBOS is a process-wide singleton:

- ``sdk_hot_path_sqlite`` / ``sdk_hot_path_postgres``: the SDK (a sync agent calling
  ``self.request_text``; its poller looks every 50 ms on SQLite, listens on Postgres); the SDK
  phase also measures an async agent (``await self.request_text_async``, half as many answers),
  shown as an extra row that is not in the JSON;
- ``dbos_default_sqlite`` / ``dbos_default_postgres``: a plain ``@DBOS.workflow()`` looping
  ``DBOS.set_event("ready", i)`` then ``DBOS.recv("t", timeout_seconds=60)``, answered with
  ``DBOS.send``, with DBOS's default config (``notification_listener_polling_interval_sec`` 1.0 s);
- ``dbos_poll_50ms_sqlite`` / ``dbos_poll_50ms_postgres``: the same workflow with
  ``notification_listener_polling_interval_sec`` 0.05 s, the SDK's own poll interval on SQLite:
  like with like. (Postgres wakes ``recv`` through LISTEN/NOTIFY either way.)

Every run starts from fresh databases: SQLite files in a new temporary directory, and the Postgres
databases ``hitl_bench_sdk`` / ``hitl_bench_raw`` / ``hitl_bench_raw_50ms`` on 127.0.0.1:5432
(user postgres), dropped and created again.

Run it from the repository root::

    python bench/answer_latency.py            # 60 answers per phase, about 4 minutes
    python bench/answer_latency.py --n 50
    python bench/answer_latency.py --quick    # 20 answers per phase, a smoke run

The machine's load average is printed too: other processes competing for the CPU inflate every
latency here. It prints a table with the SDK's ratios against both raw DBOS configurations, then
as its last line one JSON object: ``{"sdk_hot_path_sqlite": {"p50_ms", "p90_ms", "idle_cpu_pct"},
"sdk_hot_path_postgres": {...}, "dbos_default_sqlite": {...}, "dbos_default_postgres": {...},
"dbos_poll_50ms_sqlite": {...}, "dbos_poll_50ms_postgres": {...}}``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict, cast

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

PG_DATABASES = {"sdk": "hitl_bench_sdk", "raw": "hitl_bench_raw", "raw_50ms": "hitl_bench_raw_50ms"}

DEFAULT_N = 60
QUICK_N = 20
IDLE_AGENTS = 20
IDLE_SECONDS = 5.0
READY_POLL_S = 0.005
FAST_POLL_S = 0.05
"""The raw DBOS phase beside the default: the SDK's own poll interval on SQLite."""
WAIT_TIMEOUT_S = 90.0
"""Longer than DBOS's 60 s re-check, so a lost wake-up shows as a ~60 s latency, not a crash."""
CHILD_TIMEOUT_S = 600

GOALS_P50_MS = {"postgres": 10.0, "sqlite": 60.0}
PHASES: dict[str, tuple[str, str]] = {
    # JSON key: (child phase, backend)
    "sdk_hot_path_sqlite": ("sdk", "sqlite"),
    "sdk_hot_path_postgres": ("sdk", "postgres"),
    "dbos_default_sqlite": ("raw", "sqlite"),
    "dbos_default_postgres": ("raw", "postgres"),
    "dbos_poll_50ms_sqlite": ("raw_50ms", "sqlite"),
    "dbos_poll_50ms_postgres": ("raw_50ms", "postgres"),
}
RAW_POLL_S = {"raw": DBOS_DEFAULT_POLL_S, "raw_50ms": FAST_POLL_S}


class Latency(TypedDict):
    n: int
    p50_ms: float
    p90_ms: float
    max_ms: float
    answer_call_p50_ms: float


class PhaseResult(TypedDict, total=False):
    latency: Latency
    async_latency: Latency
    idle_cpu_pct: float
    seconds: float


# -- shared helpers ----------------------------------------------------------------------------


def summarize(latencies_s: list[float], answer_calls_s: list[float]) -> Latency:
    """p50 / p90 / max of the latencies, and p50 of the answer calls' own duration, in ms."""
    ms = sorted(x * 1000 for x in latencies_s)
    deciles = statistics.quantiles(ms, n=10, method="inclusive")
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p90_ms": round(deciles[8], 1),
        "max_ms": round(ms[-1], 1),
        "answer_call_p50_ms": round(1000 * statistics.median(answer_calls_s), 1),
    }


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_TIMEOUT_S) -> None:
    """Poll ``condition`` every few ms until it holds."""
    give_up = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > give_up:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(READY_POLL_S)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


# -- child: the SDK ----------------------------------------------------------------------------


def run_sdk_phase(url: str, n: int) -> PhaseResult:
    """Latency of a sync and an async agent, then idle CPU with IDLE_AGENTS agents waiting."""
    # Each phase imports only what it measures (raw DBOS must not register the SDK's workflow).
    import hitl_notebook as hitl  # noqa: PLC0415
    from hitl_notebook._runtime.launch import SQLITE_POLL_S  # noqa: PLC0415

    poll_s = SQLITE_POLL_S if is_sqlite(url) else 0.0

    class LatencyAgent(hitl.Agent):
        def run(self, n: int) -> list[float]:
            lat = []
            for i in range(n):
                decision = self.request_text(f"question {i}", key=f"q{i}")
                lat.append(time.time() - float(decision.value))
            return lat

    class AsyncLatencyAgent(hitl.Agent):
        async def run(self, n: int) -> list[float]:
            lat = []
            for i in range(n):
                decision = await self.request_text_async(f"question {i}", key=f"q{i}")
                lat.append(time.time() - float(decision.value))
            return lat

    class IdleAgent(hitl.Agent):
        def run(self) -> str:
            return str(self.request_text("nobody answers this", key="idle").value)

    def is_open(run: hitl.RunHandle, request_id: str) -> bool:
        return any(r.request_id == request_id for r in run.requests(open_only=True))

    def wait_open(run: hitl.RunHandle, request_id: str) -> None:
        try:
            wait_until(functools.partial(is_open, run, request_id), f"request {request_id} open")
        except TimeoutError as error:
            seen = [(r.request_id, r.is_open) for r in run.requests()]
            raise RuntimeError(
                f"{error}; run state {run.state}, status {run.status}, requests {seen}"
            ) from error

    def measure(agent: type[hitl.Agent], answers: int) -> Latency:
        run = agent.start(answers)
        hitl.store().run_state(run.id)  # creates the store's DBOS client before the first answer
        calls = []
        for i in range(answers):
            request_id = f"{run.id}.q{i}"
            wait_open(run, request_id)
            time.sleep(answer_delay(poll_s))
            sent_at = time.time()
            hitl.respond(request_id, text=repr(sent_at), by="bench")
            calls.append(time.time() - sent_at)
        return summarize(run.result(timeout=60), calls)

    hitl.launch(url, executor="bench")
    result: PhaseResult = {"latency": measure(LatencyAgent, n)}
    result["async_latency"] = measure(AsyncLatencyAgent, max(QUICK_N // 2, n // 2))
    idle = [IdleAgent.start() for _ in range(IDLE_AGENTS)]
    for run in idle:
        wait_open(run, f"{run.id}.idle")
    time.sleep(0.5)  # let the last agents get from storing their request into DBOS's wait
    result["idle_cpu_pct"] = idle_cpu_pct(IDLE_SECONDS)
    return result


# -- child: raw DBOS with its default config ---------------------------------------------------


def run_raw_phase(url: str, n: int, listener_poll_s: float) -> PhaseResult:
    """The same measurements on a plain DBOS workflow (set_event + recv), answered with send;
    DBOS polls for messages every ``listener_poll_s`` on SQLite."""
    from dbos import DBOS, DBOSConfig  # noqa: PLC0415 - see run_sdk_phase

    poll_s = listener_poll_s if is_sqlite(url) else 0.0
    config: DBOSConfig = {
        "name": "hitl-bench-raw",
        "system_database_url": url,
        "log_level": "WARNING",
    }
    if listener_poll_s != DBOS_DEFAULT_POLL_S:
        config["notification_listener_polling_interval_sec"] = listener_poll_s
    DBOS(config=config)

    @DBOS.workflow()
    def receiver(n: int) -> list[float]:
        lat = []
        for i in range(n):
            DBOS.set_event("ready", i)
            msg = DBOS.recv("t", timeout_seconds=60)
            lat.append(time.time() - msg["sent_at"])
        return lat

    @DBOS.workflow()
    def idle_waiter() -> None:
        DBOS.set_event("ready", 0)
        DBOS.recv("t", timeout_seconds=60)

    def is_ready(workflow_id: str, i: int) -> bool:
        return bool(DBOS.get_event(workflow_id, "ready", timeout_seconds=0) == i)

    DBOS.launch()
    handle = DBOS.start_workflow(receiver, n)
    calls = []
    for i in range(n):
        wait_until(functools.partial(is_ready, handle.workflow_id, i), f"ready == {i}")
        time.sleep(answer_delay(poll_s))
        sent_at = time.time()
        DBOS.send(handle.workflow_id, {"sent_at": sent_at}, topic="t")
        calls.append(time.time() - sent_at)
    result: PhaseResult = {"latency": summarize(handle.get_result(), calls)}

    idle = [DBOS.start_workflow(idle_waiter) for _ in range(IDLE_AGENTS)]
    for waiter in idle:
        wait_until(functools.partial(is_ready, waiter.workflow_id, 0), "idle waiter ready")
    time.sleep(0.5)
    result["idle_cpu_pct"] = idle_cpu_pct(IDLE_SECONDS)
    return result


def child_main(phase: str, url: str, n: int) -> None:
    started = time.monotonic()
    result = run_sdk_phase(url, n) if phase == "sdk" else run_raw_phase(url, n, RAW_POLL_S[phase])
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result), flush=True)
    sys.stderr.flush()
    os._exit(0)  # DBOS's worker threads (and the waiting idle agents) would otherwise delay exit


# -- parent: fresh databases, one child per phase, the table ---------------------------------


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


WIDTHS = (4, 9, 9, 9, 11, 11)


def table_row(label: str, cells: tuple[str, ...], note: str = "") -> str:
    body = " ".join(f"{cell:>{width}}" for cell, width in zip(cells, WIDTHS, strict=True))
    return f"{label:<38} {body}  {note}".rstrip()


COLUMNS = table_row("", ("n", "p50 ms", "p90 ms", "max ms", "call p50", "idle CPU %"), "goal")


RAW_LABELS = {
    "dbos_default": "raw DBOS default (1 s poll)",
    "dbos_poll_50ms": "raw DBOS 50 ms poll",
}


def print_table(results: dict[str, PhaseResult], load: tuple[float, float]) -> None:
    print("\nAnswer latency on the hot path: answer sent -> agent code after the wait runs")
    print(COLUMNS)
    print("-" * len(COLUMNS))

    def latency_row(label: str, lat: Latency, cpu: float | None, note: str = "") -> None:
        shown_cpu = f"{cpu:.2f}" if cpu is not None else ""
        cells = (str(lat["n"]), f"{lat['p50_ms']:.1f}", f"{lat['p90_ms']:.1f}")
        call = f"{lat['answer_call_p50_ms']:.1f}"
        print(table_row(label, (*cells, f"{lat['max_ms']:.1f}", call, shown_cpu), note))

    for backend in ("sqlite", "postgres"):
        sdk = results[f"sdk_hot_path_{backend}"]
        goal = GOALS_P50_MS[backend]
        met = "met" if sdk["latency"]["p50_ms"] <= goal else "MISSED"
        latency_row(
            f"SDK hot path, {backend}",
            sdk["latency"],
            sdk["idle_cpu_pct"],
            f"p50 <= {goal:g} ms: {met}",
        )
        latency_row(
            f"  SDK async agent, {backend}",
            sdk["async_latency"],
            None,
            "(extra row, not in the JSON)",
        )
        for raw_key, label in RAW_LABELS.items():
            raw = results[f"{raw_key}_{backend}"]
            latency_row(f"{label}, {backend}", raw["latency"], raw["idle_cpu_pct"])
            p50 = ratio(sdk["latency"]["p50_ms"], raw["latency"]["p50_ms"])
            p90 = ratio(sdk["latency"]["p90_ms"], raw["latency"]["p90_ms"])
            cpu = ratio(sdk["idle_cpu_pct"], raw["idle_cpu_pct"])
            call = ratio(sdk["latency"]["answer_call_p50_ms"], raw["latency"]["answer_call_p50_ms"])
            print(table_row("  SDK / this", ("", p50, p90, "", call, cpu)))
    print(
        f"\nIdle CPU: % of one core used by the agents' process over {IDLE_SECONDS:g} s while"
        f" {IDLE_AGENTS} agents wait and nobody answers.\ncall p50: how long the answer call"
        " itself takes (hitl.respond / DBOS.send), part of the latency."
        "\nHot path: the SDK's runs wait hot (answers come long before park_after)."
        f"\nAnswers are sent after a random"
        f" {MIN_DELAY_S:g}..{MIN_DELAY_S + DELAY_SPAN_S:g} s delay"
        f" ({MIN_DELAY_S:g}..{MIN_DELAY_S + DBOS_DEFAULT_POLL_S:g} s for raw DBOS default on"
        f" SQLite, to cover its {DBOS_DEFAULT_POLL_S:g} s poll cycle)."
    )
    seconds = ", ".join(f"{key} {r['seconds']:g} s" for key, r in results.items())
    print(f"Phase durations: {seconds}.")
    print(
        f"Load average (1 min) of the machine ({os.cpu_count()} CPUs):"
        f" {load[0]:.2f} at the start, {load[1]:.2f} at the end.\n"
    )


def parent_main(n: int) -> None:
    load_before = os.getloadavg()[0]
    for name in PG_DATABASES.values():
        recreate_postgres_database(name)
    folder = Path(tempfile.mkdtemp(prefix="hitl_bench_"))
    urls = {
        **{(phase, "sqlite"): f"sqlite:///{folder / f'{phase}.sqlite'}" for phase in PG_DATABASES},
        **{(phase, "postgres"): f"{PG_SERVER}/{name}" for phase, name in PG_DATABASES.items()},
    }
    results: dict[str, PhaseResult] = {}
    try:
        for key, (phase, backend) in PHASES.items():
            print(f"running {key} ({n} answers) ...", file=sys.stderr, flush=True)
            url = urls[phase, backend]
            results[key] = cast(
                "PhaseResult", run_child(__file__, phase, url, n, timeout=CHILD_TIMEOUT_S)
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print_table(results, (load_before, os.getloadavg()[0]))
    summary: dict[str, dict[str, Any]] = {
        key: {
            "p50_ms": r["latency"]["p50_ms"],
            "p90_ms": r["latency"]["p90_ms"],
            "idle_cpu_pct": r["idle_cpu_pct"],
        }
        for key, r in results.items()
    }
    print(json.dumps(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="answers per phase")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_N} answers")
    parser.add_argument("--phase", choices=["sdk", *RAW_POLL_S], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = QUICK_N if args.quick else args.n
    if n < 2:
        parser.error("--n must be at least 2 (percentiles need two answers)")
    if args.phase:
        child_main(args.phase, args.db, n)
    else:
        parent_main(n)


if __name__ == "__main__":
    main()
