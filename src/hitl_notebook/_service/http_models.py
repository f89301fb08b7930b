"""The HTTP API's wire types: request bodies, responses and error bodies (pydantic, in OpenAPI).

Bodies refuse fields they do not know, naming them (a misspelt or misplaced field would otherwise
be dropped silently: an answer would arrive empty). Answers and starts refuse NUL characters
anywhere (no database stores them in text), so a bad body is a 422, never a server error. Run
states are people's words (``RunStateWord``), never DBOS's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from hitl_notebook._core.models import (
    Answer,
    Decision,
    Reply,
    Request,
    RequestKind,
    RunStateWord,
    StatusEvent,
    ToolCall,
    Vote,
)
from hitl_notebook._core.quorum import Ballot, Quorum

__all__ = [
    "CHANNEL",
    "MAX_QUERY_TEXT",
    "NAME_PATTERN",
    "TEXT_PATTERN",
    "AnswerBody",
    "Body",
    "BulkAnswerBody",
    "BulkAnswered",
    "ErrorDetail",
    "ErrorResponse",
    "ParseErrorResponse",
    "QueryText",
    "RunDetail",
    "RunFailure",
    "RunListing",
    "RunSummary",
    "StartBody",
    "Started",
    "ValidationErrorResponse",
    "VoteBody",
    "Voted",
    "WaitingRequest",
    "no_nul",
]

CHANNEL = "http"
"""The channel answers and cancels over HTTP are recorded with."""
NAME_PATTERN = r"^[A-Za-z0-9_.:\-]{1,200}$"
TEXT_PATTERN = r"^[^\x00]*$"
MAX_QUERY_TEXT = 1000
"""The longest text a query parameter takes, in characters."""
QueryText = Annotated[str, Field(pattern=TEXT_PATTERN, max_length=MAX_QUERY_TEXT)]
"""A text query parameter: no NUL (no database stores it), at most ``MAX_QUERY_TEXT`` long."""
MAX_BULK = 500
"""At most this many targets in one bulk answer."""
MAX_NAMED = 10
"""At most this many unknown fields are named in a refusal."""

RunListing = Literal["waiting", "running", "done", "failed", "cancelled"]
"""Which runs ``GET /agents?status=`` lists: waiting for a human (parked ones included), running
(started and not ended, not waiting for a human), done, failed (gave up included), cancelled."""


def no_nul(value: Any, info: ValidationInfo) -> Any:
    """Refuse NUL characters anywhere in a field's value (no database stores them in text),
    saying where: ``value.note``, ``args[0]``, a key in ``kwargs``."""
    pending: list[tuple[str, Any]] = [(info.field_name or "value", value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, str) and "\x00" in item:
            raise ValueError(f"{where} holds a NUL character, which no database stores in text")
        if isinstance(item, dict):
            for key, inner in item.items():
                if "\x00" in key:
                    raise ValueError(f"a key in {where} holds a NUL character")
                pending.append((f"{where}.{key}", inner))
        if isinstance(item, list):
            pending.extend((f"{where}[{i}]", inner) for i, inner in enumerate(item))
    return value


class ErrorDetail(BaseModel):
    """What went wrong: the Python error's class and its message."""

    error: str
    message: str


class ErrorResponse(BaseModel):
    """The body of every error response."""

    detail: ErrorDetail


class ValidationErrorResponse(BaseModel):
    """422: a body or parameter that does not validate, or an answer that does not fit."""

    detail: ErrorDetail | list[dict[str, Any]]


class ParseErrorResponse(BaseModel):
    """400: the body is not JSON."""

    detail: str


class Body(BaseModel):
    """A request body: a field it does not know is refused (422), named, never dropped."""

    model_config = ConfigDict(extra="forbid")

    hints: ClassVar[dict[str, str]] = {}
    """Why a field that callers tend to send is not one (shown when it is sent)."""

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [key for key in data if key not in cls.model_fields]
            if unknown:
                raise PydanticCustomError("extra_forbidden", _unknown_fields(cls, unknown))
        return data


def _unknown_fields(body: type[Body], unknown: list[str]) -> str:
    named = ", ".join(repr(key[:100]) for key in unknown[:MAX_NAMED])
    if len(unknown) > MAX_NAMED:
        named += f" and {len(unknown) - MAX_NAMED} more"
    hints = [body.hints[key] for key in unknown if key in body.hints]
    return (
        f"unknown field{'s' if len(unknown) > 1 else ''} {named}"
        + "".join(f"; {hint}" for hint in hints)
        + f"; the fields are {', '.join(body.model_fields)}"
    )


class AnswerBody(Body, Answer):
    """An answer: fill the field that fits the request's kind (see ``hitl.Answer``), or send
    ``response`` alone as the DBOS guide does (``{"response": "confirm"}``).

    Who answers is the authenticated caller: a ``by`` field is refused (422).
    """

    hints: ClassVar[dict[str, str]] = {
        "by": "who answers is the authenticated caller (the identity of the bearer token), "
        "never a field of the body",
        "channel": f"an answer over HTTP is recorded with the channel {CHANNEL!r}",
    }

    response: str | None = Field(
        default=None,
        description=(
            "A one-word answer, as the DBOS guide sends it: confirm, approve or yes (deny, "
            "reject or no) for an approval or edit, an option for a choice, the text for a "
            "text request. Goes alone: not with approve, choice, choices, text or value."
        ),
    )
    comment: str | None = Field(default=None, description="A comment for the record.")
    digest: str | None = Field(
        default=None,
        max_length=200,
        pattern=TEXT_PATTERN,
        description=(
            "For a tool call: the digest of the call the answer was given for (the request's "
            "`tool.digest`, as listed). An answer for another call, a stale form or a replayed "
            "link, is refused (422, StaleAnswerError) and nothing is stored."
        ),
    )

    _checked = field_validator("choice", "choices", "text", "value", "response", "comment")(no_nul)

    def reply(self, by: str) -> Reply:
        """The answer as the store takes it, sent by ``by`` over HTTP."""
        sent = {name: getattr(self, name) for name in AnswerBody.model_fields}
        return Reply(**sent, by=by, channel=CHANNEL)


class BulkAnswerBody(AnswerBody):
    """The same answer to many requests ("approve these 40"), each validated and stored alone.

    A ``digest`` names one tool call: with several targets, answer each call on its own."""

    targets: list[str] = Field(
        min_length=1, max_length=MAX_BULK, description="Request ids, or ids of runs waiting once."
    )

    _targets_checked = field_validator("targets")(no_nul)

    @model_validator(mode="after")
    def _one_call_per_digest(self) -> BulkAnswerBody:
        if self.digest is not None and len(self.targets) > 1:
            raise ValueError(
                "a digest names one tool call; answer each call on its own "
                "(POST /requests/{request_id}/respond)"
            )
        return self


class BulkAnswered(BaseModel):
    """What a bulk answer did: the decision per answered target, the error per refused one."""

    decided: dict[str, Decision]
    failed: dict[str, ErrorDetail]


class StartBody(Body):
    """Start a run of an agent with ``run(*args, **kwargs)``; the caller is its requester."""

    hints: ClassVar[dict[str, str]] = {
        "requester": "the run's requester is the authenticated caller (the identity of the "
        "bearer token), never a field of the body",
    }

    agent: str = Field(pattern=NAME_PATTERN, description="The agent's name (its class name).")
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = Field(
        default=None, pattern=NAME_PATTERN, description="Starts the run once for one id."
    )

    _checked = field_validator("args", "kwargs")(no_nul)

    @field_validator("kwargs")
    @classmethod
    def _not_reserved(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        reserved = {"run_id", "requester"} & set(kwargs)
        if reserved:
            raise ValueError(f"{', '.join(sorted(reserved))} cannot be passed to run()")
        return kwargs


class Started(BaseModel):
    """A run that was started here or queued for the workers."""

    run_id: str
    agent: str
    queued: bool = Field(description="True: queued for `hitl worker` processes.")
    requester: str


_STATUS = "The run's current status, as the SDK publishes it (waiting, resumed...) or the agent."
_AGENT_STATUS = (
    "The agent's own last status (e.g. 'pending_approval'), still shown while the SDK's "
    "status says the run waits; None before the agent publishes one."
)


class WaitingRequest(BaseModel):
    """One request waiting for a human, as the inbox lists it."""

    request_id: str
    run_id: str
    agent: str
    kind: RequestKind
    title: str
    body: str | None
    options: list[str] | None
    multiple: bool = Field(
        default=False,
        description="For a choice: true when several options are picked (answer with "
        "`choices`, from `min_choices` to `max_choices` of them); false: one (`choice`).",
    )
    min_choices: int | None = Field(
        default=None, description="For a multiple choice: the fewest options to pick."
    )
    max_choices: int | None = Field(
        default=None, description="For a multiple choice: the most options to pick."
    )
    input_schema: dict[str, Any] | None = Field(
        default=None,
        description="For an input request: the JSON schema of the form to fill in; answer "
        "with `value`, an object of its fields.",
    )
    proposal: dict[str, Any] | None
    assignees: list[str]
    requested_at: datetime
    deadline: datetime | None
    seconds_left: float | None
    overdue: bool
    agent_status: str | None = Field(description=_AGENT_STATUS)
    status_detail: str | None = Field(description="The detail of the agent's own status.")
    run_state: RunStateWord
    tool: ToolCall | None = Field(
        default=None,
        description="For a tool call: the tool, its docstring, the call's digest (send it back "
        "with the answer), its index in the run and the arguments a person may edit "
        "(null: all). `proposal` holds the arguments.",
    )
    quorum: Quorum | None = Field(
        default=None,
        description="The approvals it needs (k of the people `of`, a rejection vetoes when "
        "`veto`): people vote on it with POST /requests/{id}/votes; null: one answer decides.",
    )
    votes: list[Ballot] = Field(
        default_factory=list, description="The votes cast so far on a quorum request."
    )
    not_notified: list[str] = Field(
        default_factory=list,
        description="The channels that gave up telling people about it (a send failed for "
        "good; the run's history says why); empty: none failed.",
    )


class VoteBody(Body):
    """A vote on a request that needs several approvals (``hitl.Quorum``).

    Who votes is the authenticated caller: a ``by`` field is refused (422).
    """

    hints: ClassVar[dict[str, str]] = {
        "by": "who votes is the authenticated caller (the identity of the bearer token), "
        "never a field of the body",
        "channel": f"a vote over HTTP is recorded with the channel {CHANNEL!r}",
    }

    approve: bool = Field(
        description="true to approve, false to reject (a veto, if the rule has one)."
    )
    comment: str | None = Field(default=None, description="A comment for the record.")
    digest: str | None = Field(
        default=None,
        max_length=200,
        pattern=TEXT_PATTERN,
        description="For a tool call: the digest of the call the vote was given for.",
    )

    _checked = field_validator("comment")(no_nul)


class Voted(BaseModel):
    """What one vote did: the vote, how far the votes are, and the decision if it decided."""

    vote: Ballot
    progress: str = Field(description="How far the votes are: '1 of 2 approvals'.")
    approvals: list[str] = Field(description="Who approved so far, in order.")
    rejections: list[str] = Field(description="Who rejected so far, in order.")
    decision: Decision | None = Field(
        description="The request's decision when this vote met the rule (null: it still waits)."
    )

    @classmethod
    def of(cls, vote: Vote) -> Voted:
        """The response for ``vote``."""
        return cls(
            vote=vote.ballot,
            progress=vote.tally.progress,
            approvals=vote.tally.approvals,
            rejections=vote.tally.rejections,
            decision=vote.decision,
        )


class RunSummary(BaseModel):
    """One run and its current status."""

    run_id: str
    agent: str
    status: str = Field(description=_STATUS)
    detail: str | None
    progress: float | None
    agent_status: str | None = Field(description=_AGENT_STATUS)
    agent_detail: str | None = Field(description="The detail of the agent's own status.")
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    waiting_since: datetime | None
    open_requests: int
    run_state: RunStateWord


class RunFailure(BaseModel):
    """Why a run failed: its exception's type and message."""

    type: str = Field(description="The exception's class name, e.g. 'ValueError'.")
    message: str


class RunDetail(BaseModel):
    """One run: its state, current status, the agent's own status, its requests, and once it
    has ended its result or its error."""

    run_id: str
    agent: str | None = Field(description="None for a queued run that has not started.")
    state: RunStateWord
    status: StatusEvent | None = Field(description=_STATUS)
    agent_status: str | None = Field(description=_AGENT_STATUS)
    agent_detail: str | None = Field(description="The detail of the agent's own status.")
    requests: list[Request]
    result: Any = Field(
        default=None,
        description=(
            "A done run's return value as JSON (a pydantic model as its fields); a value with "
            "no JSON form (an arbitrary object, NaN) is given as its repr, a string."
        ),
    )
    error: RunFailure | None = Field(default=None, description="A failed run's exception.")
