"""The domain, as pydantic types: statuses, requests to a human, answers and decisions. No DBOS here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hitl_notebook._core.quorum import Ballot, Quorum, Tally

__all__ = [
    "WHAT_IF_CHANNEL",
    "Answer",
    "Decision",
    "Outcome",
    "Reply",
    "Request",
    "RequestKind",
    "RequestState",
    "RunStateWord",
    "Sender",
    "Status",
    "StatusEvent",
    "ToolCall",
    "Vote",
    "pick_range",
    "run_state_word",
    "who_decided",
]


class Status(StrEnum):
    """The statuses the SDK publishes by itself; agents may publish any other word too."""

    WORKING = "working"
    WAITING = "waiting"
    ANSWERED = "answered"
    """Answered while the run's process is not running: it resumes when that process runs again."""
    RESUMED = "resumed"
    TIMED_OUT = "timed_out"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset({Status.FINISHED, Status.FAILED, Status.CANCELLED})
WAITING_STATUSES = frozenset({Status.WAITING, Status.ANSWERED, Status.RESUMED, Status.TIMED_OUT})
"""What the SDK says of a run's wait for a human; every other status is the agent's own."""

WHAT_IF_CHANNEL = "what-if"
"""The channel of a decision taken by a what-if fork (``RunHandle.fork``): the answer given to
the fork, not one a person sent to the original request."""


class RequestKind(StrEnum):
    """What a request asks of a human."""

    APPROVAL = "approval"
    """Approve or reject; a proposal, if given, may be edited before approving."""
    CHOICE = "choice"
    """Pick one of the offered options."""
    TEXT = "text"
    """Write a free-text answer."""
    EDIT = "edit"
    """Review a proposal, edit it and submit it (or reject it)."""
    INPUT = "input"
    """Fill in a form from scratch: the fields of a pydantic model, with no proposal."""


class RequestState(StrEnum):
    """Where a request stands."""

    OPEN = "open"
    """Waiting for an answer (or for its deadline)."""
    DECIDED = "decided"
    """Answered, or decided by its deadline: see its ``decision``."""
    CANCELLED = "cancelled"
    """Its run was cancelled before anybody decided it; it takes no answer."""


RunStateWord = Literal[
    "waiting",
    "running",
    "parked",
    "resuming",
    "queued",
    "done",
    "failed",
    "cancelled",
    "gave up",
    "unknown",
]
"""A run's state in people's words (``run_state_word``): waiting for a human, running, parked
(waiting with its thread released), resuming, queued (not started), done, failed, cancelled,
gave up (after too many restarts); unknown if the engine lost it."""

_RUN_STATE_WORDS: dict[str, RunStateWord] = {
    "PENDING": "running",
    "ENQUEUED": "resuming",
    "DELAYED": "parked",
    "SUCCESS": "done",
    "ERROR": "failed",
    "CANCELLED": "cancelled",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED": "gave up",
}


def run_state_word(
    state: str | None, *, waiting: bool = False, started: bool = True
) -> RunStateWord:
    """What people call a run's engine state: waiting, running, parked, resuming, queued, done,
    failed, cancelled or gave up (after too many restarts); never DBOS's own words.

    ``waiting``: the run has an open request (a running run then waits for a human);
    ``started``: the run has begun (an enqueued run that has not is ``queued``).
    """
    if state == "PENDING" and waiting:
        return "waiting"
    if state == "ENQUEUED" and not started:
        return "queued"
    return _RUN_STATE_WORDS.get(state or "", "unknown")


class Outcome(StrEnum):
    """What a request resolved to."""

    APPROVED = "approved"
    REJECTED = "rejected"
    EDITED = "edited"
    ANSWERED = "answered"
    CHOSE = "chose"
    TIMED_OUT = "timed_out"


class StatusEvent(BaseModel):
    """One status transition of a run."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    agent: str
    status: str
    detail: str | None = None
    progress: float | None = None
    at: datetime


class Answer(BaseModel):
    """What a human sends for a request. Fill the field that fits the request's kind.

    - approval / edit: ``approve=True`` (optionally with ``value``, the edited proposal) or
      ``approve=False``;
    - choice: ``choice``, one of the offered options; a multiple choice: ``choices``, several;
    - text: ``text``;
    - input: ``value``, the form's fields (an input request is answered, never declined).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    approve: bool | None = None
    choice: str | None = None
    choices: list[str] | None = Field(
        default=None, description="The options picked, for a multiple choice."
    )
    text: str | None = None
    value: dict[str, Any] | None = Field(
        default=None,
        description="The edited proposal (approval and edit requests), or the filled form "
        "(input requests).",
    )


@dataclass(frozen=True, kw_only=True)
class Reply:
    """An answer as a channel sends it, not checked yet: the fields of an ``Answer`` (or
    ``response``, a one-word answer as the DBOS guide sends it), who sends it, through which
    channel, and a comment. Every channel hands one to the store, whose one rule checks it."""

    approve: bool | None = None
    choice: str | None = None
    choices: Sequence[str] | None = None
    """The options picked, for a multiple choice."""
    text: str | None = None
    value: Any = None
    """The edited proposal, or an input request's form: a dict, or an instance of the model."""
    response: str | None = None
    by: str | None = None
    comment: str | None = None
    channel: str
    digest: str | None = None
    """For a tool call: the digest of the call the answer was given for (from the form, the link
    or the listing); an answer for another call is refused (``StaleAnswerError``)."""

    def answer_fields(self) -> dict[str, Any]:
        """The fields an ``Answer`` has, as sent."""
        return {name: getattr(self, name) for name in Answer.model_fields}

    def sent(self, at_ms: int) -> Sender:
        """Who sent this reply, through which channel, with which comment, arriving at ``at_ms``."""
        return Sender(by=self.by, channel=self.channel, comment=self.comment, at_ms=at_ms)


@dataclass(frozen=True, slots=True)
class Sender:
    """Where an answer (or a decision) came from, as the answer log and the request keep it:
    who (None: anonymous, or the deadline), through which channel, with which comment, and when
    it arrived (ms since the epoch)."""

    by: str | None
    channel: str
    comment: str | None
    at_ms: int

    @classmethod
    def deadline(cls, at_ms: int) -> Sender:
        """The deadline, deciding a request nobody answered in time."""
        return cls(by=None, channel="timeout", comment=None, at_ms=at_ms)


def pick_range(
    multiple: bool, least: int | None, most: int | None, options: list[str] | None
) -> tuple[int, int] | None:
    """A multiple choice's fewest and most picks, as stored (``max`` None: every option); None
    for any other request."""
    if not multiple:
        return None
    return (least or 0, len(options or []) if most is None else most)


def who_decided(by: str | None, outcome: str) -> str:
    """Who decided a request, for people (see ``Decision.who``)."""
    if by is not None:
        return by
    return "the deadline" if outcome == Outcome.TIMED_OUT else "someone anonymous"


class ToolCall(BaseModel):
    """The tool call a request asks about: an LLM (or the agent's code) wants to call ``name``
    with the request's ``proposal`` as its arguments, and a person approves, edits or denies it."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str | None = None
    """The tool's docstring, as the model sees it."""
    digest: str
    """sha256 over the tool, the run, the call's index in the run and the canonical JSON of the
    validated arguments: what an answer is bound to."""
    call_index: int
    """1 for the run's first tool call that asks, 2 for the second..."""
    editable: list[str] | None = None
    """The arguments a person may change (None: all of them; empty: none)."""


class Request(BaseModel):
    """One question to a human inside a run, with its own id, deadline and allowed answers."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    request_id: str
    run_id: str
    agent: str
    kind: RequestKind
    title: str
    body: str | None = None
    options: list[str] | None = None
    multiple: bool = False
    """For a choice: several options are picked (``Answer.choices``), from ``min_choices`` to
    ``max_choices`` of them."""
    min_choices: int | None = None
    """For a multiple choice: the fewest options a person picks."""
    max_choices: int | None = None
    """For a multiple choice: the most options a person picks."""
    proposal: dict[str, Any] | None = None
    proposal_schema: dict[str, Any] | None = None
    """The JSON schema of the proposal's model, or of the form an input request asks to fill."""
    proposal_model: str | None = None
    """Where that pydantic model lives (``module:qualname``), for validation where loaded."""
    assignees: list[str] = Field(default_factory=list)
    """Who may answer (empty: anyone)."""
    requester: str | None = None
    """Who started the run (``Agent.start(..., requester=...)``), when known."""
    allow_requester: bool = True
    """False: the run's requester may not answer this request (no approving one's own request)."""
    requested_at: datetime
    deadline: datetime | None = None
    on_timeout: str = "raise"
    """``"raise"``, or ``"default"`` when ``timeout_answer`` is applied at the deadline."""
    timeout_answer: Answer | None = None
    tool: ToolCall | None = None
    """The tool call this request is about (its arguments are the proposal), if any."""
    notify: dict[str, Any] | None = None
    """How the request reaches people (``hitl.Notify``, as stored), if it declares it."""
    quorum: Quorum | None = None
    """The approvals it needs (``hitl.Quorum``): people vote, nobody answers it alone."""
    votes: list[Ballot] = Field(default_factory=list)
    """The votes cast on a quorum request so far, oldest first (as read by the store)."""
    steps_before: int | None = None
    """How many durable steps its run had taken when it asked (None: asked by a version that
    did not record it): a what-if fork at this request reuses them."""
    forked_from: str | None = None
    """In a what-if fork, a request that stands for one of the original's (decided before the
    fork point, or the one answered otherwise): the original request's id."""
    decision: Decision | None = None
    state: RequestState = RequestState.OPEN

    @property
    def picks(self) -> tuple[int, int] | None:
        """For a multiple choice: the fewest and the most options a person picks (None: not
        a multiple choice)."""
        return pick_range(self.multiple, self.min_choices, self.max_choices, self.options)

    @property
    def is_open(self) -> bool:
        """True while the request waits for an answer (not decided, its run not cancelled)."""
        return self.state is RequestState.OPEN

    @property
    def default_answer(self) -> Answer | None:
        """The answer applied when the deadline passes unanswered (``on_timeout="default"``)."""
        return self.timeout_answer if self.on_timeout == "default" else None


class Decision(BaseModel):
    """What a request resolved to: an accepted answer, or the default applied at the deadline."""

    model_config = ConfigDict(frozen=True)

    request_id: str
    run_id: str
    kind: RequestKind
    outcome: Outcome
    approved: bool | None = None
    """For approval and edit requests: whether the proposal goes ahead (also at a timeout)."""
    value: Any = None
    """The chosen option (a multiple choice: the list of chosen options, in the options' order),
    the text, the (possibly edited) proposal or the filled form: inside the agent an instance of
    the model, read through the store its JSON form (a dict)."""
    by: str | None = None
    """Who answered; None when the deadline decided (or an anonymous DBOS message answered)."""
    at: datetime
    channel: str
    """``python``, ``cli``, ``widget``, ``http``... or ``timeout``."""
    comment: str | None = None
    requested_at: datetime
    deadline: datetime | None = None
    tool: str | None = None
    """For a tool call: the tool's name."""
    digest: str | None = None
    """For a tool call: the digest of the call that was decided (see ``ToolCall.digest``)."""

    @property
    def timed_out(self) -> bool:
        """True when nobody answered and the deadline applied the default."""
        return self.outcome is Outcome.TIMED_OUT

    @property
    def who(self) -> str:
        """Who decided, for people: the responder, "the deadline", or "someone anonymous" (an
        answer that arrived as a DBOS message naming nobody)."""
        return who_decided(self.by, self.outcome)

    @property
    def waited_seconds(self) -> float:
        """How long the request waited for its decision."""
        return (self.at - self.requested_at).total_seconds()


@dataclass(frozen=True)
class Vote:
    """What one vote did: the vote, the tally after it, and the decision if this vote decided."""

    ballot: Ballot
    tally: Tally
    decision: Decision | None
    """The request's decision when this vote met the rule (None: it still waits for votes)."""

    @property
    def decided(self) -> bool:
        """True when this vote decided the request."""
        return self.decision is not None

    def __str__(self) -> str:
        done = "" if self.decision is None else f"; {self.tally.outcome}: {self.tally.reason}"
        return f"{self.ballot.voter} {self.ballot.word}: {self.tally.progress}{done}"


Request.model_rebuild()
