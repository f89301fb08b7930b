"""The ``hitl`` commands that act on runs: ``respond`` (one answer, or the same answer for many
requests), ``vote`` (on a request that needs several approvals) and ``cancel``. Each goes
through the store's one rule, as every channel does. ``--choose`` picks an option; repeated, it
picks several for a multiple choice (one ``--choose`` for a multiple choice picks one: the
command reads whether the request takes several). ``--input-json`` fills in an input request's
form, ``--edit-json`` approves an edited proposal; both take a JSON object. ``respond --digest``
binds an answer to the tool call ``hitl show`` printed: if the request now asks about another
call, the store refuses it (``StaleAnswerError``) and nothing is stored.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from hitl_notebook._core.errors import HitlError
from hitl_notebook._core.models import Reply, run_state_word
from hitl_notebook._service import cli_render as render
from hitl_notebook._service.cli_edge import Db, cli_words, connect, fail, plural, usage

if TYPE_CHECKING:
    from hitl_notebook._store.store import Store

__all__ = ["CHANNEL", "cancel", "respond", "vote"]

CHANNEL = "cli"

By = Annotated[
    str | None,
    typer.Option("--by", metavar="NAME", help="Who does it (default: $HITL_USER or login)."),
]


def respond(
    targets: Annotated[
        list[str],
        typer.Argument(
            metavar="ID",
            help="Request ids, or ids of runs waiting for one request. Several: the same answer "
            "for each, each on its own.",
        ),
    ],
    approve: Annotated[bool, typer.Option("--approve", help="Approve.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Reject.")] = False,
    choose: Annotated[
        list[str] | None,
        typer.Option(
            "--choose",
            metavar="OPTION",
            help="Pick this option; repeat it to pick several (a multiple choice).",
        ),
    ] = None,
    answer: Annotated[
        str | None, typer.Option("--answer", metavar="TEXT", help="Free-text answer.")
    ] = None,
    edit_json: Annotated[
        str | None,
        typer.Option(
            "--edit-json", metavar="JSON", help="Approve with this edited proposal (an object)."
        ),
    ] = None,
    input_json: Annotated[
        str | None,
        typer.Option(
            "--input-json",
            metavar="JSON",
            help="Fill in an input request's form with these fields (an object).",
        ),
    ] = None,
    by: By = None,
    comment: Annotated[
        str | None, typer.Option("--comment", metavar="TEXT", help="A comment for the record.")
    ] = None,
    digest: Annotated[
        str | None,
        typer.Option(
            "--digest",
            metavar="DIGEST",
            help="For a tool call: the digest `hitl show` printed; the answer is refused if the "
            "request now asks about another call. One ID only.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision(s) as JSON.")] = False,
    db: Db = None,
) -> None:
    """Answer waiting requests; with several targets, exit 1 if any was refused."""
    reply = _reply(approve, reject, choose, answer, edit_json, input_json, by=by, comment=comment)
    if digest is not None:
        if len(targets) != 1:
            usage("--digest names one tool call: give one ID with it.")
        reply = replace(reply, digest=digest)
    store = connect(db)
    if len(targets) == 1:
        if reply.choice is not None and _takes_several(store, targets[0]):
            reply = replace(reply, choice=None, choices=[reply.choice])
        decision = store.answer(targets[0], reply)
        print(decision.model_dump_json() if as_json else render.describe(decision))
        return
    result = store.answer_many(targets, reply)
    if as_json:
        print(render.bulk_json(result))
    else:
        for line in render.bulk_lines(targets, result, cli_words):
            print(line)
    if not result.ok:
        total = len(result.failed) + len(result.decided)
        fail(
            f"{len(result.failed)} of {plural(total, 'answer')} {_were(len(result.failed))} refused."
        )


def vote(
    target: Annotated[
        str,
        typer.Argument(
            metavar="ID", help="A request that needs several approvals, or its run's id."
        ),
    ],
    approve: Annotated[bool, typer.Option("--approve", help="Vote to approve.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Vote to reject.")] = False,
    by: By = None,
    comment: Annotated[
        str | None, typer.Option("--comment", metavar="TEXT", help="A comment for the record.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the vote as JSON.")] = False,
    db: Db = None,
) -> None:
    """Vote on a request that needs several approvals (a quorum); a person votes once."""
    if approve == reject:
        usage("Give exactly one of --approve, --reject.")
    cast = connect(db).vote(target, approve=approve, by=by, comment=comment, channel=CHANNEL)
    if as_json:
        print(render.vote_json(cast))
        return
    print(f"{cast.ballot.voter} {cast.ballot.word}: {cast.tally.progress}.")
    if cast.decision is not None:
        print(render.describe(cast.decision))


def cancel(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to cancel.")],
    by: By = None,
    db: Db = None,
) -> None:
    """Cancel a run: it stops at once, and its open requests take no answer any more."""
    from hitl_notebook._store.store import FINAL_RUN_STATES, default_responder  # noqa: PLC0415

    store = connect(db)
    state = store.run_state(run_id)
    if state in FINAL_RUN_STATES:
        print(f"Run {run_id} has already ended ({run_state_word(state)}); nothing to cancel.")
        return
    open_requests = store.requests(run_id, open_only=True)
    who = by or default_responder()
    store.cancel(run_id, by=who, channel=CHANNEL)
    print(f"Cancelled run {run_id} (by {who}).")
    for request in open_requests:
        print(f"  Its request {request.request_id} ({request.title}) takes no answer any more.")


def _were(count: int) -> str:
    return "was" if count == 1 else "were"


def _takes_several(store: Store, target: str) -> bool:
    """Whether the request ``target`` names is a multiple choice (False when there is none:
    the answer then says why)."""
    from hitl_notebook._store.answer_rule import target_request  # noqa: PLC0415 - see connect

    try:
        return target_request(store.database, target).multiple
    except HitlError:
        return False


def _reply(
    approve: bool,
    reject: bool,
    choose: list[str] | None,
    answer: str | None,
    edit_json: str | None,
    input_json: str | None,
    *,
    by: str | None,
    comment: str | None,
) -> Reply:
    """The answer of exactly one of --approve, --reject, --choose (once or repeated), --answer,
    --edit-json, --input-json."""
    given = [choose, answer, edit_json, input_json]
    if sum([approve, reject, *(option is not None for option in given)]) != 1:
        usage(
            "Give exactly one of --approve, --reject, --choose, --answer, --edit-json, "
            "--input-json."
        )
    sent = Reply(by=by, comment=comment, channel=CHANNEL)
    if approve or reject:
        return replace(sent, approve=approve)
    if choose is not None:
        return (
            replace(sent, choice=choose[0]) if len(choose) == 1 else replace(sent, choices=choose)
        )
    if answer is not None:
        return replace(sent, text=answer)
    if input_json is not None:
        return replace(sent, value=_json_object(input_json, "--input-json", "the form's fields"))
    return replace(sent, approve=True, value=_json_object(edit_json or "", "--edit-json"))


def _json_object(
    text: str, option: str, what: str = "the proposal with your edits"
) -> dict[str, Any]:
    """The JSON object of ``option`` (strict JSON: no NaN or Infinity)."""

    def not_json(name: str) -> NoReturn:
        usage(f"{option} is not valid JSON: {name} is not a number in JSON.")

    try:
        value = json.loads(text, parse_constant=not_json)
    except json.JSONDecodeError as error:
        usage(f"{option} is not valid JSON: {error}")
    except RecursionError:
        usage(f"{option} is nested too deeply.")
    if not isinstance(value, dict):
        usage(f"{option} takes a JSON object: {what}, e.g. '{{\"amount\": 10}}'.")
    return value
