"""Bulk answers keep the semantics of single answers, request by request, also across a SIGKILL
of the answering process; SQLite and Postgres."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._core.answers import Resolution, decision_for
from hitl_notebook._core.models import Outcome, Quorum, Sender
from hitl_notebook._core.times import now_ms
from hitl_notebook._db.database import answers, requests, statuses
from hitl_notebook._db.dbos_internals import workflow_status
from hitl_notebook._db.request_records import close_for_cancel, decide
from tests.waiting_rows import add_waiting, set_run_state


@pytest.fixture
def store(db_url: str) -> Iterator[hitl.Store]:
    """A store on a fresh database, with only its URL (no runtime launched)."""
    connected = hitl.connect(db_url)
    yield connected
    connected.database.close()


def _mix(store: hitl.Store) -> list[str]:
    """The targets of one bulk call that meets every outcome a single answer can have."""
    ok = add_waiting(store, 3)
    hot = add_waiting(store, 1, parked=False)
    text = add_waiting(store, 1, kind="text")
    other = add_waiting(store, 1)
    store.respond(other[0], approve=False, by="zoe")
    same = add_waiting(store, 1)
    store.respond(same[0], approve=True, by="bulk", comment="ok")
    late = add_waiting(store, 1, deadline_s=-5)
    timed_out = add_waiting(store, 1, deadline_s=-5)
    cancelled = add_waiting(store, 1)
    ended = add_waiting(store, 1)
    with store.database.engine.begin() as conn:
        deadline = Sender.deadline(now_ms())
        timeout = Resolution(Outcome.TIMED_OUT, None, None)
        decide(
            conn,
            decision_for(store.request(timed_out[0]), timeout, deadline),
            before_deadline=False,
        )
        close_for_cancel(conn, _run(cancelled[0]), by="x", channel="python", at_ms=now_ms())
    set_run_state(store, _run(ended[0]), "SUCCESS")
    assigned = add_waiting(store, 1, assignees=["ana"])
    quorum = add_waiting(store, 1, quorum=Quorum(2))
    by_run = add_waiting(store, 1)
    two = add_waiting(store, 1, requests_per_run=2)
    first_then_run = add_waiting(store, 1, requests_per_run=2)
    return [
        *ok,
        hot[0],
        text[0],
        other[0],
        same[0],
        late[0],
        timed_out[0],
        cancelled[0],
        ended[0],
        assigned[0],
        quorum[0],
        "no-such-id",
        "bad\x00id",
        _run(by_run[0]),
        ok[0],  # twice: answered once
        _run(ok[1]),  # the run of a request answered before: a retry
        _run(two[0]),  # two open requests: which one?
        first_then_run[0],
        _run(first_then_run[0]),  # its other request is the one left
    ]


def _run(request_id: str) -> str:
    return request_id.rsplit(".", 1)[0]


def _shape(outcome: hitl.Decision | hitl.AnswerError) -> tuple[Any, ...]:
    """What must be equal between a bulk and a single answer (ids and times aside)."""
    if isinstance(outcome, hitl.AnswerError):
        return (type(outcome).__name__,)
    return (outcome.outcome, outcome.approved, outcome.value, outcome.by, outcome.comment)


def _audit(store: hitl.Store, target: str) -> tuple[Any, ...]:
    """What the database holds about a target's request: its state, the answer log, the status
    lines of its run, the run's DBOS state."""
    if "\x00" in target:
        return ("no database stores this id",)
    with store.database.engine.connect() as conn:
        request = conn.execute(
            sa.select(requests.c.request_id, requests.c.run_id, requests.c.state).where(
                sa.or_(requests.c.request_id == target, requests.c.run_id == target)
            )
        ).all()
        ids = [r.request_id for r in request]
        runs = {r.run_id for r in request}
        logged = conn.execute(
            sa.select(answers.c.result, answers.c.by, answers.c.channel, answers.c.comment)
            .where(answers.c.request_id.in_(ids))
            .order_by(answers.c.answer_id)
        ).all()
        lines = conn.execute(
            sa.select(statuses.c.status)
            .where(statuses.c.run_id.in_(runs))
            .order_by(statuses.c.status_id)
        ).all()
        states = conn.execute(
            sa.select(workflow_status.c.status).where(workflow_status.c.workflow_uuid.in_(runs))
        ).all()
    return (
        sorted(r.state for r in request),
        [tuple(r) for r in logged],
        [r.status for r in lines],
        sorted(s.status for s in states),
    )


def test_a_bulk_call_gives_each_request_what_a_single_answer_gives(store: hitl.Store) -> None:
    """Valid, invalid, decided (by another, or the same answer again), late, timed out,
    cancelled, ended, not allowed, quorum, unknown and run-id targets: the same decisions and
    the same errors as a loop of single answers, and the same rows in the database."""
    bulk_targets, single_targets = _mix(store), _mix(store)
    result = store.respond_many(bulk_targets, approve=True, by="bulk", comment="ok")
    singles: dict[str, hitl.Decision | hitl.AnswerError] = {}
    for target in dict.fromkeys(single_targets):
        try:
            singles[target] = store.respond(target, approve=True, by="bulk", comment="ok")
        except hitl.AnswerError as error:
            singles[target] = error
    assert sorted([*result.decided, *result.failed]) == sorted(set(bulk_targets))
    bulk = {t: result.decided.get(t) or result.failed[t] for t in dict.fromkeys(bulk_targets)}
    pairs = list(zip(bulk, singles, strict=True))
    assert [_shape(bulk[b]) for b, _ in pairs] == [_shape(singles[s]) for _, s in pairs]
    assert [_audit(store, b) for b, _ in pairs] == [_audit(store, s) for _, s in pairs]
    assert len(result.decided) == 9
    kinds = {type(e).__name__ for e in result.failed.values()}
    assert kinds == {
        "InvalidAnswerError",
        "AlreadyDecidedError",
        "DeadlinePassedError",
        "NotWaitingError",
        "NotAllowedError",
        "NotFoundError",
    }


def test_a_bulk_answer_no_database_stores_is_refused_for_each_and_writes_nothing(
    store: hitl.Store,
) -> None:
    """A comment with a NUL byte (or a lone surrogate) is refused per request; nothing is stored."""
    ids = add_waiting(store, 3)
    for comment in ("a\x00b", "\ud800"):
        result = store.respond_many(ids, approve=True, by="bulk", comment=comment)
        assert result.decided == {}
        assert {type(e) for e in result.failed.values()} == {hitl.InvalidAnswerError}
    assert len(store.inbox()) == 3
    with store.database.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(answers)).scalar() == 0


def test_a_thousand_answers_take_a_few_transactions(store: hitl.Store) -> None:
    """1,000 answers in one call are stored in a handful of transactions, not a thousand."""
    ids = add_waiting(store, 1000)
    begun: list[object] = []

    def count(conn: object) -> None:
        begun.append(conn)

    sa.event.listen(store.database.engine, "begin", count)
    try:
        result = store.respond_many(ids, approve=True, by="bulk")
    finally:
        sa.event.remove(store.database.engine, "begin", count)
    assert result.ok and len(result.decided) == 1000
    assert len(store.inbox()) == 0
    assert len(begun) <= 10


ANSWERER = textwrap.dedent(
    """
    import sys
    import hitl_notebook as hitl
    from hitl_notebook._store import answering_many

    answering_many.CHUNK = 20  # many transactions, so that the kill lands between two
    store = hitl.connect(sys.argv[1])
    ids = sys.stdin.read().split()
    store.respond_many(ids, approve=True, by="bulk", comment="bulk")
    print("done", flush=True)
    """
)


def _decided(store: hitl.Store, ids: list[str]) -> int:
    with store.database.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(requests)
                .where(requests.c.request_id.in_(ids), requests.c.state == "decided")
            ).scalar_one()
        )


@pytest.mark.slow
def test_a_sigkill_mid_bulk_leaves_each_request_answered_whole_or_open(
    store: hitl.Store, db_url: str, tmp_path: Path
) -> None:
    """Killed with SIGKILL in the middle of 1,000 answers, each request is either decided with
    its one accepted answer, its status line and its run woken, or open and untouched; answering
    again decides the rest and returns the same decisions for the others."""
    ids = add_waiting(store, 1000)
    script = tmp_path / "answerer.py"
    script.write_text(ANSWERER)
    child = subprocess.Popen(
        [sys.executable, str(script), db_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    assert child.stdin is not None
    child.stdin.write("\n".join(ids))
    child.stdin.close()
    testing.wait_until(lambda: _decided(store, ids) > 0, timeout=60, interval=0.002)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    decided = _decided(store, ids)
    assert 0 < decided < 1000, "the kill came too late to land mid-bulk"
    audits = _audits(store)
    assert set(audits.values()) <= {WHOLE, UNTOUCHED}
    assert sum(audit == WHOLE for audit in audits.values()) == decided
    again = store.respond_many(ids, approve=True, by="bulk", comment="bulk")
    assert again.ok and len(again.decided) == 1000
    assert set(_audits(store).values()) == {WHOLE}


WHOLE = ("decided", (("accepted", "bulk"),), ("answered",), "ENQUEUED")
UNTOUCHED = ("open", (), (), "DELAYED")


def _audits(store: hitl.Store) -> dict[str, tuple[Any, ...]]:
    """``_audit`` of every request, by request id (each run has one request), in four queries."""
    with store.database.engine.connect() as conn:
        found = {r.request_id: r for r in conn.execute(sa.select(requests))}
        logged: dict[str, list[tuple[str, str]]] = {}
        for row in conn.execute(sa.select(answers).order_by(answers.c.answer_id)):
            logged.setdefault(row.request_id, []).append((row.result, row.by))
        lines: dict[str, list[str]] = {}
        for row in conn.execute(sa.select(statuses).order_by(statuses.c.status_id)):
            lines.setdefault(row.run_id, []).append(row.status)
        states = {
            str(run_id): str(state)
            for run_id, state in conn.execute(
                sa.select(workflow_status.c.workflow_uuid, workflow_status.c.status)
            )
        }
    return {
        request_id: (
            row.state,
            tuple(logged.get(request_id, [])),
            tuple(lines.get(row.run_id, [])),
            states[row.run_id],
        )
        for request_id, row in found.items()
    }
