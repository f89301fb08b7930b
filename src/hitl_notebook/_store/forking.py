"""What-if forks: a new run from the checkpoint just before one of a run's requests, with another
answer to that request, decided at once and recorded as such.

A request is not a DBOS step (see ``_agent.program``); it records how many steps its run had
taken when it asked (``Request.steps_before``), and the fork is DBOS's ``fork_workflow`` from the
step after those: every step before the request is reused, not run again. The fork replays the
run's code from the start under its own id, and what it finds stored under that id decides its
requests:

- the original's requests asked before ``at``: copied with their decisions (same person, time,
  channel and comment), so the fork passes them as the original did;
- ``at`` itself: asked anew and decided at once with the given answer, by the person who forks,
  through the ``what-if`` channel, with "what-if fork of <run>" as its comment (its history line
  says so too); the answer goes to the answer log like any other;
- the requests after ``at``: nothing; the fork asks them anew.

The first two name the original's request they stand for (``Request.forked_from``, the
``forked_from`` column of ``hitl.decisions()``), so an analysis can leave them out: they repeat
the original's decisions, or took no one's time.

The fork's rows (those requests, its first status and its link to the original,
``hitl_runs.forked_from``/``forked_at``) are written in one transaction before DBOS forks the run,
so the fork never runs without them; if DBOS refuses, they are removed. The original, and its
requests, are left as they are: a run that waits keeps waiting. The fork runs where the original
runs (its DBOS application and version), like a parked run that resumes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hitl_notebook._core.access import check_responder
from hitl_notebook._core.answers import resolve
from hitl_notebook._core.errors import HitlError, InvalidAnswerError, NotFoundError
from hitl_notebook._core.models import WHAT_IF_CHANNEL, Answer, Decision, Request, Sender, Status
from hitl_notebook._core.times import from_ms, now_ms, to_ms
from hitl_notebook._core.values import check_text
from hitl_notebook._db.answer_log import record_answer
from hitl_notebook._db.database import Database
from hitl_notebook._db.request_records import (
    insert_request,
    load_request,
    request_from_row,
    requests_of_run,
)
from hitl_notebook._db.run_records import (
    append_status,
    forget_run,
    fork_origin,
    link_fork,
    run_state,
    run_version,
)
from hitl_notebook._store.answer_rule import check_answer_texts, check_id, make_answer

__all__ = ["FORKED_KEY", "fork"]

FORKED_KEY = "forked"
"""The status key of a fork's first history line ("what-if fork of <run> at <request>")."""


def fork(
    database: Database,
    run_id: str,
    *,
    at: str,
    answer: Answer | Mapping[str, Any],
    by: str,
    fork_id: str | None = None,
) -> str:
    """Start a what-if fork of ``run_id`` at its request ``at``, answered with ``answer``
    (decided at once, by ``by``); returns the fork's run id. See ``Store.fork``."""
    check_id(run_id)
    check_id(at)
    given = _answer(at, answer)
    check_answer_texts(at, by=by)
    new_id = fork_id if fork_id is not None else f"{run_id}-whatif-{uuid.uuid4().hex[:8]}"
    _check_fork_id(new_id)
    with database.autocommit.connect() as conn:
        target_row = load_request(conn, at)
        version = run_version(conn, run_id)
        origin = fork_origin(conn, new_id)
        taken = run_state(conn, new_id) is not None or origin is not None
        stored = [request_from_row(row) for row in requests_of_run(conn, run_id)]
    target = _target(target_row, run_id, at, version, stored)
    if taken:
        return _same_fork(new_id, origin, run_id, at)
    check_responder(target, by)
    decision = _decided(target, given, new_id, by)
    earlier = [_copied(r, new_id) for r in stored if _asked_before(r, target)]
    with database.engine.begin() as conn:
        written = _write_fork(conn, target, decision, given, earlier)
    if not written:  # another call stored a fork with this id since the look above
        with database.autocommit.connect() as conn:
            return _same_fork(new_id, fork_origin(conn, new_id), run_id, at)
    assert target.steps_before is not None
    try:
        _fork_in_dbos(database, run_id, new_id, target.steps_before + 1, version)
    except BaseException:
        with database.engine.begin() as conn:
            forget_run(conn, new_id)
        raise
    return new_id


def _write_fork(
    conn: sa.Connection,
    target: Request,
    decision: Decision,
    given: Answer,
    earlier: list[Request],
) -> bool:
    """Store the fork's requests, its answer, its first status and its link to the original;
    False (nothing written) if a request with the fork's id for ``target`` exists already."""
    if not insert_request(conn, _asked_again(target, decision)):
        return False
    for request in earlier:
        insert_request(conn, request)
    at_ms = to_ms(decision.at)
    sender = Sender(by=decision.by, channel=WHAT_IF_CHANNEL, comment=decision.comment, at_ms=at_ms)
    record_answer(conn, decision, given, sender, result="accepted")
    append_status(
        conn,
        run_id=decision.run_id,
        key=FORKED_KEY,
        agent=target.agent,
        status=Status.WORKING.value,
        detail=f"what-if fork of {target.run_id} at {target.request_id}",
        progress=None,
        at_ms=at_ms,
    )
    link_fork(conn, decision.run_id, forked_from=target.run_id, forked_at=target.request_id)
    return True


def _same_fork(new_id: str, origin: tuple[str, str] | None, run_id: str, at: str) -> str:
    """The fork id again when it names the same fork (asked twice, it starts once)."""
    if origin == (run_id, at):
        return new_id
    raise ValueError(
        f"A run with the id {new_id!r} exists already; give the fork another run_id "
        "(or none: one is made up)."
    )


def _answer(at: str, answer: Answer | Mapping[str, Any]) -> Answer:
    """The answer as given (an ``Answer``, or the keywords of ``hitl.respond`` as a dict),
    checked like any answer."""
    if isinstance(answer, Answer):
        fields = {name: getattr(answer, name) for name in Answer.model_fields}
    elif isinstance(answer, Mapping):
        fields = dict.fromkeys(Answer.model_fields) | dict(answer)
    else:
        raise InvalidAnswerError(
            at,
            [
                "the answer is a hitl.Answer or a dict of the keywords of hitl.respond "
                f"(approve, value, choice, text), not {answer!r}"
            ],
        )
    return make_answer(at, fields)


def _check_fork_id(fork_id: str) -> None:
    check_text(fork_id, "the fork's run_id")
    if not fork_id.strip():
        raise ValueError("The fork's run_id is empty; give one, or none: one is made up.")


def _target(row: Any, run_id: str, at: str, version: str | None, stored: list[Request]) -> Request:
    """The request to fork at, refused when it is not one of the run's or cannot be forked."""
    if version is None:
        raise NotFoundError(f"No run has the id {run_id!r}.")
    if row is None:
        raise NotFoundError(
            f"No request has the id {at!r}; the run's requests are "
            f"{', '.join(r.request_id for r in stored) or 'none yet'}."
        )
    target = request_from_row(row)
    if target.run_id != run_id:
        raise NotFoundError(
            f"Request {at!r} belongs to run {target.run_id!r}, not to {run_id!r}: fork that "
            f"run (hitl.run({target.run_id!r}).fork(...)) or pick a request of this one."
        )
    if target.steps_before is None:
        raise HitlError(
            f"Request {at!r} cannot be forked: it was asked by an older version of "
            "hitl_notebook, which did not record where its run stood."
        )
    if any(r.tool is not None for r in stored if not _asked_after(r, target)):
        raise HitlError(
            f"Request {at!r} cannot be forked: a tool call is approved at or before it, and a "
            "tool call's approval is bound to its run; fork at a request before the first one."
        )
    return target


def _order(request: Request) -> tuple[datetime, int]:
    """Where a request stands in its run: the requests asked together share it."""
    return request.requested_at, request.steps_before or 0


def _asked_before(request: Request, target: Request) -> bool:
    return _order(request) < _order(target)


def _asked_after(request: Request, target: Request) -> bool:
    return _order(request) > _order(target)


def _renamed(request_id: str, run_id: str, new_id: str) -> str:
    """A request's id in the fork: the fork's id, then the question's key in the run."""
    return f"{new_id}{request_id.removeprefix(run_id)}"


def _copied(request: Request, new_id: str) -> Request:
    """An earlier request of the original, as the fork finds it: decided as it was."""
    request_id = _renamed(request.request_id, request.run_id, new_id)
    decision = request.decision
    if decision is not None:
        decision = decision.model_copy(update={"request_id": request_id, "run_id": new_id})
    return request.model_copy(
        update={
            "request_id": request_id,
            "run_id": new_id,
            "decision": decision,
            "votes": [],
            "forked_from": request.request_id,
        }
    )


def _decided(target: Request, given: Answer, new_id: str, by: str) -> Decision:
    """The fork's decision of ``target``: ``given``, by ``by``, now, through the what-if channel."""
    resolution = resolve(target, given)
    at = from_ms(now_ms())
    deadline = None if target.deadline is None else at + (target.deadline - target.requested_at)
    return Decision(
        request_id=_renamed(target.request_id, target.run_id, new_id),
        run_id=new_id,
        kind=target.kind,
        outcome=resolution.outcome,
        approved=resolution.approved,
        value=resolution.value,
        by=by,
        at=at,
        channel=WHAT_IF_CHANNEL,
        comment=f"what-if fork of {target.run_id}",
        requested_at=at,
        deadline=deadline,
    )


def _asked_again(target: Request, decision: Decision) -> Request:
    """``target`` asked in the fork (its deadline as far away as in the original), decided."""
    return target.model_copy(
        update={
            "request_id": decision.request_id,
            "run_id": decision.run_id,
            "requested_at": decision.requested_at,
            "deadline": decision.deadline,
            "decision": decision,
            "votes": [],
            "forked_from": target.request_id,
        }
    )


def _fork_in_dbos(
    database: Database, run_id: str, new_id: str, start_step: int, version: str | None
) -> None:
    """DBOS's fork of ``run_id`` as ``new_id`` from ``start_step``, on the original's version."""
    from dbos import SetWorkflowID  # noqa: PLC0415 - reading and answering need no DBOS

    with SetWorkflowID(new_id):
        database.client.fork_workflow(run_id, start_step, application_version=version)
