"""A handle on one run: its id, status, requests, result; answer it or cancel it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from html import escape
from typing import Any

from hitl_notebook._core.errors import NotWaitingError, ResultTimeoutError
from hitl_notebook._core.models import Answer, Decision, Request, StatusEvent, run_state_word
from hitl_notebook._core.sync_async import awaitable, call, run_async
from hitl_notebook._core.views import display_bundle, live_view
from hitl_notebook._store.default import store
from hitl_notebook._store.store import FINAL_RUN_STATES, Store

__all__ = ["RunHandle", "run"]

WAIT_POLL_S = 0.02


class RunHandle:
    """One run of an agent. Works in any process that reaches the database.

    >>> run = RefundAgent.start("A-1001")
    >>> run.status.status            # 'waiting'
    >>> run.approve(by="alice", comment="ok")
    >>> run.result(timeout=10)
    """

    def __init__(self, run_id: str, *, agent: str | None = None, via: Store | None = None) -> None:
        self._run_id = run_id
        self._agent = agent
        self._store = via

    @property
    def store(self) -> Store:
        """The store this handle reads and answers through."""
        return self._store or store()

    @property
    def id(self) -> str:
        """The run id (the DBOS workflow id)."""
        return self._run_id

    @property
    def agent(self) -> str | None:
        """The agent type, when known."""
        if self._agent is None and (current := self.status) is not None:
            self._agent = current.agent
        return self._agent

    @property
    def status(self) -> StatusEvent | None:
        """The current status (None before the run's first transition)."""
        return self.store.status(self._run_id)

    @property
    def state(self) -> str:
        """DBOS's state of the run: PENDING, ENQUEUED, DELAYED (parked), SUCCESS, ERROR, CANCELLED..."""
        return self.store.run_state(self._run_id)

    def history(self) -> list[StatusEvent]:
        """Every status transition, in order."""
        return self.store.history(self._run_id)

    def requests(self, *, open_only: bool = False) -> list[Request]:
        """The run's requests to humans, oldest first."""
        return self.store.requests(self._run_id, open_only=open_only)

    def wait_for_request(self, timeout: float = 30.0) -> Request:
        """Wait until the run asks a human something; return its first open request."""
        give_up = time.monotonic() + timeout
        while not (found := self.requests(open_only=True)):
            if self.store.run_state(self._run_id) in FINAL_RUN_STATES:
                raise NotWaitingError(f"Run {self._run_id!r} has ended and waits for no answer.")
            if time.monotonic() >= give_up:
                raise ResultTimeoutError(
                    f"Run {self._run_id!r} asked nothing within {timeout} s; it keeps running."
                )
            time.sleep(WAIT_POLL_S)
        return found[0]

    wait_for_request_async = awaitable(
        wait_for_request,
        "Awaitable twin of ``wait_for_request``: the notebook stays responsive while it waits.",
    )

    def decisions(self) -> list[Decision]:
        """The decisions taken on the run's requests, oldest first."""
        return [r.decision for r in self.requests() if r.decision is not None]

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the run's result (``timeout`` in seconds; the run keeps going after it)."""
        return self.store.result(self._run_id, timeout)

    result_async = awaitable(
        result, "Awaitable twin of ``result``: the notebook stays responsive while it waits."
    )

    def cancel(self, *, by: str | None = None) -> None:
        """Cancel the run."""
        self.store.cancel(self._run_id, by=by)

    def respond(self, **answer: Any) -> Decision:
        """Answer the run's open request (see ``hitl.respond`` for the keywords)."""
        return self.store.respond(self._run_id, **answer)

    def approve(
        self, *, value: Any = None, by: str | None = None, comment: str | None = None
    ) -> Decision:
        """Approve the run's open request, optionally with an edited proposal."""
        return self.respond(approve=True, value=value, by=by, comment=comment)

    def reject(self, *, by: str | None = None, comment: str | None = None) -> Decision:
        """Reject the run's open request."""
        return self.respond(approve=False, by=by, comment=comment)

    def fork(
        self,
        at: str,
        answer: Answer | Mapping[str, Any],
        *,
        run_id: str | None = None,
        by: str | None = None,
    ) -> RunHandle:
        """What if request ``at`` had been answered otherwise? Start a new run from the
        checkpoint just before it, with ``answer`` decided at once; returns the new run.

        >>> request = run.requests()[0]                    # approved in the original
        >>> what_if = run.fork(at=request.request_id, answer={"approve": False})
        >>> what_if.result(timeout=30)                     # the rejected branch's result

        The steps before the request are reused (not run again), the requests before it keep
        their decisions; ``answer`` is a ``hitl.Answer`` or the keywords of ``hitl.respond`` as a
        dict, checked like any answer (InvalidAnswerError: nothing is started), and recorded as
        decided by ``by`` (default: you) through the ``what-if`` channel. The original is left
        as it is, also while it waits. See ``Store.fork``.
        """
        fork_id = self.store.fork(self._run_id, at=at, answer=answer, fork_id=run_id, by=by)
        return RunHandle(fork_id, agent=self._agent, via=self._store)

    fork_async = awaitable(fork, "Awaitable twin of ``fork``.")

    @property
    def forked_from(self) -> str | None:
        """For a what-if fork, the id of the run it was forked from (None for another run)."""
        origin = self.store.fork_origin(self._run_id)
        return None if origin is None else origin[0]

    @property
    def forked_at(self) -> str | None:
        """For a what-if fork, the id of the original's request it answers otherwise."""
        origin = self.store.fork_origin(self._run_id)
        return None if origin is None else origin[1]

    async def wait_async(self, timeout: float | None = None) -> str:
        """Wait until the run ends, without blocking the notebook; return DBOS's final state.

        Unlike ``result_async`` it does not raise when the run failed or was cancelled. While a
        cell awaits it, the widgets stay clickable (a blocking wait would hold every click).
        """
        return await run_async(call(self._wait_ended, timeout))

    def _wait_ended(self, timeout: float | None) -> str:
        give_up = None if timeout is None else time.monotonic() + timeout
        while (state := self.store.run_state(self._run_id)) not in FINAL_RUN_STATES:
            if give_up is not None and time.monotonic() >= give_up:
                raise ResultTimeoutError(
                    f"Run {self._run_id!r} did not end within {timeout} s (it is {run_state_word(state)}); "
                    "it keeps running."
                )
            time.sleep(WAIT_POLL_S)
        return state

    def widget(self, *, responder: str | None = None, refresh_s: float = 1.0) -> Any:
        """A live status card for the run, with its open requests answerable in place.

        Displaying the handle in a cell makes one with the defaults.
        """
        return live_view(self, responder=responder, refresh_s=refresh_s)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return display_bundle(
            self, lambda: {"text/plain": repr(self), "text/html": self._repr_html_()}, **kwargs
        )

    def _repr_html_(self) -> str:
        current = self.status
        shown = f": {escape(current.status)}" if current else ""
        detail = f" — {escape(current.detail)}" if current and current.detail else ""
        return f"<p>Run <code>{escape(self._run_id)}</code> ({escape(self.agent or '')}){shown}{detail}</p>"

    def __repr__(self) -> str:
        current = self.status
        shown = f", status={current.status!r}" if current else ""
        return f"RunHandle({self._run_id!r}, agent={self.agent!r}{shown})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunHandle) and other._run_id == self._run_id

    def __hash__(self) -> int:
        return hash(self._run_id)


def run(run_id: str) -> RunHandle:
    """A handle on an existing run, by id."""
    return RunHandle(run_id)
