"""Every error a user of hitl_notebook can meet, grouped by what the caller can do about it.

HitlError
├── ConfigurationError        fix the launch arguments, environment or dbos-config.yaml
│   └── NotLaunchedError      call hitl.launch() first
├── AnswerError               the answer was refused; nothing was stored unless said otherwise
│   ├── NotFoundError         no such run or request (check the id)
│   ├── NotWaitingError       the run exists but waits for no answer (or for several: name one)
│   ├── AlreadyDecidedError   someone else answered first (who and when are attributes)
│   ├── AlreadyVotedError     this person has voted on this quorum request already
│   ├── DeadlinePassedError   too late; the late answer was recorded, the default applies
│   ├── InvalidAnswerError    the answer does not fit the request; fix it and send again
│   │   └── StaleAnswerError  the answer was given for another tool call (its digest differs)
│   └── NotAllowedError       this responder may not answer this request
├── RequestTimeoutError       raised inside an agent when a request with on_timeout="raise" expires
├── ToolDenied                raised inside an agent when a person (or a policy) denies a tool call
├── ToolReplayError           a run, replayed, calls a tool with other arguments than it first did
├── RunError                  waiting for a run's result failed
│   ├── ResultTimeoutError    the run did not finish within the timeout (it keeps running)
│   ├── RunCancelledError     the run was cancelled
│   └── RunFailedError        the run raised: its type, message and traceback; the original
│                             error is the __cause__ (or an AgentError when it cannot be rebuilt)
└── AgentError                an agent's exception that cannot be rebuilt in another process
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hitl_notebook._core.models import who_decided

__all__ = [
    "AgentError",
    "AlreadyDecidedError",
    "AlreadyVotedError",
    "AnswerError",
    "ConfigurationError",
    "DeadlinePassedError",
    "HitlError",
    "InvalidAnswerError",
    "NotAllowedError",
    "NotFoundError",
    "NotLaunchedError",
    "NotWaitingError",
    "RequestTimeoutError",
    "ResultTimeoutError",
    "RunCancelledError",
    "RunError",
    "RunFailedError",
    "StaleAnswerError",
    "ToolDenied",
    "ToolReplayError",
]


class HitlError(Exception):
    """Base class of every error raised by hitl_notebook."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross processes pickled (a run's failure is stored by DBOS): rebuild them from
        # the arguments their constructor took, not from the formatted message.
        return (type(self), getattr(self, "_init_args", self.args))


class ConfigurationError(HitlError):
    """The runtime cannot start with the given settings."""


class NotLaunchedError(ConfigurationError):
    """An operation needs a launched runtime: call ``hitl.launch()`` first."""


class AnswerError(HitlError):
    """An answer was refused."""


class NotFoundError(AnswerError):
    """No run or request has the given id."""


class NotWaitingError(AnswerError):
    """The run exists but is not waiting for the answer that was sent."""


class AlreadyDecidedError(AnswerError):
    """The request was decided before this answer arrived; the first valid answer wins."""

    def __init__(
        self, request_id: str, outcome: str, decided_by: str | None, decided_at: datetime
    ) -> None:
        self._init_args = (request_id, outcome, decided_by, decided_at)
        self.request_id = request_id
        self.outcome = outcome
        self.decided_by = decided_by
        self.decided_at = decided_at
        super().__init__(
            f"Request {request_id!r} was already decided by {who_decided(decided_by, outcome)} at "
            f"{decided_at.isoformat(timespec='seconds')} ({outcome}); this answer was not applied."
        )


class AlreadyVotedError(AnswerError):
    """The voter has voted on this quorum request already; a vote is cast once and kept."""

    def __init__(self, request_id: str, voter: str, approved: bool, voted_at: datetime) -> None:
        self._init_args = (request_id, voter, approved, voted_at)
        self.request_id = request_id
        self.voter = voter
        self.approved = approved
        """How they voted the first time."""
        self.voted_at = voted_at
        super().__init__(
            f"{voter!r} has already voted on request {request_id!r} "
            f"({'approved' if approved else 'rejected'} at "
            f"{voted_at.isoformat(timespec='seconds')}); a vote is cast once. "
            "This vote was not counted."
        )


class DeadlinePassedError(AnswerError):
    """The answer arrived after the request's deadline; it was recorded as late and not applied."""

    def __init__(self, request_id: str, deadline: datetime, received_at: datetime) -> None:
        self._init_args = (request_id, deadline, received_at)
        self.request_id = request_id
        self.deadline = deadline
        self.received_at = received_at
        late = (received_at - deadline).total_seconds()
        super().__init__(
            f"The deadline of request {request_id!r} passed at "
            f"{deadline.isoformat(timespec='seconds')} ({late:.1f} s before this answer); "
            "the answer was recorded as late and the request's timeout rule applies."
        )


class InvalidAnswerError(AnswerError):
    """The answer does not fit the request; nothing was stored and the agent keeps waiting."""

    def __init__(self, request_id: str, problems: list[str]) -> None:
        self._init_args: tuple[Any, ...] = (request_id, problems)
        self.request_id = request_id
        self.problems = problems
        super().__init__(
            f"Invalid answer for request {request_id!r}: "
            + "; ".join(problems)
            + ". Nothing was stored; the agent keeps waiting."
        )


class StaleAnswerError(InvalidAnswerError):
    """The answer names a tool call (its digest) other than the one the request asks about: a
    form drawn for other arguments, a replayed link, or an answer meant for another call."""

    def __init__(self, request_id: str, given: str, expected: str | None) -> None:
        what = "a call that is not a tool call" if expected is None else "another tool call"
        super().__init__(
            request_id,
            [
                f"the answer was given for {what} (digest {given[:12]}...), not for the call "
                "this request asks about: reload the request and answer what it shows now"
            ],
        )
        self._init_args: tuple[Any, ...] = (request_id, given, expected)
        self.given = given
        self.expected = expected


class NotAllowedError(AnswerError):
    """The responder is not allowed to answer this request; nothing was stored."""

    def __init__(self, request_id: str, responder: str | None, reason: str) -> None:
        self._init_args = (request_id, responder, reason)
        self.request_id = request_id
        self.responder = responder
        """Who tried to answer (None: an anonymous answer)."""
        self.reason = reason
        who = "Someone anonymous" if responder is None else repr(responder)
        super().__init__(
            f"{who} may not answer request {request_id!r}: {reason}. "
            "Nothing was stored; the agent keeps waiting."
        )


class RequestTimeoutError(HitlError):
    """A request's deadline passed without an answer and its rule is ``on_timeout="raise"``."""

    def __init__(self, request_id: str, deadline: datetime) -> None:
        self._init_args = (request_id, deadline)
        self.request_id = request_id
        self.deadline = deadline
        super().__init__(
            f"Nobody answered request {request_id!r} before its deadline "
            f"{deadline.isoformat(timespec='seconds')}."
        )


class ToolDenied(HitlError):
    """A tool call that needed approval was denied (by a person, a policy, or its deadline).

    Raised inside the run where the tool was called; ``comment`` is what the person said.
    """

    def __init__(
        self, tool: str, request_id: str, by: str | None, comment: str | None, timed_out: bool
    ) -> None:
        self._init_args = (tool, request_id, by, comment, timed_out)
        self.tool = tool
        self.request_id = request_id
        self.by = by
        """Who denied it (None: nobody answered before the deadline)."""
        self.comment = comment
        self.timed_out = timed_out
        super().__init__(denial_text(tool, by, comment, timed_out))


def denial_text(tool: str, by: str | None, comment: str | None, timed_out: bool) -> str:
    """What a denied tool call tells the model (or the reader of a ``ToolDenied``)."""
    if timed_out:
        return f"The call to {tool} was not approved: nobody answered before the deadline."
    who = who_decided(by, "rejected")
    reason = f": {comment}" if comment else "."
    return f"The call to {tool} was denied by {who}{reason}"


class ToolReplayError(HitlError):
    """A run replayed (after a restart or a park) called a tool with other arguments than it did
    the first time: the agent's code or its inputs are not deterministic. The stored decision is
    kept and the tool is not run."""

    def __init__(self, request_id: str, tool: str) -> None:
        self._init_args = (request_id, tool)
        self.request_id = request_id
        self.tool = tool
        super().__init__(
            f"Request {request_id!r} asked about a call to {tool} with other arguments than the "
            "run now makes: the run's code must call its tools in the same order with the same "
            "arguments each time it replays (keep randomness and clocks in steps)."
        )


class RunError(HitlError):
    """Waiting for a run's result failed."""


class ResultTimeoutError(RunError, TimeoutError):
    """The run did not finish within the given timeout; it keeps running."""


class RunCancelledError(RunError):
    """The run was cancelled before it finished."""


class RunFailedError(RunError):
    """The run raised an exception: its type, message and the agent's traceback are attributes,
    and the exception itself (rebuilt from the database) is the ``__cause__``."""

    def __init__(
        self, run_id: str, error_type: str, error_message: str, traceback: str | None = None
    ) -> None:
        self._init_args = (run_id, error_type, error_message, traceback)
        self.run_id = run_id
        self.error_type = error_type
        """The qualified name of the exception's class (``mymodule.PaymentDeclined``)."""
        self.error_message = error_message
        self.traceback = traceback
        """The agent's traceback as text, where the run recorded it."""
        short = error_type.rpartition(".")[2]
        told = f": {error_message}" if error_message else ""
        trace = f"\n\nThe agent's traceback:\n{traceback.rstrip()}" if traceback else ""
        super().__init__(f"Run {run_id!r} failed: {short}{told}{trace}")


class AgentError(HitlError):
    """An agent's exception that cannot be rebuilt from its record (its constructor takes other
    arguments than its ``args``); it keeps the type's name, the message and the traceback."""

    def __init__(self, error_type: str, error_message: str, traceback: str) -> None:
        self._init_args = (error_type, error_message, traceback)
        self.error_type = error_type
        self.error_message = error_message
        self.traceback = traceback
        super().__init__(f"{error_type}: {error_message}" if error_message else error_type)
