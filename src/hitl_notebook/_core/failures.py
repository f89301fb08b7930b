"""How an agent's exception crosses processes: recorded when its run fails, rebuilt where read.

DBOS records a failed run's exception by pickling it, and pickling an exception keeps only its
``args``: one whose constructor takes other arguments (``PaymentDeclined(402, "card declined")``
that formats its own message, httpx's errors with keyword-only arguments) cannot be rebuilt, and a
process without the agent's code (the CLI, an HTTP server) cannot import its class. So a failing
run also records the exception's type, message and traceback text in its own row (``Failure``),
and it hands DBOS an ``AgentError`` in place of an exception that would not rebuild. Reading the
result raises ``RunFailedError`` with the recorded type, message and traceback, caused by the
original exception wherever it rebuilds.
"""

from __future__ import annotations

import pickle
import traceback
from typing import TypedDict

from hitl_notebook._core.errors import AgentError, RunFailedError
from hitl_notebook._core.values import storable

__all__ = ["Failure", "cause_of", "failure_of", "recordable", "run_failed"]


class Failure(TypedDict):
    """What is kept of an agent's exception: its type, message and traceback text."""

    type: str
    message: str
    traceback: str


def failure_of(error: BaseException) -> Failure:
    """The record of ``error``."""
    return Failure(
        type=_qualified_name(type(error)),
        message=storable(str(error)),
        traceback=storable("".join(traceback.format_exception(error))),
    )


def recordable(error: Exception, failure: Failure) -> Exception:
    """``error`` itself if it rebuilds from a pickle, else an ``AgentError`` keeping ``failure``."""
    try:
        rebuilt = pickle.loads(pickle.dumps(error))
    except Exception:  # whatever stops the round trip, the AgentError below survives it
        rebuilt = None
    if type(rebuilt) is type(error) and str(rebuilt) == str(error):
        return error
    return AgentError(failure["type"], failure["message"], failure["traceback"])


def run_failed(run_id: str, error: BaseException, failure: Failure | None) -> RunFailedError:
    """The error saying run ``run_id`` failed, from its record (or from ``error``, as DBOS gave it
    back, for a run that recorded none); the caller raises it from the exception to show."""
    if failure is None:
        failure = failure_of(error)
        failure["traceback"] = ""
    return RunFailedError(run_id, failure["type"], failure["message"], failure["traceback"] or None)


def cause_of(error: BaseException, failure: Failure | None) -> BaseException:
    """What a RunFailedError is raised from: the original exception where DBOS rebuilt it, else an
    AgentError standing for it (the original's class is not here, or it does not rebuild)."""
    if failure is None or isinstance(error, AgentError):
        return error
    if _qualified_name(type(error)) == failure["type"]:
        return error
    return AgentError(failure["type"], failure["message"], failure["traceback"])


def _qualified_name(kind: type[BaseException]) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
