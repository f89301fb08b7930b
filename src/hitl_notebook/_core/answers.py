"""The one rule that says whether an answer fits a request, and what it resolves to.

Every channel (Python, widget, CLI, HTTP) reaches this rule through the store, before anything is
stored. Proposals, and the forms input requests ask to fill, are checked against their JSON
schema, so a process without the agent's code can validate too; where the pydantic model is
loaded in the answering process, it runs as well. A multiple choice takes ``choices``: each one
of the options, none twice, as many as its count rule says (``pick_rule``); it resolves to them in
the options' order. An input request is answered with its form (``value``) and is never
declined: a person who will not fill it in cancels the run.
"""

from __future__ import annotations

import importlib
import re
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from hitl_notebook._core.errors import InvalidAnswerError
from hitl_notebook._core.models import (
    Answer,
    Decision,
    Outcome,
    Request,
    RequestKind,
    RequestState,
    Sender,
)
from hitl_notebook._core.times import from_ms

__all__ = [
    "APPROVE_WORDS",
    "REJECT_WORDS",
    "Resolution",
    "answer_for_response",
    "at_deadline",
    "changed_fields",
    "choice_problems",
    "decided_request",
    "decision_for",
    "model_path",
    "pick_rule",
    "preload_validator",
    "resolve",
    "resolve_model",
]

APPROVE_WORDS = ("approve", "approved", "confirm", "confirmed", "yes")
"""One-word responses that approve (the DBOS guide's agents answer ``"confirm"``)."""
REJECT_WORDS = ("reject", "rejected", "deny", "denied", "no")
"""One-word responses that reject (the DBOS guide's ``"deny"``)."""

_FIELDS_BY_KIND = {
    RequestKind.APPROVAL: {"approve", "value"},
    RequestKind.EDIT: {"approve", "value"},
    RequestKind.CHOICE: {"choice"},
    RequestKind.TEXT: {"text"},
    RequestKind.INPUT: {"value"},
}
_HOW_TO_ANSWER = {
    RequestKind.APPROVAL: "approve=True (optionally with value=<edited proposal>) or approve=False",
    RequestKind.EDIT: "approve=True with value=<edited proposal>, or approve=False",
    RequestKind.CHOICE: "choice=<one of the options>",
    RequestKind.TEXT: "text=<your answer>",
    RequestKind.INPUT: "value=<the form's fields>",
}
_HOW_TO_PICK = "choices=<a list of the options>"
_NAMED = 5
"""How many wrong picks of one kind an error names."""


@dataclass(frozen=True)
class Resolution:
    """What a valid answer resolves a request to."""

    outcome: Outcome
    approved: bool | None
    value: Any


def at_deadline(request: Request) -> Resolution:
    """What ``request`` resolves to when its deadline passes unanswered: timed out, with its
    default answer's approval and value if it has one (``on_timeout="default"``)."""
    if request.default_answer is None:
        return Resolution(Outcome.TIMED_OUT, None, None)
    resolution = resolve(request, request.default_answer)
    return Resolution(Outcome.TIMED_OUT, resolution.approved, resolution.value)


def decision_for(request: Request, resolution: Resolution, sender: Sender) -> Decision:
    """The decision that resolves ``request`` to ``resolution``, sent by ``sender``: what the
    request's row holds once decided, and what a read of it returns."""
    return Decision(
        request_id=request.request_id,
        run_id=request.run_id,
        kind=request.kind,
        outcome=resolution.outcome,
        approved=resolution.approved,
        value=resolution.value,
        by=sender.by,
        at=from_ms(sender.at_ms),
        channel=sender.channel,
        comment=sender.comment,
        requested_at=request.requested_at,
        deadline=request.deadline,
        tool=request.tool.name if request.tool else None,
        digest=request.tool.digest if request.tool else None,
    )


def decided_request(request: Request, decision: Decision) -> Request:
    """``request`` (read open) as deciding it with ``decision`` leaves it."""
    return request.model_copy(update={"decision": decision, "state": RequestState.DECIDED})


def preload_validator() -> None:
    """Import jsonschema in the background (it takes seconds where its format extras are
    installed), so that the first edited answer does not stall a notebook cell."""
    threading.Thread(
        target=importlib.import_module, args=("jsonschema",), name="hitl-preload", daemon=True
    ).start()


def model_path(model: type[BaseModel]) -> str:
    """Where a pydantic model class lives, as ``module:qualname``."""
    return f"{model.__module__}:{model.__qualname__}"


def resolve_model(path: str | None) -> type[BaseModel] | None:
    """The pydantic model at ``path`` if its module is already loaded here (nothing is imported)."""
    if not path:
        return None
    module_name, _, qualname = path.partition(":")
    obj: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) and issubclass(obj, BaseModel) else None


def pick_rule(least: int, most: int) -> str:
    """How many options a multiple choice takes, in people's words: ``pick 1 to 3``,
    ``pick exactly 2``, ``pick up to 3``."""
    if least == most:
        return f"pick exactly {least}"
    if least == 0:
        return f"pick up to {most}"
    return f"pick {least} to {most}"


def choice_problems(options: list[str], chosen: list[str], least: int, most: int) -> list[str]:
    """What is wrong with picking ``chosen`` among ``options`` (empty: nothing); a long list
    of wrong picks is named by its first few."""
    counts = Counter(chosen)
    unknown = [c for c in counts if c not in options]
    twice = [c for c, n in counts.items() if n > 1]
    problems = [f"{c!r} is not one of the options {options}" for c in unknown[:_NAMED]]
    problems += [f"{c!r} is picked more than once" for c in twice[:_NAMED]]
    if len(unknown) + len(twice) > 2 * _NAMED:
        problems.append("and more picks that do not fit")
    if not least <= len(chosen) <= most:
        problems.append(f"{pick_rule(least, most)} of the options, not {len(chosen)}")
    return problems


def resolve(request: Request, answer: Answer) -> Resolution:
    """Check ``answer`` against ``request``; raise InvalidAnswerError listing every problem."""
    given = {name for name in Answer.model_fields if getattr(answer, name) is not None}
    allowed, how = _FIELDS_BY_KIND[request.kind], _HOW_TO_ANSWER[request.kind]
    if request.picks is not None:
        allowed, how = {"choices"}, f"{_HOW_TO_PICK} ({pick_rule(*request.picks)})"
    problems = [_does_not_apply(request, name) for name in sorted(given - allowed)]
    if not given & allowed:
        problems.append(f"{_a(request)} request is answered with {how}")
    if problems:
        raise InvalidAnswerError(request.request_id, problems)
    if request.kind is RequestKind.CHOICE:
        return _resolve_choice(request, answer)
    if request.kind is RequestKind.TEXT:
        return _resolve_text(request, answer)
    if request.kind is RequestKind.INPUT:
        assert answer.value is not None
        return Resolution(Outcome.ANSWERED, None, _validated_value(request, answer.value))
    return _resolve_approval(request, answer)


def _does_not_apply(request: Request, name: str) -> str:
    if request.kind is RequestKind.CHOICE and name == "choice":
        return f"'choice' does not apply: this choice takes several options, {_HOW_TO_PICK}"
    if request.kind is RequestKind.CHOICE and name == "choices":
        return f"'choices' does not apply: this choice takes one option, {_HOW_TO_ANSWER[request.kind]}"
    if request.kind is RequestKind.INPUT and name == "approve":
        return (
            "'approve' does not apply: an input request is not approved or declined but "
            "filled in; to stop the run instead, cancel it"
        )
    return f"{name!r} does not apply to {_a(request)} request"


def answer_for_response(request: Request, response: str) -> Answer:
    """A one-word response, as the DBOS guide's agents are answered, as an answer to ``request``.

    An approval or edit takes an approving or rejecting word (``"confirm"``, ``"deny"``...), a
    choice one of its options, a text request any text.
    """
    if request.multiple:
        return Answer(choices=[response])
    if request.kind is RequestKind.CHOICE:
        return Answer(choice=response)
    if request.kind is RequestKind.TEXT:
        return Answer(text=response)
    if request.kind is RequestKind.INPUT:
        raise InvalidAnswerError(
            request.request_id,
            [f"an input request is answered with {_HOW_TO_ANSWER[request.kind]}, not a response"],
        )
    word = response.strip().lower()
    if word in APPROVE_WORDS or word in REJECT_WORDS:
        return Answer(approve=word in APPROVE_WORDS)
    raise InvalidAnswerError(
        request.request_id,
        [
            f"{response!r} is not a response to {_a(request)} request; "
            f"say one of {', '.join(APPROVE_WORDS)} to approve or "
            f"{', '.join(REJECT_WORDS)} to reject"
        ],
    )


def _a(request: Request) -> str:
    """``an approval``, ``a choice``, ``a multiple choice``: the request's kind with its article."""
    if request.multiple:
        return "a multiple choice"
    kind = request.kind.value
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _resolve_choice(request: Request, answer: Answer) -> Resolution:
    options = request.options or []
    if request.picks is not None:
        chosen = list(answer.choices or [])
        problems = choice_problems(options, chosen, *request.picks)
        if problems:
            raise InvalidAnswerError(request.request_id, problems)
        return Resolution(Outcome.CHOSE, None, [o for o in options if o in chosen])
    if answer.choice not in options:
        raise InvalidAnswerError(
            request.request_id, [f"{answer.choice!r} is not one of the options {options}"]
        )
    return Resolution(Outcome.CHOSE, None, answer.choice)


def _resolve_text(request: Request, answer: Answer) -> Resolution:
    text = answer.text or ""
    if not text.strip():
        raise InvalidAnswerError(request.request_id, ["the text answer is empty"])
    return Resolution(Outcome.ANSWERED, None, text)


def _resolve_approval(request: Request, answer: Answer) -> Resolution:
    if answer.approve is None:
        raise InvalidAnswerError(
            request.request_id,
            [f"say approve=True or approve=False ({_HOW_TO_ANSWER[request.kind]})"],
        )
    if not answer.approve:
        if answer.value is not None:
            raise InvalidAnswerError(
                request.request_id, ["an edited value only goes with approve=True"]
            )
        return Resolution(Outcome.REJECTED, False, None)
    if answer.value is None:
        return Resolution(Outcome.APPROVED, True, request.proposal)
    if request.proposal_schema is None:
        raise InvalidAnswerError(
            request.request_id, ["this request has no proposal, so there is nothing to edit"]
        )
    value = _validated_value(request, answer.value)
    _check_editable(request, value)
    outcome = Outcome.APPROVED if value == request.proposal else Outcome.EDITED
    return Resolution(outcome, True, value)


def changed_fields(proposal: dict[str, Any], value: dict[str, Any]) -> list[str]:
    """The top-level fields an edit changed (for a tool call: its arguments), in the proposal's
    order, then the fields it added: what the editable rule checks and every face shows."""
    return [
        name for name in dict.fromkeys([*proposal, *value]) if proposal.get(name) != value.get(name)
    ]


def _check_editable(request: Request, value: dict[str, Any]) -> None:
    """A tool call's arguments that are not editable must come back as proposed."""
    if request.tool is None or request.tool.editable is None:
        return
    changed = sorted(
        name
        for name in changed_fields(request.proposal or {}, value)
        if name not in request.tool.editable
    )
    if changed:
        allowed = ", ".join(request.tool.editable) or "none"
        raise InvalidAnswerError(
            request.request_id,
            [f"{name}: may not be edited (editable arguments: {allowed})" for name in changed],
        )


def _validated_value(request: Request, value: dict[str, Any]) -> dict[str, Any]:
    """``value`` (an edited proposal, a filled form) checked against the stored JSON schema,
    then by the pydantic model where it is loaded; its problems name the fields."""
    import jsonschema  # noqa: PLC0415 - slow to import: preloaded in the background at launch

    assert request.proposal_schema is not None
    validator = jsonschema.Draft202012Validator(request.proposal_schema)
    problems = [
        _schema_problem(error)
        for error in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    ]
    if problems:
        raise InvalidAnswerError(request.request_id, problems)
    model_class = resolve_model(request.proposal_model)
    if model_class is None:
        return value
    try:
        return model_class.model_validate(value).model_dump(mode="json")
    except ValidationError as error:
        raise InvalidAnswerError(
            request.request_id,
            [
                f"{'/'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}"
                for e in error.errors()
            ],
        ) from None


def _schema_problem(error: Any) -> str:
    """A JSON schema error as ``path: message``; a missing field is named by its own path
    (``amount: a value is required``), so that a form shows it at the field."""
    path = [str(p) for p in error.absolute_path]
    missing = re.fullmatch(r"'([^'/]+)' is a required property", error.message)
    if error.validator == "required" and missing:
        return f"{'/'.join([*path, missing.group(1)])}: a value is required"
    return f"{'/'.join(path) or 'value'}: {error.message}"
