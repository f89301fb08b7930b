"""The one rule that says whether an answer fits a request, and what it resolves to.

Every channel (Python, widget, CLI, HTTP) reaches this rule through the store, before anything is
stored. Proposals are checked against their JSON schema, so a process without the agent's code can
validate too; where the proposal's pydantic model is loaded in the answering process, it runs as well.
"""

from __future__ import annotations

import importlib
import sys
import threading
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from hitl_notebook._core.errors import InvalidAnswerError
from hitl_notebook._core.models import Answer, Outcome, Request, RequestKind

__all__ = [
    "APPROVE_WORDS",
    "REJECT_WORDS",
    "Resolution",
    "answer_for_response",
    "changed_fields",
    "model_path",
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
}
_HOW_TO_ANSWER = {
    RequestKind.APPROVAL: "approve=True (optionally with value=<edited proposal>) or approve=False",
    RequestKind.EDIT: "approve=True with value=<edited proposal>, or approve=False",
    RequestKind.CHOICE: "choice=<one of the options>",
    RequestKind.TEXT: "text=<your answer>",
}


@dataclass(frozen=True)
class Resolution:
    """What a valid answer resolves a request to."""

    outcome: Outcome
    approved: bool | None
    value: Any


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


def resolve(request: Request, answer: Answer) -> Resolution:
    """Check ``answer`` against ``request``; raise InvalidAnswerError listing every problem."""
    given = {name for name in Answer.model_fields if getattr(answer, name) is not None}
    allowed = _FIELDS_BY_KIND[request.kind]
    problems = [
        f"{name!r} does not apply to {_a(request.kind)} request" for name in sorted(given - allowed)
    ]
    if not given & allowed:
        problems.append(
            f"{_a(request.kind)} request is answered with {_HOW_TO_ANSWER[request.kind]}"
        )
    if problems:
        raise InvalidAnswerError(request.request_id, problems)
    if request.kind is RequestKind.CHOICE:
        return _resolve_choice(request, answer)
    if request.kind is RequestKind.TEXT:
        return _resolve_text(request, answer)
    return _resolve_approval(request, answer)


def answer_for_response(request: Request, response: str) -> Answer:
    """A one-word response, as the DBOS guide's agents are answered, as an answer to ``request``.

    An approval or edit takes an approving or rejecting word (``"confirm"``, ``"deny"``...), a
    choice one of its options, a text request any text.
    """
    if request.kind is RequestKind.CHOICE:
        return Answer(choice=response)
    if request.kind is RequestKind.TEXT:
        return Answer(text=response)
    word = response.strip().lower()
    if word in APPROVE_WORDS or word in REJECT_WORDS:
        return Answer(approve=word in APPROVE_WORDS)
    raise InvalidAnswerError(
        request.request_id,
        [
            f"{response!r} is not a response to {_a(request.kind)} request; "
            f"say one of {', '.join(APPROVE_WORDS)} to approve or "
            f"{', '.join(REJECT_WORDS)} to reject"
        ],
    )


def _a(kind: RequestKind) -> str:
    return f"{'an' if kind.value[0] in 'aeiou' else 'a'} {kind.value}"


def _resolve_choice(request: Request, answer: Answer) -> Resolution:
    options = request.options or []
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
    value = _validated_proposal(request, answer.value)
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


def _validated_proposal(request: Request, value: dict[str, Any]) -> dict[str, Any]:
    import jsonschema  # noqa: PLC0415 - slow to import: preloaded in the background at launch

    assert request.proposal_schema is not None
    validator = jsonschema.Draft202012Validator(request.proposal_schema)
    problems = [
        f"{'/'.join(str(p) for p in error.absolute_path) or 'value'}: {error.message}"
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
