"""What a click in a widget does: answer through the store, and say what happened in the row.

Every answer from a widget goes through ``Store.respond`` (channel ``widget``), so it is checked by
the same rule as every other channel; the Approve and Reject of a quorum request go through
``Store.vote`` as the responder's vote, and the row then says how far the votes are.
Refusals come back as a message for the row, never as a traceback: "decided by X at T" when
someone else was faster, the problems per form field when an edited proposal does not fit its
schema. Each message names the request it is about (its title and id), since it also shows as a
notice away from the row.

A tool call's buttons and form carry its digest back with the answer (``Respond.digest``): an
answer drawn for a call that changed since is refused by the store (``StaleAnswerError``) and the
row says so. An edit that is applied says what it changed.
"""

from __future__ import annotations

from hitl_notebook._core.errors import (
    AlreadyDecidedError,
    AlreadyVotedError,
    AnswerError,
    InvalidAnswerError,
    StaleAnswerError,
)
from hitl_notebook._core.models import (
    Decision,
    Outcome,
    Reply,
    Request,
    RequestKind,
    StatusEvent,
    who_decided,
)
from hitl_notebook._core.times import to_ms
from hitl_notebook._notebook.forms import blank_form, form_for, only_editable, problems_by_field
from hitl_notebook._notebook.messages import (
    BulkMessage,
    DecidedToolCall,
    DetailsError,
    DetailsMessage,
    FormMessage,
    OpenDetails,
    OpenForm,
    RequestDetails,
    Respond,
    ResultMessage,
    TimelineEntry,
)
from hitl_notebook._notebook.text import (
    changed_arguments,
    markdown_html,
    proposal_rows,
    request_facts,
    request_name,
    tool_label,
)
from hitl_notebook._store.store import Store

__all__ = [
    "answer",
    "answer_many",
    "changes_text",
    "decided_text",
    "decided_tool_call",
    "details",
    "edit_form",
    "request_details",
    "timeline",
]

CHANNEL = "widget"


def decided_text(decision: Decision) -> str:
    """``approved by alice at 2026-11-28 10:03 UTC``: a decision in a few words."""
    who = decision.who
    what = decision.outcome.value
    if decision.outcome is Outcome.CHOSE and isinstance(decision.value, list):
        what = f"chose {', '.join(map(repr, decision.value)) or 'no option'}"
    elif decision.outcome is Outcome.CHOSE:
        what = f"chose {decision.value!r}"
    return f"{what} by {who} at {decision.at:%Y-%m-%d %H:%M:%S} UTC"


def answer(
    store: Store, request_id: str, content: Respond, *, by: str, channel: str = CHANNEL
) -> ResultMessage:
    """Send the answer in ``content`` (approve/choice/choices/text/value, comment) for ``request_id``;
    ``channel`` names the face it came through (the web inbox page is ``web``)."""
    reply = Reply(
        approve=content.get("approve"),
        choice=content.get("choice"),
        choices=content.get("choices"),
        text=content.get("text"),
        value=content.get("value"),
        by=by,
        comment=content.get("comment") or None,
        channel=channel,
        digest=content.get("digest") or None,
    )
    try:
        request: Request | None = store.request(request_id)
    except AnswerError:
        request = None
    name = request_id if request is None else request_name(request.title, request_id)
    if request is not None and request.quorum is not None:
        return _vote(store, request_id, name, reply)
    try:
        decision = store.answer(request_id, reply)
    except StaleAnswerError:
        return _result(
            request_id,
            f"{name}: not sent: it was drawn for another call than the one this request "
            "asks about now; nothing was stored. Open it again and answer what it shows.",
            ok=False,
            decided=False,
            errors={"": ["drawn for another call: open it again"]},
        )
    except InvalidAnswerError as error:
        return _result(
            request_id,
            f"{name}: not sent: " + "; ".join(error.problems),
            ok=False,
            decided=False,
            errors=problems_by_field(error.problems),
        )
    except AlreadyDecidedError as error:
        who = who_decided(error.decided_by, error.outcome)
        return _result(
            request_id,
            f"{name}: already {error.outcome} by {who} at "
            f"{error.decided_at:%Y-%m-%d %H:%M:%S} UTC; your answer was not applied.",
            ok=False,
            decided=True,
        )
    except AnswerError as error:
        return _result(
            request_id,
            f"{name}: {error}",
            ok=False,
            decided=True,
        )
    changes = "" if request is None else changes_text(changed_arguments(request, decision))
    return _result(
        request_id,
        f"{name}: {decided_text(decision)}{changes}",
        ok=True,
        decided=True,
    )


def _result(
    request_id: str,
    message: str,
    *,
    ok: bool,
    decided: bool,
    errors: dict[str, list[str]] | None = None,
) -> ResultMessage:
    """What the widget is told of one answer or vote: sent or not, and whether it is decided."""
    result = ResultMessage(
        type="result", request_id=request_id, ok=ok, message=message, decided=decided
    )
    if errors is not None:
        result["errors"] = errors
    return result


def _vote(store: Store, request_id: str, name: str, reply: Reply) -> ResultMessage:
    """Send the Approve or Reject of a quorum request as the responder's vote."""
    if reply.approve is None:
        return _result(
            request_id,
            f"{name}: not sent: this request takes votes (Approve or Reject)",
            ok=False,
            decided=False,
        )
    try:
        vote = store.vote(
            request_id,
            approve=reply.approve,
            by=reply.by,
            comment=reply.comment,
            channel=CHANNEL,
            digest=reply.digest,
        )
    except AlreadyVotedError as error:
        return _result(
            request_id,
            f"{name}: you have voted already ({'approved' if error.approved else 'rejected'}"
            f" at {error.voted_at:%Y-%m-%d %H:%M:%S} UTC); a vote is cast once.",
            ok=False,
            decided=False,
        )
    except AlreadyDecidedError as error:
        who = who_decided(error.decided_by, error.outcome)
        return _result(
            request_id,
            f"{name}: already {error.outcome} by {who} at "
            f"{error.decided_at:%Y-%m-%d %H:%M:%S} UTC; your vote was not counted.",
            ok=False,
            decided=True,
        )
    except AnswerError as error:
        return _result(
            request_id,
            f"{name}: {error}",
            ok=False,
            decided=False,
        )
    said = f"{name}: you {vote.ballot.word}; {vote.tally.progress}"
    if vote.decision is not None:
        said += f"; {decided_text(vote.decision)}"
    return _result(request_id, said, ok=True, decided=vote.decided)


def changes_text(changes: list[list[str]]) -> str:
    """``; amount 80 → 50``: what an edit changed, after a decision's words ("" for nothing)."""
    return "".join(f"; {name} {before} → {after}" for name, before, after in changes)


def answer_many(
    store: Store,
    request_ids: list[str],
    *,
    approve: bool,
    comment: str | None,
    by: str,
    channel: str = CHANNEL,
) -> BulkMessage:
    """Approve or reject many requests at once, each on its own; a request that takes votes (a
    quorum) gets the responder's vote instead."""
    result = store.answer_many(
        request_ids, Reply(approve=approve, by=by, comment=comment or None, channel=channel)
    )
    decided = list(result.decided)
    failed = {target: str(error) for target, error in result.failed.items()}
    voted = 0
    for target in [t for t in result.failed if _takes_votes(store, t)]:
        try:
            vote = store.vote(
                target, approve=approve, by=by, comment=comment or None, channel=channel
            )
        except AnswerError as error:
            failed[target] = str(error)
            continue
        del failed[target]
        voted += 1
        if vote.decided:
            decided.append(target)
    verb = "approved" if approve else "rejected"
    message = f"{len(result.decided)} {verb}"
    if voted:
        message += f", {voted} voted on"
    if failed:
        message += f", {len(failed)} refused"
    return BulkMessage(type="bulk_result", message=message, decided=decided, failed=failed)


def _takes_votes(store: Store, request_id: str) -> bool:
    try:
        return store.request(request_id).quorum is not None
    except AnswerError:
        return False


def open_panel(
    store: Store, message: OpenForm | OpenDetails, *, responder: str
) -> FormMessage | DetailsMessage:
    """What a panel opened in the browser shows: a request's edit form, or its details."""
    request_id = str(message["request_id"])
    if message["type"] == "form":
        return edit_form(store, request_id)
    return details(store, request_id, responder=responder)


def edit_form(store: Store, request_id: str) -> FormMessage:
    """The form to edit the request's proposal, pre-filled with it; for an input request, its
    blank form (the model's defaults filled in)."""
    try:
        request = store.request(request_id)
    except AnswerError as error:
        return FormMessage(type="form", request_id=request_id, form=None, message=str(error))
    if request.kind is RequestKind.INPUT and request.proposal_schema is not None:
        blank = blank_form(request.proposal_schema)
        return FormMessage(type="form", request_id=request_id, form=blank, message="", fill=True)
    if request.proposal_schema is None:
        return FormMessage(
            type="form",
            request_id=request_id,
            form=None,
            message="This request has no proposal to edit.",
        )
    form = form_for(request.proposal_schema, request.proposal)
    if request.tool is None:
        return FormMessage(type="form", request_id=request_id, form=form, message="")
    form["label"] = f"Arguments of {request.tool.name}"
    return FormMessage(
        type="form",
        request_id=request_id,
        form=only_editable(form, request.tool.editable),
        message="",
        digest=request.tool.digest,
    )


def details(store: Store, request_id: str, *, responder: str) -> DetailsMessage:
    """The request in full, with its run's status history."""
    try:
        request = store.request(request_id)
    except AnswerError as error:
        return DetailsMessage(
            type="details", request_id=request_id, details=DetailsError(error=str(error))
        )
    return DetailsMessage(
        type="details", request_id=request_id, details=request_details(store, request, responder)
    )


def request_details(store: Store, request: Request, responder: str) -> RequestDetails:
    """A request and its run's history as the browser's details view shows them."""
    facts = request_facts(request, responder)
    return RequestDetails(
        title=request.title,
        body=request.body,
        body_html=markdown_html(request.body),
        kind=request.kind.value,
        options=request.options,
        proposal=request.proposal,
        proposal_rows=None if request.proposal is None else proposal_rows(request.proposal),
        assignees=request.assignees,
        actions=facts["actions"],
        at_deadline=facts["at_deadline"],
        why_not=facts["why_not"],
        tool=facts["tool"],
        quorum=facts["quorum"],
        picks=facts["picks"],
        requested_at_ms=to_ms(request.requested_at),
        deadline_ms=None if request.deadline is None else to_ms(request.deadline),
        decided=None if request.decision is None else decided_text(request.decision),
        changes=changed_arguments(request),
        history=timeline(store.history(request.run_id)),
    )


def decided_tool_call(request: Request) -> DecidedToolCall | None:
    """A decided tool call as the run card lists it (None: not a decided tool call)."""
    if request.tool is None or request.decision is None:
        return None
    return DecidedToolCall(
        id=request.request_id,
        label=tool_label(request.tool.name),
        decided=decided_text(request.decision),
        changes=changed_arguments(request),
    )


def timeline(history: list[StatusEvent]) -> list[TimelineEntry]:
    """A run's status transitions as the browser draws them."""
    return [TimelineEntry(status=e.status, detail=e.detail, at_ms=to_ms(e.at)) for e in history]
