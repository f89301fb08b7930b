"""The vote path: one person's vote on a quorum request, counted once, deciding it at most once.

A vote is checked like an answer (the request, its run, the voter's right) and stored in one
transaction that locks the request's row first (``vote_records.lock_open``), then inserts the vote
(a second vote by the same person is refused), counts every vote and, when the rule is met,
decides the request through ``request_records.decide`` and wakes its run (``answering.wake_run``),
exactly as an accepted answer does. Because the lock comes before the count, two votes at the
same instant are counted one after the other: the second sees the first, and the request that
has ``k`` approvals is decided. A vote after the decision is refused; one after the deadline is
recorded as late in the answer log and refused.
"""

from __future__ import annotations

import sqlalchemy as sa

from hitl_notebook._core.answers import decided_request, decision_for, resolve
from hitl_notebook._core.errors import (
    AlreadyDecidedError,
    AlreadyVotedError,
    DeadlinePassedError,
    InvalidAnswerError,
    NotAllowedError,
    NotWaitingError,
    StaleAnswerError,
)
from hitl_notebook._core.models import Answer, Decision, Request, RequestState, Sender, Vote
from hitl_notebook._core.quorum import Ballot, Quorum, Tally, count, voter_refusal
from hitl_notebook._core.times import from_ms, now_ms
from hitl_notebook._core.values import check_texts
from hitl_notebook._db.answer_log import record_answer
from hitl_notebook._db.changes import note_change
from hitl_notebook._db.database import Database
from hitl_notebook._db.request_records import decide, load_request, request_from_row
from hitl_notebook._db.vote_records import insert_vote, load_votes, lock_open
from hitl_notebook._store.answer_rule import not_waiting, target_request
from hitl_notebook._store.answering import HotWaits, wake_run

__all__ = ["check_voter", "vote"]


def vote(
    database: Database,
    target: str,
    *,
    approve: bool,
    by: str,
    comment: str | None,
    channel: str,
    digest: str | None = None,
    executor_id: str | None = None,
    hot_waits: HotWaits | None = None,
) -> Vote:
    """Record ``by``'s vote on ``target`` (a request id, or a run waiting for one request) and
    decide the request when the votes meet its quorum. See ``Store.vote``."""
    if not isinstance(approve, bool):
        raise InvalidAnswerError(target, ["a vote is approve=True or approve=False"])
    try:
        check_texts([by, comment, channel, digest], "a vote's text")
    except ValueError as error:
        raise InvalidAnswerError(target, [str(error)]) from None
    request = target_request(database, target)
    quorum = request.quorum
    if quorum is None:
        raise InvalidAnswerError(
            request.request_id,
            ["it takes one answer, not votes: answer it with hitl.respond (or `hitl answer`)"],
        )
    expected = request.tool.digest if request.tool is not None else None
    if digest is not None and digest != expected:
        raise StaleAnswerError(request.request_id, digest, expected)
    check_voter(request, quorum, by)
    at = now_ms()
    ballot = Ballot(voter=by, approve=approve, channel=channel, at=from_ms(at), comment=comment)
    counted: Vote | None = None
    with database.engine.begin() as conn:
        if not lock_open(conn, request.request_id):
            row = load_request(conn, request.request_id)
            assert row is not None
            closed = request_from_row(row)
        else:
            row = load_request(conn, request.request_id)
            assert row is not None
            if row.deadline_ms is not None and row.deadline_ms < at:
                record_answer(
                    conn, row, Answer(approve=approve), _sender(ballot, at), result="late"
                )
                closed = request_from_row(row)
            else:
                if not insert_vote(conn, row.request_id, row.run_id, ballot):
                    earlier = next(b for b in load_votes(conn, row.request_id) if b.voter == by)
                    raise AlreadyVotedError(row.request_id, by, earlier.approve, earlier.at)
                tally = count(
                    quorum,
                    load_votes(conn, row.request_id),
                    requester=request.requester,
                    allow_requester=request.allow_requester,
                )
                decision = _decide(
                    conn, request, tally, ballot=ballot, at=at, executor_id=executor_id
                )
                note_change(conn, row.run_id)  # the inbox shows the votes
                counted = Vote(ballot=ballot, tally=tally, decision=decision)
    if counted is not None:
        return _woken(counted, request.run_id, hot_waits)
    # Not counted: the request was closed (decided, cancelled) or its deadline had passed.
    if closed.state is RequestState.CANCELLED:
        raise NotWaitingError(not_waiting(closed.run_id, "CANCELLED"))
    if closed.decision is not None:
        decision = closed.decision
        raise AlreadyDecidedError(
            closed.request_id, decision.outcome.value, decision.by, decision.at
        )
    assert closed.deadline is not None
    raise DeadlinePassedError(closed.request_id, closed.deadline, from_ms(at))


def _woken(counted: Vote, run_id: str, hot_waits: HotWaits | None) -> Vote:
    """After the commit: wake the run here if the vote decided (the run reads the decision)."""
    if counted.decision is not None and hot_waits is not None:
        hot_waits.wake(run_id)
    return counted


def check_voter(request: Request, quorum: Quorum, voter: str | None) -> None:
    """Raise NotAllowedError unless ``voter`` may vote on ``request``."""
    reason = voter_refusal(
        quorum, voter, requester=request.requester, allow_requester=request.allow_requester
    )
    if reason is not None:
        raise NotAllowedError(request.request_id, voter, reason)


def _decide(
    conn: sa.Connection,
    request: Request,
    tally: Tally,
    *,
    ballot: Ballot,
    at: int,
    executor_id: str | None,
) -> Decision | None:
    """Decide the request when ``tally`` says so (in the vote's transaction, its row locked)."""
    if tally.outcome is None:
        return None
    resolution = resolve(request, Answer(approve=tally.outcome == "approved"))
    comment = tally.reason if ballot.comment is None else f"{tally.reason}: {ballot.comment}"
    quorum = Sender(by=tally.decided_by, channel=ballot.channel, comment=comment, at_ms=at)
    decision = decision_for(request, resolution, quorum)
    # The lock was taken while open and before the deadline.
    row = decide(conn, decision, before_deadline=False)
    assert row is not None  # the row is locked and was open
    record_answer(conn, row, Answer(approve=ballot.approve), _sender(ballot, at), result="accepted")
    wake_run(conn, decided_request(request, decision), at, executor_id)
    return decision


def _sender(ballot: Ballot, at_ms: int) -> Sender:
    """Where a vote came from, as the answer log keeps it."""
    return Sender(by=ballot.voter, channel=ballot.channel, comment=ballot.comment, at_ms=at_ms)
