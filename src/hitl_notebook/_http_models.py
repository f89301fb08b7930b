"""The HTTP API's wire types: request bodies, responses and error bodies (pydantic, in OpenAPI).

Answers and starts refuse NUL characters anywhere (no database stores them in text), so a bad
body is a 422, never a server error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hitl_notebook._models import Decision, Request, RequestKind, StatusEvent

__all__ = [
    "NAME_PATTERN",
    "TEXT_PATTERN",
    "AnswerBody",
    "BulkAnswerBody",
    "BulkAnswered",
    "ErrorDetail",
    "ErrorResponse",
    "ParseErrorResponse",
    "RunDetail",
    "RunSummary",
    "StartBody",
    "Started",
    "ValidationErrorResponse",
    "WaitingRequest",
    "no_nul",
]

NAME_PATTERN = r"^[A-Za-z0-9_.:\-]{1,200}$"
TEXT_PATTERN = r"^[^\x00]*$"
MAX_BULK = 500
"""At most this many targets in one bulk answer."""


def no_nul(value: Any) -> Any:
    """Refuse NUL characters anywhere in a value (no database stores them in text)."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    if isinstance(value, dict):
        for key, item in value.items():
            no_nul(key)
            no_nul(item)
    if isinstance(value, list):
        for item in value:
            no_nul(item)
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


class AnswerBody(BaseModel):
    """An answer: fill the field that fits the request's kind (see ``hitl.Answer``).

    Who answers is the authenticated caller; a ``by`` field in the body is ignored.
    """

    approve: bool | None = None
    choice: str | None = None
    text: str | None = None
    value: dict[str, Any] | None = Field(
        default=None, description="The edited proposal, for approval and edit requests."
    )
    comment: str | None = Field(default=None, description="A comment for the record.")

    _checked = field_validator("choice", "text", "value", "comment")(no_nul)

    def answer(self) -> dict[str, Any]:
        """The answer as ``Store.respond`` takes it (all but who answers and through what)."""
        return {
            "approve": self.approve,
            "choice": self.choice,
            "text": self.text,
            "value": self.value,
            "comment": self.comment,
        }


class BulkAnswerBody(AnswerBody):
    """The same answer to many requests ("approve these 40"), each validated and stored alone."""

    targets: list[str] = Field(
        min_length=1, max_length=MAX_BULK, description="Request ids, or ids of runs waiting once."
    )

    _targets_checked = field_validator("targets")(no_nul)


class BulkAnswered(BaseModel):
    """What a bulk answer did: the decision per answered target, the error per refused one."""

    decided: dict[str, Decision]
    failed: dict[str, ErrorDetail]


class StartBody(BaseModel):
    """Start a run of an agent with ``run(*args, **kwargs)``."""

    model_config = ConfigDict(extra="forbid")

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


class WaitingRequest(BaseModel):
    """One request waiting for a human, as the inbox lists it."""

    request_id: str
    run_id: str
    agent: str
    kind: RequestKind
    title: str
    body: str | None
    options: list[str] | None
    proposal: dict[str, Any] | None
    assignees: list[str]
    requested_at: datetime
    deadline: datetime | None
    seconds_left: float | None
    overdue: bool
    agent_status: str | None
    status_detail: str | None
    run_state: str


class RunSummary(BaseModel):
    """One run and its current status."""

    run_id: str
    agent: str
    status: str
    detail: str | None
    progress: float | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    waiting_since: datetime | None
    open_requests: int
    run_state: str | None


class RunDetail(BaseModel):
    """One run: DBOS's state, its current status and its requests."""

    run_id: str
    state: str
    status: StatusEvent | None
    requests: list[Request]
