"""Who may answer a request: the one rule every channel (Python, widget, CLI, HTTP) goes through.

A request may name ``assignees`` (then only they may answer) and may forbid the run's requester,
the person who started it, from answering (``allow_requester=False``: nobody approves their own
request). The store checks the rule before anything is stored, so a refused answer leaves the
agent waiting.
"""

from __future__ import annotations

from hitl_notebook._core.errors import NotAllowedError
from hitl_notebook._core.models import Request

__all__ = ["check_responder"]


def check_responder(request: Request, responder: str | None) -> None:
    """Raise NotAllowedError unless ``responder`` may answer ``request``.

    ``None`` is an anonymous responder (a DBOS message naming nobody): it may answer only
    requests open to anyone, as nobody can tell it is not the run's requester.
    """
    if request.assignees and responder not in request.assignees:
        raise NotAllowedError(
            request.request_id,
            responder,
            f"it is assigned to {', '.join(request.assignees)}",
        )
    if not request.allow_requester and responder is None:
        raise NotAllowedError(
            request.request_id,
            responder,
            "the request does not let its run's requester answer, and an anonymous answer "
            "might come from them",
        )
    if not request.allow_requester and responder == request.requester:
        raise NotAllowedError(
            request.request_id,
            responder,
            "they started this run and the request does not let its requester answer",
        )
