"""The durable schedule on SQLite and Postgres: notify, remind, escalate, deadline, retries, leases.

The channel is a recording ``Notifier`` in this process (the channels themselves are tested
elsewhere): the point is what the schedule fires, when, how often, and what the history says. The
runtime is launched with ``schedule_every=None``, so nothing fires unless the test calls
``scheduler.tick(at_ms=...)``, which plays the clock forward. The multi-process tests play kernels
with ``tests/processes/runner.py`` and ``tests/processes/schedule_agents.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import hitl_notebook as hitl
from hitl_notebook import Runtime, testing
from hitl_notebook._core.times import now_ms, to_ms
from hitl_notebook._db.database import schedule
from hitl_notebook._runtime.schedule import MAX_ATTEMPTS, Channels, Scheduler, configure
from tests.kernels import Kernels, wait_until_waiting

SCHEDULE_AGENTS = Path(__file__).parent / "processes" / "schedule_agents.py"
MINUTE = 60_000
HOUR = 60 * MINUTE


class Recorder:
    """A channel that keeps what it is handed; it can fail some sends first, or every send."""

    def __init__(
        self,
        name: str = "memo",
        *,
        failures: Sequence[Exception] = (),
        always: Exception | None = None,
    ) -> None:
        self.name = name
        self.failures = list(failures)
        self.always = always
        self.attempts: list[hitl.Notification] = []
        self.sent: list[hitl.Notification] = []

    def send(self, notification: hitl.Notification) -> str | None:
        self.attempts.append(notification)
        if self.always is not None:
            raise self.always
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(notification)
        return f"receipt of {notification.key}"

    def events(self) -> list[tuple[str, tuple[str, ...]]]:
        return [(n.event, n.recipients) for n in self.sent]


class Asking(hitl.Agent):
    """One approval assigned to alice, told through ``channels`` as the arguments say."""

    def run(
        self,
        channels: list[str],
        remind_every: float | None = None,
        max_reminders: int = 3,
        escalate: list[tuple[float, list[str]]] | None = None,
    ) -> dict[str, Any]:
        decision = self.request_approval(
            "Ship it?",
            assignees=["alice"],
            notify=hitl.Notify(
                channels=channels,
                remind_every=remind_every,
                max_reminders=max_reminders,
                escalate=[(after, to) for after, to in escalate or []],
            ),
        )
        return {"outcome": decision.outcome.value, "approved": decision.approved, "by": decision.by}


@pytest.fixture
def manual(db_url: str) -> Iterator[Runtime]:
    """The runtime, firing the schedule only when the test ticks it."""
    with testing.launched(db_url, executor="pytest", schedule_every=None) as launched:
        yield launched


@pytest.fixture
def memo() -> Iterator[Recorder]:
    """This process's one channel, ``memo``."""
    recorder = Recorder()
    configure([recorder])
    yield recorder
    configure([])


def scheduler(runtime: Runtime) -> Scheduler:
    assert runtime.scheduler is not None
    return runtime.scheduler


def opened(run: hitl.RunHandle) -> tuple[str, int]:
    """The run's request id and when it was opened (epoch ms), once it waits."""
    request = testing.wait_for_request(run)
    return request.request_id, to_ms(request.requested_at)


def rows(runtime: Runtime, request_id: str) -> dict[str, sa.Row[Any]]:
    """The request's schedule rows by ``<action>:<n>@<channel>``."""
    with runtime.database.engine.connect() as conn:
        found = conn.execute(sa.select(schedule).where(schedule.c.request_id == request_id)).all()
    return {f"{r.key.split(':', 1)[1]}@{r.channel}": r for r in found}


def lines(run_id: str, *statuses: str) -> list[tuple[str, str]]:
    """The run's history lines (status, detail) with one of ``statuses``."""
    frame = hitl.history(run_id)
    return [
        (str(status), str(detail))
        for status, detail in zip(frame["status"], frame["detail"], strict=True)
        if status in statuses
    ]


SENT = ("notified", "reminded", "not notified", "escalated", "timed out")


def test_notified_when_opened_then_reminded_every_interval_up_to_the_maximum(
    manual: Runtime, memo: Recorder
) -> None:
    """notify at once; a reminder per interval, no more than max_reminders; each in the history."""
    run = Asking.start(["memo"], remind_every=60, max_reminders=2)
    request_id, t0 = opened(run)
    ticks = scheduler(manual).tick

    assert ticks(at_ms=t0) == 1
    (first,) = memo.sent
    assert (first.key, first.event, first.recipients) == (
        f"{request_id}:notify:1",
        "requested",
        ("alice",),
    )
    assert (first.request.title, first.attempt, first.receipt) == ("Ship it?", 1, None)
    assert ticks(at_ms=t0 + MINUTE - 1) == 0
    assert ticks(at_ms=t0 + MINUTE) == 1
    assert ticks(at_ms=t0 + HOUR) == 1
    assert ticks(at_ms=t0 + 100 * HOUR) == 0  # max_reminders=2: no third

    assert [n.key for n in memo.sent[1:]] == [f"{request_id}:remind:1", f"{request_id}:remind:2"]
    assert {n.receipt for n in memo.sent[1:]} == {f"receipt of {request_id}:notify:1"}
    assert lines(run.id, *SENT) == [
        ("notified", "memo: requested to alice"),
        ("reminded", "memo: reminder 1 to alice"),
        ("reminded", "memo: reminder 2 to alice"),
    ]
    run.approve(by="alice")
    assert run.result(timeout=30)["outcome"] == "approved"


def test_a_decision_closes_pending_rows_and_sends_decided_with_the_first_receipt(
    manual: Runtime, memo: Recorder
) -> None:
    """After the answer, no reminder and no escalation; one ``decided`` per channel told."""
    run = Asking.start(["memo"], remind_every=60, max_reminders=3, escalate=[(150, ["lead"])])
    request_id, t0 = opened(run)
    ticks = scheduler(manual).tick
    assert ticks(at_ms=t0) == 1
    assert ticks(at_ms=t0 + MINUTE) == 1

    hitl.respond(request_id, approve=True, by="alice")
    pending = rows(manual, request_id)
    assert {key: r.result for key, r in pending.items()} == {
        "notify:1@memo": "sent",
        "remind:1@memo": "sent",
        "remind:2@memo": "cancelled",
        "remind:3@memo": "cancelled",
        "escalate:1@": "cancelled",
        "decided:1@memo": None,
    }
    assert ticks(at_ms=t0 + 100 * HOUR) == 1
    assert ticks(at_ms=t0 + 100 * HOUR) == 0

    assert [n.event for n in memo.sent] == ["requested", "reminder", "decided"]
    decided = memo.sent[-1]
    assert (decided.key, decided.receipt) == (
        f"{request_id}:decided:1",
        f"receipt of {request_id}:notify:1",
    )
    assert decided.request.decision is not None
    assert decided.request.decision.by == "alice"
    assert run.result(timeout=30) == {"outcome": "approved", "approved": True, "by": "alice"}
    assert lines(run.id, *SENT) == [
        ("notified", "memo: requested to alice"),
        ("reminded", "memo: reminder 1 to alice"),
        ("notified", "memo: decided to alice"),
    ]
    assert rows(manual, request_id)["escalate:1@"].result == "cancelled"
    assert hitl.store().request(request_id).assignees == ["alice"]


def test_a_request_decided_before_its_first_message_sends_nothing(
    manual: Runtime, memo: Recorder
) -> None:
    """Nobody is told that a request they never heard of was decided."""
    run = Asking.start(["memo"], remind_every=60)
    request_id, t0 = opened(run)
    hitl.respond(request_id, approve=False, by="alice")
    assert scheduler(manual).tick(at_ms=t0 + 100 * HOUR) == 0
    assert memo.sent == []
    assert {r.result for r in rows(manual, request_id).values()} == {"cancelled"}
    assert run.result(timeout=30)["approved"] is False


def test_escalation_adds_the_assignees_exactly_once_and_tells_them(
    manual: Runtime, memo: Recorder
) -> None:
    """Before the escalation lead may not answer; two processes fire it at once: it happens once,
    lead is assigned once and told once; then lead's answer is accepted."""
    run = Asking.start(["memo"], escalate=[(300, ["lead", "alice"])])
    request_id, t0 = opened(run)
    assert scheduler(manual).tick(at_ms=t0) == 1
    with pytest.raises(hitl.NotAllowedError, match="'lead' may not answer"):
        hitl.respond(request_id, approve=True, by="lead")

    processes = [Scheduler(manual.database, f"process-{i}") for i in range(3)]
    start = threading.Barrier(len(processes))

    def fire(process: Scheduler) -> None:
        start.wait()
        while process.tick(at_ms=t0 + 300_000):
            pass

    threads = [threading.Thread(target=fire, args=(p,)) for p in processes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert scheduler(manual).tick(at_ms=t0 + 100 * HOUR) == 0

    assert hitl.store().request(request_id).assignees == ["alice", "lead"]
    assert memo.events() == [("requested", ("alice",)), ("escalated", ("lead", "alice"))]
    assert memo.sent[-1].key == f"{request_id}:escalated:1"
    assert lines(run.id, *SENT) == [
        ("notified", "memo: requested to alice"),
        ("escalated", "Ship it?: escalated to lead, alice"),
        ("notified", "memo: escalated to lead, alice"),
    ]
    hitl.respond(request_id, approve=True, by="lead")
    assert run.result(timeout=30) == {"outcome": "approved", "approved": True, "by": "lead"}


def test_a_channel_that_asks_to_retry_later_is_tried_again_with_backoff(manual: Runtime) -> None:
    """RetryLater (or any exception) puts the send back, due 2 s then 10 s later; the third try
    delivers, with the same key; one line in the history."""
    memo = Recorder(failures=[hitl.RetryLater("busy"), TimeoutError("slow")])
    configure([memo])
    try:
        run = Asking.start(["memo"])
        request_id, t0 = opened(run)
        ticks = scheduler(manual).tick
        dues = [t0]
        for backoff_ms in (2_000, 10_000):
            before = now_ms()
            assert ticks(at_ms=dues[-1]) == 1
            after = now_ms()
            row = rows(manual, request_id)["notify:1@memo"]
            assert before + backoff_ms <= row.due_ms <= after + backoff_ms
            assert (row.done_ms, row.lease_owner) == (None, None)
            assert ticks(at_ms=row.due_ms - 1) == 0
            dues.append(row.due_ms)
        assert row.error == "TimeoutError: slow"
        assert ticks(at_ms=dues[-1]) == 1

        assert [(n.key, n.attempt) for n in memo.attempts] == [
            (f"{request_id}:notify:1", 1),
            (f"{request_id}:notify:1", 2),
            (f"{request_id}:notify:1", 3),
        ]
        assert len(memo.sent) == 1
        assert rows(manual, request_id)["notify:1@memo"].result == "sent"
        assert lines(run.id, *SENT) == [("notified", "memo: requested to alice")]
    finally:
        configure([])


def test_a_channel_that_always_fails_ends_in_not_notified(manual: Runtime) -> None:
    """After MAX_ATTEMPTS the send is given up and the history says so; the run is unharmed."""
    memo = Recorder(always=hitl.RetryLater("the server is down"))
    configure([memo])
    try:
        run = Asking.start(["memo"])
        request_id, t0 = opened(run)
        due = t0
        for _ in range(MAX_ATTEMPTS):
            assert scheduler(manual).tick(at_ms=due) == 1
            due = rows(manual, request_id)["notify:1@memo"].due_ms
        row = rows(manual, request_id)["notify:1@memo"]
        assert (row.result, row.attempts) == ("failed", MAX_ATTEMPTS)
        assert scheduler(manual).tick(at_ms=t0 + 100 * HOUR) == 0
        assert len(memo.attempts) == MAX_ATTEMPTS
        assert lines(run.id, *SENT) == [
            (
                "not notified",
                f"memo: gave up after {MAX_ATTEMPTS} tries: RetryLater: the server is down",
            )
        ]
        run.approve(by="alice")
        assert run.result(timeout=30)["outcome"] == "approved"
    finally:
        configure([])


def test_a_channel_that_will_never_deliver_is_given_up_at_once(manual: Runtime) -> None:
    """DeliveryFailed (a bad address, a 4xx) is not tried again."""
    memo = Recorder(always=hitl.DeliveryFailed("no such address"))
    configure([memo])
    try:
        run = Asking.start(["memo"])
        request_id, t0 = opened(run)
        assert scheduler(manual).tick(at_ms=t0) == 1
        assert scheduler(manual).tick(at_ms=t0 + 100 * HOUR) == 0
        assert len(memo.attempts) == 1
        assert rows(manual, request_id)["notify:1@memo"].result == "failed"
        assert lines(run.id, *SENT) == [
            ("not notified", "memo: gave up after 1 tries: no such address")
        ]
    finally:
        configure([])


def test_rows_of_a_channel_a_process_lacks_are_left_for_a_process_that_has_it(
    manual: Runtime, memo: Recorder
) -> None:
    """This process has only ``memo``: a ``pager`` send stays unclaimed until a process with a
    ``pager`` channel looks."""
    run = Asking.start(["pager"])
    request_id, t0 = opened(run)
    assert scheduler(manual).tick(at_ms=t0 + HOUR) == 0
    row = rows(manual, request_id)["notify:1@pager"]
    assert (row.done_ms, row.lease_owner, row.attempts) == (None, None, 0)

    pager = Recorder("pager")
    other = Scheduler(manual.database, "pager-process", channels=lambda: Channels({"pager": pager}))
    assert other.tick(at_ms=t0) == 1
    assert memo.sent == []
    assert pager.events() == [("requested", ("alice",))]
    assert lines(run.id, *SENT) == [("notified", "pager: requested to alice")]


def test_a_look_with_nothing_due_claims_nothing(manual: Runtime, memo: Recorder) -> None:
    """Rows due later are not touched: no lease, no attempt counted."""
    run = Asking.start(["memo"], remind_every=60)
    request_id, t0 = opened(run)
    assert scheduler(manual).tick(at_ms=t0) == 1
    assert scheduler(manual).tick(at_ms=t0 + 1000) == 0
    reminders = [r for key, r in rows(manual, request_id).items() if key.startswith("remind")]
    assert {(r.lease_owner, r.attempts) for r in reminders} == {(None, 0)}


# -- across processes ---------------------------------------------------------------------------


@pytest.mark.slow
def test_the_deadline_applies_from_another_process_while_the_runs_own_is_down(
    kernels: Kernels, manual: Runtime, memo: Recorder, db_url: str
) -> None:
    """The kernel that started the run is killed; this process, which has none of its code,
    decides the request at its deadline with its default, tells alice, and records it; the
    restarted kernel's run resumes with that timeout."""
    kernels.agents = SCHEDULE_AGENTS
    first, (run_id,) = kernels.launch(
        "kernel-a", "start", "1", "--agent", "Deadlined", "--timeout", "5", "--on-timeout", "reject"
    )
    store = hitl.connect(db_url)
    wait_until_waiting(store, [run_id])
    (request,) = store.requests(run_id, open_only=True)
    kernels.kill(first)
    assert request.deadline is not None
    deadline = to_ms(request.deadline)
    assert scheduler(manual).tick(at_ms=deadline - 1) == 1  # the notify only
    testing.wait_until(lambda: now_ms() > deadline, timeout=30)
    assert scheduler(manual).tick() == 1  # the deadline
    assert scheduler(manual).tick() == 1  # its timed_out message

    decision = store.request(request.request_id).decision
    assert decision is not None
    assert (decision.timed_out, decision.approved, decision.by, decision.channel) == (
        True,
        False,
        None,
        "timeout",
    )
    assert memo.events() == [("requested", ("alice",)), ("timed_out", ("alice",))]
    assert memo.sent[-1].receipt == f"receipt of {request.request_id}:notify:1"
    assert lines(run_id, *SENT) == [
        ("notified", "memo: requested to alice"),
        ("timed out", "Go ahead?: the deadline passed; its default applies"),
        ("notified", "memo: timed_out to alice"),
    ]

    restarted, _ = kernels.launch("kernel-a", "serve")
    result = store.result(run_id, timeout=60)
    assert (result["outcome"], result["approved"], result["by"], result["pid"]) == (
        "timed_out",
        False,
        None,
        restarted.pid,
    )


@pytest.mark.slow
def test_a_row_claimed_by_a_process_that_dies_is_fired_after_its_lease(
    kernels: Kernels, manual: Runtime, memo: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process claims the notify and dies in the send; the row is nobody's once its lease
    ends, then another process claims it and delivers it (attempt 2, the same key)."""
    kernels.agents = SCHEDULE_AGENTS
    monkeypatch.setenv("HITL_TEST_CHANNEL", "die")
    dying, _ = kernels.launch("kernel-a", "--schedule-every", "0.2", "serve")
    run = Asking.start(["memo"])
    request_id, _ = opened(run)
    assert dying.wait(timeout=60) == -9
    row = rows(manual, request_id)["notify:1@memo"]
    assert (row.done_ms, row.attempts) == (None, 1)
    assert row.lease_owner not in (None, manual.executor_id)

    assert scheduler(manual).tick() == 0  # still leased
    assert scheduler(manual).tick(at_ms=row.lease_until_ms - 1) == 0
    assert scheduler(manual).tick(at_ms=row.lease_until_ms + 1) == 1
    (sent,) = memo.sent
    assert (sent.key, sent.attempt) == (f"{request_id}:notify:1", 2)
    assert rows(manual, request_id)["notify:1@memo"].lease_owner == manual.executor_id
    assert lines(run.id, *SENT) == [("notified", "memo: requested to alice")]
