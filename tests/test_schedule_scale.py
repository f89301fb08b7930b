"""The durable schedule at scale: 1,000 requests on a compressed clock, two processes claiming,
one of them SIGKILLed mid-run (SQLite and Postgres).

Each request: notify at once, reminders at +1 s and +2 s, an escalation to ``lead`` at +1.5 s (and
so an ``escalated`` message): 5,000 actions, 4,000 of them deliveries. Two child processes
(``tests/processes/runner.py``, channel ``memo`` appending ``<key> <event> <pid>`` to a file with
fsync) fire them; this process only asks (it fires nothing). Every action must be one line of the
history, every escalation must add ``lead`` once, and the receiver must see every notification at
least once; duplicates are detectable by their key (at most the one send in flight when the
process died).
"""

from __future__ import annotations

import collections
import statistics
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._db.database import requests, schedule, statuses
from tests.kernels import Kernels

# Two claimer processes busy for seconds: not alongside the other multi-process tests, whose
# timings (a worker's exit after SIGTERM) they would starve on a 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("processes")]

RUNS = 10
PER_RUN = 100
REQUESTS = RUNS * PER_RUN
NOTIFY = hitl.Notify(channels=["memo"], remind_every=1, max_reminders=2, escalate=[(1.5, ["lead"])])
SENDS = ("notify:1", "remind:1", "remind:2", "escalated:1")
"""The deliveries of each request."""
SCHEDULE_AGENTS = Path(__file__).parent / "processes" / "schedule_agents.py"
LEASE_S = 3
"""The claimers' lease: the killed one's rows are claimed again this soon."""


class Many(hitl.Agent):
    """Asks PER_RUN approvals at once, each told, reminded and escalated (NOTIFY)."""

    def run(self, n: int) -> int:
        questions = [
            hitl.Question.approval(f"Request {i}?", assignees=["alice"], key=f"q{i}", notify=NOTIFY)
            for i in range(n)
        ]
        return len(self.ask(*questions))


def test_a_thousand_requests_two_processes_one_killed_every_action_once(
    kernels: Kernels, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deliveries = tmp_path / "deliveries.txt"
    kernels.agents = SCHEDULE_AGENTS
    monkeypatch.setenv("HITL_TEST_CHANNEL", f"file:{deliveries}")
    monkeypatch.setenv("HITL_TEST_LEASE", str(LEASE_S))
    doomed, _ = kernels.launch("claimer-a", "--schedule-every", "0.2", "serve")
    kernels.launch("claimer-b", "--schedule-every", "0.2", "serve")

    def delivered() -> list[str]:
        return deliveries.read_text().splitlines() if deliveries.exists() else []

    with testing.launched(db_url, executor="asker", schedule_every=None) as asker:
        engine = asker.database.engine

        def count(query: sa.Select[tuple[int]]) -> int:
            with engine.connect() as conn:
                return int(conn.execute(query).scalar_one())

        started = time.monotonic()
        runs = [Many.start(PER_RUN) for _ in range(RUNS)]
        testing.wait_until(
            lambda: count(sa.select(sa.func.count()).select_from(requests)) == REQUESTS,
            timeout=120,
            message="1,000 requests open",
        )
        testing.wait_until(
            lambda: len(delivered()) >= 1_500, timeout=120, message="1,500 deliveries"
        )
        kernels.kill(doomed)
        killed_at = len(delivered())
        all_rows = sa.select(sa.func.count()).select_from(schedule)
        pending = all_rows.where(schedule.c.done_ms.is_(None))
        testing.wait_until(
            lambda: count(all_rows) == 5 * REQUESTS and count(pending) == 0,
            timeout=180,
            message="every action fired",
        )
        took = time.monotonic() - started

        with engine.connect() as conn:
            fired = conn.execute(
                sa.select(schedule.c.key, schedule.c.result, schedule.c.due_ms, schedule.c.done_ms)
            ).all()
            lines = conn.execute(
                sa.select(statuses.c.key, statuses.c.status).where(
                    statuses.c.status.in_(["notified", "reminded", "escalated", "not notified"])
                )
            ).all()
            assignees = conn.execute(sa.select(requests.c.assignees)).scalars().all()
        history = hitl.history()
    request_ids = [f"{run.id}.q{i}" for run in runs for i in range(PER_RUN)]

    # Every action done once, in the schedule and in the history.
    assert collections.Counter(r.result for r in fired) == {"sent": 4 * REQUESTS, "done": REQUESTS}
    expected_lines = {f"{rid}:{send}@memo" for rid in request_ids for send in SENDS} | {
        f"{rid}:escalate:1@escalate" for rid in request_ids
    }
    counted = collections.Counter(line.key for line in lines)
    assert set(counted) == expected_lines
    assert set(counted.values()) == {1}
    shown = collections.Counter(history["status"])
    assert (shown["notified"], shown["reminded"], shown["escalated"], shown["not notified"]) == (
        2 * REQUESTS,
        2 * REQUESTS,
        REQUESTS,
        0,
    )
    assert collections.Counter(tuple(a) for a in assignees) == {("alice", "lead"): REQUESTS}

    # The receiver saw each notification at least once; a duplicate shows by its key.
    received = collections.Counter(line.split()[0] for line in delivered())
    assert set(received) == {f"{rid}:{send}" for rid in request_ids for send in SENDS}
    duplicates = sum(received.values()) - len(received)
    assert duplicates <= 1  # only a send in flight when the process died

    late = sorted(r.done_ms - r.due_ms for r in fired)
    print(
        f"\n{db_url.split(':', maxsplit=1)[0]}: {len(fired)} actions in {took:.1f} s, killed after "
        f"{killed_at} deliveries, {duplicates} duplicate(s); lateness p50 "
        f"{statistics.median(late):.0f} ms, p99 {late[int(0.99 * len(late))]:.0f} ms"
    )
