"""Reading and writing requests: their rows, their decisions, and what is read of them.

Plain functions on a SQLAlchemy connection. The agent's program calls the writers (each is
idempotent, keyed by the run, so a replay after a crash writes nothing twice); the store calls
them to answer and to read. Deciding a request is one conditional UPDATE, so the first valid answer (or
the deadline) wins on SQLite and on Postgres alike.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
import sqlalchemy.dialects.postgresql
import sqlalchemy.dialects.sqlite

from hitl_notebook._core.answers import Resolution, decided_request, decision_for
from hitl_notebook._core.models import (
    WHAT_IF_CHANNEL,
    Answer,
    Decision,
    Outcome,
    Request,
    RequestKind,
    RequestState,
    Sender,
    Status,
    ToolCall,
)
from hitl_notebook._core.quorum import Ballot, Quorum
from hitl_notebook._core.times import from_ms, to_ms
from hitl_notebook._db.changes import note_change
from hitl_notebook._db.database import fold, requests, runs_own_status, statuses
from hitl_notebook._db.dbos_internals import run_lives, workflow_status
from hitl_notebook._db.schedule_records import settle

OPEN = RequestState.OPEN.value


DECIDED = RequestState.DECIDED.value


CANCELLED = RequestState.CANCELLED.value


DECIDED_KEY_SUFFIX = ":decided"
"""The status key ``<request id>:decided`` marks a decision as taken by its run."""


ANSWERS_CHANNEL = "hitl_answers"
"""The Postgres NOTIFY channel on which a decided request's run id is announced."""


def taken_status(decision: Decision, *, agent: str, title: str, at_ms: int) -> dict[str, Any]:
    """The status transition saying a run took ``decision`` of its request (titled ``title``):
    "resumed", or "timed_out" when the deadline decided it. ``append_status``'s keywords,
    keyed ``<request id>:decided``, so it is published once."""
    if decision.timed_out:
        status, detail = Status.TIMED_OUT, f"{title}: no answer by the deadline"
    else:
        status, detail = Status.RESUMED, f"{decision.outcome.value} by {decision.who}"
        if decision.channel == WHAT_IF_CHANNEL:
            detail += f" ({decision.comment})"  # "... (what-if fork of <run>)"
    return {
        "run_id": decision.run_id,
        "key": decision.request_id + DECIDED_KEY_SUFFIX,
        "agent": agent,
        "status": status.value,
        "detail": detail,
        "progress": None,
        "at_ms": at_ms,
    }


def insert_request(conn: sa.Connection, request: Request) -> bool:
    """Store a new request, open or (a policy's verdict) already decided; False if a request with
    its id is stored already (kept as is)."""
    columns = request_columns(request) | {"asking_run": request.run_id}
    inserted = conn.execute(_INSERT_REQUEST[conn.dialect.name], columns)
    if inserted.first() is None:
        return False
    note_change(conn, request.run_id)
    return True


def request_columns(request: Request) -> dict[str, Any]:
    """The columns of a request's new row."""
    spec: dict[str, Any] = {
        "proposal_schema": request.proposal_schema,
        "proposal_model": request.proposal_model,
        "on_timeout": request.on_timeout,
        "requester": request.requester,
        "allow_requester": request.allow_requester,
        "timeout_answer": (
            request.timeout_answer.model_dump(exclude_none=True) if request.timeout_answer else None
        ),
    }
    if request.tool is not None:
        spec["tool"] = request.tool.model_dump()
    if request.notify is not None:
        spec["notify"] = request.notify
    if request.quorum is not None:
        spec["quorum"] = request.quorum.as_json()
    if request.steps_before is not None:
        spec["steps_before"] = request.steps_before
    if request.forked_from is not None:
        spec["forked_from"] = request.forked_from
    if request.multiple:
        spec |= {
            "multiple": True,
            "min_choices": request.min_choices,
            "max_choices": request.max_choices,
        }
    return {
        "request_id": request.request_id,
        "run_id": request.run_id,
        "agent": request.agent,
        "kind": request.kind.value,
        "title": request.title,
        "title_folded": fold(request.title),
        "body": request.body,
        "spec": spec,
        "rules": inbox_rules(spec, request.kind.value),
        "options": request.options,
        "proposal": request.proposal,
        "assignees": list(request.assignees),
        "requested_at_ms": to_ms(request.requested_at),
        "deadline_ms": to_ms(request.deadline) if request.deadline else None,
        **_decision_columns(request.decision),
    }


def inbox_rules(spec: dict[str, Any], kind: str) -> dict[str, Any]:
    """What the inbox reads of a request's spec (``hitl_requests.rules``): all of it but the
    proposal's schema and model, which it never shows (a form's schema it does: an input
    request's is kept)."""
    if kind == RequestKind.INPUT.value:
        return spec
    return {k: v for k, v in spec.items() if k not in ("proposal_schema", "proposal_model")}


def _decision_columns(decision: Decision | None) -> dict[str, Any]:
    if decision is None:
        return {"state": OPEN, **dict.fromkeys(_DECISION_COLUMNS)}
    return {
        "state": DECIDED,
        "outcome": decision.outcome.value,
        "approved": decision.approved,
        "value": decision.value,
        "decided_by": decision.by,
        "decided_at_ms": to_ms(decision.at),
        "channel": decision.channel,
        "comment": decision.comment,
    }


_DECISION_COLUMNS = (
    "outcome",
    "approved",
    "value",
    "decided_by",
    "decided_at_ms",
    "channel",
    "comment",
)


def load_request_and_run_state(
    conn: sa.Connection, request_id: str
) -> tuple[sa.Row[Any], str | None] | None:
    """One request's row and its run's DBOS state, in one query."""
    row = conn.execute(_REQUEST_AND_RUN_STATE, {"wanted_id": request_id}).first()
    return None if row is None else (row, row.run_state)


_REQUEST_AND_RUN_STATE = (
    sa.select(requests, workflow_status.c.status.label("run_state"))
    .outerjoin(workflow_status, workflow_status.c.workflow_uuid == requests.c.run_id)
    .where(requests.c.request_id == sa.bindparam("wanted_id"))
)


def decided_or_due() -> sa.Exists:
    """Whether one of the requests ``request_ids`` is decided (or closed by a cancel), or open at
    ``due_at`` (epoch ms) past its deadline: an EXISTS clause with these two parameters."""
    return (
        sa.select(requests.c.request_id)
        .where(
            requests.c.request_id.in_(sa.bindparam("request_ids", expanding=True)),
            sa.or_(requests.c.state != OPEN, requests.c.deadline_ms <= sa.bindparam("due_at")),
        )
        .exists()
    )


def answer_not_taken(run_id: sa.ColumnElement[str]) -> sa.Exists:
    """Whether a request of the run is decided but the run has not taken the decision yet.

    A run takes a decision when it publishes its "decided" status (``_runtime.decisions.collect``).
    """
    taken = (
        sa.select(statuses.c.status_id)
        .where(
            statuses.c.run_id == requests.c.run_id,
            statuses.c.key == requests.c.request_id + DECIDED_KEY_SUFFIX,
        )
        .exists()
    )
    return (
        sa.select(requests.c.request_id)
        .where(requests.c.run_id == run_id, requests.c.state == DECIDED, ~taken)
        .exists()
    )


def overdue_at(at_ms: int) -> Callable[[sa.ColumnElement[str]], sa.Exists]:
    """Whether a request of the run is open past its deadline at ``at_ms`` (for ``sweep``)."""

    def overdue(run_id: sa.ColumnElement[str]) -> sa.Exists:
        return (
            sa.select(requests.c.request_id)
            .where(
                requests.c.run_id == run_id,
                requests.c.state == OPEN,
                requests.c.deadline_ms <= at_ms,
            )
            .exists()
        )

    return overdue


def has_open_request(run_id: sa.ColumnElement[str]) -> sa.Exists:
    """Whether the run has a request waiting for an answer."""
    return (
        sa.select(requests.c.request_id)
        .where(requests.c.run_id == run_id, requests.c.state == OPEN)
        .exists()
    )


def load_request(conn: sa.Connection, request_id: str) -> sa.Row[Any] | None:
    """The stored row of one request."""
    return conn.execute(sa.select(requests).where(requests.c.request_id == request_id)).first()


def load_requests(conn: sa.Connection, request_ids: Sequence[str]) -> Sequence[sa.Row[Any]]:
    """The stored rows of these requests (in no particular order)."""
    return conn.execute(_LOAD_REQUESTS, {"request_ids": list(request_ids)}).all()


_LOAD_REQUESTS = sa.select(requests).where(
    requests.c.request_id.in_(sa.bindparam("request_ids", expanding=True))
)


def requests_of_run(conn: sa.Connection, run_id: str) -> Sequence[sa.Row[Any]]:
    """Every request of a run, oldest first."""
    return conn.execute(
        sa.select(requests)
        .where(requests.c.run_id == run_id)
        .order_by(requests.c.requested_at_ms, requests.c.request_id)
    ).all()


def request_from_row(row: sa.Row[Any], votes: Sequence[Ballot] = ()) -> Request:
    """A stored row as a Request (with its decision, once decided, and the ``votes`` read
    for it, when it has a quorum)."""
    spec = row.spec or {}
    timeout_answer = spec.get("timeout_answer")
    request = Request(
        request_id=row.request_id,
        run_id=row.run_id,
        agent=row.agent,
        kind=RequestKind(row.kind),
        title=row.title,
        body=row.body,
        options=row.options,
        multiple=spec.get("multiple", False),
        min_choices=spec.get("min_choices"),
        max_choices=spec.get("max_choices"),
        proposal=row.proposal,
        proposal_schema=spec.get("proposal_schema"),
        proposal_model=spec.get("proposal_model"),
        assignees=list(row.assignees or []),
        requester=spec.get("requester"),
        allow_requester=spec.get("allow_requester", True),
        requested_at=from_ms(row.requested_at_ms),
        deadline=from_ms(row.deadline_ms) if row.deadline_ms is not None else None,
        on_timeout=spec.get("on_timeout", "raise"),
        timeout_answer=Answer(**timeout_answer) if timeout_answer else None,
        tool=ToolCall(**spec["tool"]) if spec.get("tool") else None,
        notify=spec.get("notify"),
        quorum=Quorum.from_json(spec["quorum"]) if spec.get("quorum") else None,
        votes=list(votes),
        steps_before=spec.get("steps_before"),
        forked_from=spec.get("forked_from"),
        state=RequestState(row.state),
    )
    if row.state != DECIDED:
        return request
    resolution = Resolution(Outcome(row.outcome), row.approved, row.value)
    sender = Sender(row.decided_by, row.channel, row.comment, row.decided_at_ms)
    return decided_request(request, decision_for(request, resolution, sender))


def decide(
    conn: sa.Connection,
    decision: Decision,
    *,
    before_deadline: bool,
    while_run_lives: bool = False,
) -> sa.Row[Any] | None:
    """Decide an open request with ``decision`` and return its new row; None if it was decided
    already (or, when ``before_deadline`` asks for it, its deadline has passed; when
    ``while_run_lives`` does, its run has ended). The caller notes the change (``note_change``)
    as its transaction's last write."""
    statement = _deciding(before_deadline, while_run_lives, value_is_null=decision.value is None)
    row = conn.execute(statement, decision_parameters(decision)).first()
    if row is not None and (row.spec or {}).get("notify"):
        settle(conn, decision.request_id, timed_out=decision.timed_out, at_ms=to_ms(decision.at))
    return row


def decision_parameters(decision: Decision) -> dict[str, Any]:
    """The parameters of the statements that store ``decision`` in its request's row."""
    return {
        "decided_id": decision.request_id,
        "new_outcome": decision.outcome.value,
        "new_approved": decision.approved,
        "new_value": decision.value,
        "new_by": decision.by,
        "new_at_ms": to_ms(decision.at),
        "new_channel": decision.channel,
        "new_comment": decision.comment,
    }


DECIDED_AT = sa.bindparam("new_at_ms", type_=sa.BigInteger)
"""When the decision stored by ``deciding`` was taken (``decision_parameters``)."""


def deciding(*, value_is_null: bool = False) -> sa.Update:
    """The statement that stores a decision (bound by ``decision_parameters``) in its request's
    row if the request is open; with ``value_is_null``, its None value as SQL NULL (else as
    JSON's null)."""
    value = sa.null() if value_is_null else sa.bindparam("new_value", type_=requests.c.value.type)
    return (
        requests.update()
        .where(requests.c.request_id == sa.bindparam("decided_id"), requests.c.state == OPEN)
        .values(
            state=DECIDED,
            outcome=sa.bindparam("new_outcome"),
            approved=sa.bindparam("new_approved", type_=sa.Boolean),
            value=value,
            decided_by=sa.bindparam("new_by"),
            decided_at_ms=DECIDED_AT,
            channel=sa.bindparam("new_channel"),
            comment=sa.bindparam("new_comment"),
        )
    )


def within_deadline() -> sa.ColumnElement[bool]:
    """Whether the request has no deadline, or the decision ``deciding`` stores is not past it."""
    return sa.or_(requests.c.deadline_ms.is_(None), requests.c.deadline_ms >= DECIDED_AT)


@functools.cache
def _deciding(before: bool, while_run_lives: bool, *, value_is_null: bool) -> Any:
    """``decide``'s statement, built once for each of its kinds (a None value is stored as SQL
    NULL, not as JSON's null)."""
    query = deciding(value_is_null=value_is_null).returning(*requests.c)
    if before:
        query = query.where(within_deadline())
    if while_run_lives:
        query = query.where(run_lives(requests.c.run_id))
    return query


def close_for_cancel(
    conn: sa.Connection, run_id: str, *, by: str | None, channel: str, at_ms: int
) -> None:
    """Close a cancelled run's open requests (state ``cancelled``; no answer is taken any more).

    Their ``decided_at_ms`` is set, so the poller's look for news wakes the run's hot wait. The
    caller notes the change (``note_change``) as its transaction's last write.
    """
    conn.execute(
        requests.update()
        .where(requests.c.run_id == run_id, requests.c.state == OPEN)
        .values(state=CANCELLED, decided_by=by, decided_at_ms=at_ms, channel=channel)
    )


_ASKING_RUN = sa.bindparam("asking_run", type_=sa.Text)
"""The new request's run id, again (a bound column's own name is its value's)."""


def _new_request(insert: Callable[[sa.Table], Any]) -> Any:
    """A new request, with its run's own status, unless its id is stored (RETURNING the id if
    inserted)."""
    return (
        insert(requests)
        .values(runs_own_status(_ASKING_RUN))
        .on_conflict_do_nothing(index_elements=[requests.c.request_id])
        .returning(requests.c.request_id)
    )


_INSERT_REQUEST = {
    "postgresql": _new_request(sa.dialects.postgresql.insert),
    "sqlite": _new_request(sa.dialects.sqlite.insert),
}
"""A new request, unless its id is stored, by dialect (RETURNING the id if inserted)."""
