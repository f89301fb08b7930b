"""The one answer rule, before anything is stored: an answer checked on its own
(``checked_answer``), the request it is for (``target_request``: a request id, or a run waiting
for one request), and what it does to that request (``plan_answer``: the plan to store it, the
decision it repeats, or why it is refused). Every channel's answer, one or many, goes through
these; ``_store.answering`` stores the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from pydantic import ValidationError

from hitl_notebook._core.access import check_responder
from hitl_notebook._core.answers import (
    Resolution,
    answer_for_response,
    resolve,
)
from hitl_notebook._core.errors import (
    AlreadyDecidedError,
    DeadlinePassedError,
    InvalidAnswerError,
    NotFoundError,
    NotWaitingError,
    StaleAnswerError,
)
from hitl_notebook._core.models import (
    Answer,
    Decision,
    Reply,
    Request,
    RequestState,
    run_state_word,
)
from hitl_notebook._core.times import from_ms
from hitl_notebook._core.values import check_json, check_text, check_texts
from hitl_notebook._db.database import Database
from hitl_notebook._db.request_records import (
    load_request_and_run_state,
    request_from_row,
    requests_of_run,
)
from hitl_notebook._db.run_records import (
    run_state,
)

__all__ = [
    "FINAL_RUN_STATES",
    "Plan",
    "check_answer_texts",
    "check_id",
    "checked_answer",
    "make_answer",
    "not_decided",
    "not_waiting",
    "plan_answer",
    "request_of",
    "request_of_run",
    "target_request",
]


FINAL_RUN_STATES = {"SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"}


class Plan(NamedTuple):
    """A valid answer to a request that is open (or past its deadline): what to store."""

    request: Request
    answer: Answer
    resolution: Resolution


def checked_answer(target: str, reply: Reply) -> Answer:
    """The answer ``reply`` gives, checked on its own (before its request is read)."""
    answer = make_answer(target, reply.answer_fields())
    check_answer_texts(
        target,
        by=reply.by,
        comment=reply.comment,
        response=reply.response,
        channel=reply.channel,
        digest=reply.digest,
    )
    if reply.response is not None and answer != Answer():
        raise InvalidAnswerError(
            target, ["a response goes alone, without approve, choice, choices, text or value"]
        )
    return answer


def plan_answer(request: Request, answer: Answer, reply: Reply) -> Plan | Decision:
    """Check ``answer`` against ``request`` (the one answer rule): the plan to store it, or the
    decision when it repeats the answer that decided the request; raises the refusal."""
    if request.quorum is not None:
        raise InvalidAnswerError(
            request.request_id,
            [
                f"it needs {request.quorum.rule}, so people vote on it: "
                "vote with hitl.vote(...), `hitl vote`, or POST /requests/{id}/votes"
            ],
        )
    expected = request.tool.digest if request.tool is not None else None
    if reply.digest is not None and reply.digest != expected:
        raise StaleAnswerError(request.request_id, reply.digest, expected)
    if reply.response is not None:
        answer = answer_for_response(request, reply.response)
    check_responder(request, reply.by)
    if request.decision is not None and not request.decision.timed_out:
        return _same_or_refuse(request, answer, reply.by)
    return Plan(request, answer, resolve(request, answer))


def not_decided(stored: Request, answer: Answer, by: str | None, at_ms: int) -> Decision:
    """What an answer that did not decide ``stored`` (read in the answer's transaction, at
    ``at_ms``) gets: DeadlinePassedError when late, NotWaitingError when cancelled, else the
    decision it repeats or AlreadyDecidedError."""
    if stored.is_open or (stored.decision is not None and stored.decision.timed_out):
        assert stored.deadline is not None
        raise DeadlinePassedError(stored.request_id, stored.deadline, from_ms(at_ms))
    if stored.state is RequestState.CANCELLED:
        raise NotWaitingError(not_waiting(stored.run_id, "CANCELLED"))
    return _same_or_refuse(stored, answer, by)


def target_request(database: Database, target: str) -> Request:
    """The request an answer to ``target`` is for: the request with that id, or the one open
    request of the run with that id (or its last decided one, for a retry or a second answer)."""
    check_id(target)
    with database.autocommit.connect() as conn:
        found_request = load_request_and_run_state(conn, target)
        if found_request is not None:
            return request_of(*found_request)
        rows = requests_of_run(conn, target)
        state = run_state(conn, target)
    return request_of_run(target, rows, state)


def request_of(row: sa.Row[Any], state: str | None) -> Request:
    """The request of ``row`` (its run in DBOS's ``state``), if it takes answers."""
    request = request_from_row(row)
    cancelled = request.state is RequestState.CANCELLED
    if cancelled or (request.is_open and state in FINAL_RUN_STATES):
        raise NotWaitingError(not_waiting(request.run_id, "CANCELLED" if cancelled else state))
    return request


def request_of_run(target: str, rows: Sequence[sa.Row[Any]], state: str | None) -> Request:
    """The request an answer to run ``target`` is for, from the run's requests (``rows``,
    oldest first) and its DBOS ``state``."""
    found = [request_from_row(r) for r in rows]
    open_ones = [r for r in found if r.is_open]
    if state is None and not found:
        raise NotFoundError(
            f"No run or request has the id {target!r}; list waiting requests with hitl.inbox()."
        )
    if len(open_ones) > 1:
        ids = ", ".join(r.request_id for r in open_ones)
        raise NotWaitingError(
            f"Run {target!r} waits for {len(open_ones)} requests ({ids}); "
            "answer one by its request id."
        )
    if open_ones and state not in FINAL_RUN_STATES:
        return open_ones[0]
    if found and found[-1].decision is not None:
        return found[-1]  # decided: the answer is a retry (same decision) or comes second
    raise NotWaitingError(not_waiting(target, state))


_ENDED = {
    "SUCCESS": "it has finished",
    "ERROR": "it failed",
    "CANCELLED": "it was cancelled",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED": "it gave up after too many restarts",
}


def not_waiting(run_id: str, state: str | None) -> str:
    """Why a run takes no answer, in people's words."""
    why = _ENDED.get(state or "", f"it is {run_state_word(state)} and asks nothing now")
    return f"Run {run_id!r} is not waiting for an answer: {why}."


def check_id(value: str) -> None:
    try:
        check_text(value, "the id")
    except ValueError:
        raise NotFoundError(f"{value!r} is not a run or request id.") from None
    if not value:
        raise NotFoundError(f"{value!r} is not a run or request id.")


def make_answer(target: str, fields: dict[str, Any]) -> Answer:
    """An ``Answer`` of the fields as sent (``value`` may be a pydantic model): InvalidAnswerError
    for an unknown field, or a value or text no database stores as it is."""
    value = fields["value"]
    if value is not None and hasattr(value, "model_dump"):
        fields["value"] = value.model_dump(mode="json")
    try:
        check_json(fields["value"], "value")
        answer = Answer(**fields)
        check_texts([answer.choice, answer.text, *(answer.choices or ())], "the answer")
    except ValidationError as error:
        raise InvalidAnswerError(
            target, [f"{'/'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
        ) from None
    except ValueError as error:
        raise InvalidAnswerError(target, [str(error)]) from None
    return answer


def check_answer_texts(target: str, **texts: str | None) -> None:
    """Refuse a responder, comment or response no database stores as it is."""
    try:
        for name, text in texts.items():
            check_texts([text], name)
    except ValueError as error:
        raise InvalidAnswerError(target, [str(error)]) from None


def _same_or_refuse(request: Request, answer: Answer, by: str | None) -> Decision:
    decision = request.decision
    assert decision is not None
    if decision.by == by and not decision.timed_out:
        try:
            again = resolve(request, answer)
        except InvalidAnswerError:
            again = None
        if again is not None and (again.outcome, again.value) == (decision.outcome, decision.value):
            return decision
    raise AlreadyDecidedError(request.request_id, decision.outcome.value, decision.by, decision.at)
