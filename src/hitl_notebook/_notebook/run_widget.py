"""The run card: one run's status, progress, open requests (answerable in place) and timeline.

What a ``RunHandle`` shows when displayed in a cell. It refreshes itself like the inbox (see
``live``) and stops once the run has ended and its final state was sent. The card says the
run's state in people's words (``run_state_word``: waiting, parked, done...); DBOS's own state is
kept here only to know when the run has ended. An ended run shows no progress bar.
"""

from __future__ import annotations

from hitl_notebook._core.errors import HitlError
from hitl_notebook._core.models import Request, run_state_word
from hitl_notebook._core.times import to_ms
from hitl_notebook._notebook.actions import (
    answer,
    changes_text,
    decided_tool_call,
    open_panel,
    timeline,
)
from hitl_notebook._notebook.live import LiveWidget, escape
from hitl_notebook._notebook.messages import (
    BrowserMessage,
    Card,
    CardMessage,
    CardRequest,
    Respond,
    ResultMessage,
)
from hitl_notebook._notebook.text import request_facts, status_text
from hitl_notebook._store.store import FINAL_RUN_STATES, Store, default_responder

__all__ = ["RunWidget"]


class RunWidget(LiveWidget):
    """A live status card for one run.

    >>> run = RefundAgent.start("A-1001")
    >>> run                      # displayed in a cell: the card, updating itself
    """

    thread_name = "hitl-run-refresh"

    def __init__(
        self,
        store: Store,
        run_id: str,
        *,
        responder: str | None = None,
        refresh_s: float = 1.0,
        live: bool = True,
    ) -> None:
        store.run_state(run_id)  # NotFoundError before any model is made
        super().__init__(key=f"{store!r}|{run_id}", refresh_s=refresh_s, view="run")
        self.store = store
        self.run_id = run_id
        self.responder = responder or default_responder()
        self._engine_state = ""
        self.card = self._read()
        if self.ended:
            self._stop.set()
        elif live:
            self.start()

    @property
    def ended(self) -> bool:
        """True once the run has finished, failed or been cancelled."""
        return self._engine_state in FINAL_RUN_STATES

    def _read(self) -> Card:
        history = self.store.history(self.run_id)
        state = self.store.run_state(self.run_id)
        ended = state in FINAL_RUN_STATES
        every = self.store.requests(self.run_id)
        requests = [] if ended else [r for r in every if r.is_open]
        current = history[-1] if history else None
        result: str | None = None
        if ended:
            try:
                result = repr(self.store.result(self.run_id, timeout=0))
            except HitlError as error:
                result = str(error)
        word = run_state_word(state, waiting=bool(requests))
        self._engine_state = state
        return Card(
            run_id=self.run_id,
            agent=current.agent if current else None,
            state=word,
            status=current.status if current else None,
            detail=current.detail if current else None,
            status_text=status_text(
                current.status if current else None,
                current.detail if current else None,
                [r.title for r in requests],
                word,
            ),
            progress=None if ended or current is None else current.progress,
            result=result,
            requests=[_request_row(r, self.responder) for r in requests],
            tool_calls=[call for r in every if (call := decided_tool_call(r)) is not None],
            timeline=timeline(history),
        )

    def refresh(self, *, send: bool = True) -> Card | None:
        """Read the run once; send the card when it changed (None: no change)."""
        with self.lock:
            card = self._read()
            if card == self.card:
                return None
            self.card = card
            if send:
                self.send_message(CardMessage(type="card", card=card))
        if self.ended:
            self._stop.set()
        return card

    def handle(self, message: BrowserMessage) -> None:
        """Act on one message from the browser."""
        if message["type"] == "hello":
            self.send_message(CardMessage(type="card", card=self.card))
        elif message["type"] == "respond":
            self.respond(str(message["request_id"]), message)
        elif message["type"] == "form" or message["type"] == "details":
            self.send_message(open_panel(self.store, message, responder=self.responder))

    def respond(self, request_id: str, content: Respond) -> ResultMessage:
        """Answer one of the run's requests as the browser would."""
        result = answer(self.store, request_id, content, by=self.responder)
        self.send_message(result)
        self.refresh()
        return result

    def text(self) -> str:
        """The card as plain text."""
        card = self.card
        lines = [f"Run {card['run_id']} ({card['agent'] or 'agent unknown'}): {card['state']}"]
        if card["status_text"]:
            lines.append(f"  status: {card['status_text']}")
        lines += [
            f"  waiting for: [{r['kind'] if r['tool'] is None else r['tool']['label']}] "
            f"{r['title']} ({r['id']})"
            for r in card["requests"]
        ]
        lines += [
            f"  {call['label']}: {call['decided']}{changes_text(call['changes'])}"
            for call in card["tool_calls"]
        ]
        if card["result"] is not None:
            lines.append(f"  result: {card['result']}")
        return "\n".join(lines)

    def html(self) -> str:
        """The card as static HTML."""
        card = self.card
        timeline = "".join(
            f"<li>{escape(e['status'])}{' — ' + escape(e['detail']) if e['detail'] else ''}</li>"
            for e in card["timeline"]
        )
        waiting = "".join(
            f"<li>[{escape(r['kind'])}] {escape(r['title'])} <code>{escape(r['id'])}</code></li>"
            for r in card["requests"]
        )
        result = (
            f"<p>result: <code>{escape(card['result'])}</code></p>"
            if card["result"] is not None
            else ""
        )
        status = f": {escape(card['status_text'])}" if card["status_text"] else ""
        return (
            f'<div class="hitl-run-static"><p><b>{escape(card["agent"] or "run")}</b> '
            f"<code>{escape(card['run_id'])}</code> {escape(card['state'])}{status}</p>"
            f"{'<ul>' + waiting + '</ul>' if waiting else ''}{result}<ol>{timeline}</ol></div>"
        )


def _request_row(request: Request, responder: str) -> CardRequest:
    facts = request_facts(request, responder)
    return CardRequest(
        id=request.request_id,
        kind=request.kind.value,
        title=request.title,
        options=request.options,
        has_proposal=request.proposal is not None,
        deadline_ms=None if request.deadline is None else to_ms(request.deadline),
        actions=facts["actions"],
        at_deadline=facts["at_deadline"],
        why_not=facts["why_not"],
        tool=facts["tool"],
        quorum=facts["quorum"],
        picks=facts["picks"],
    )
