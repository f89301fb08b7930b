"""The inbox widget: every waiting request in one live, answerable table.

One anywidget draws the whole table (a grid of ipywidgets fails at 1,000 rows). The browser holds
one page of rows; the kernel keeps the filter, runs one inbox query per refresh and sends only the
rows of the page that changed (``patch``). Search, filters, sort and paging are sent by the browser
as a ``query``; clicks as ``respond``/``bulk``; the edit form and the details view are fetched
when opened (``form``/``details``). See ``_widget_live`` for the threading contract.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, NotRequired, TypedDict

import traitlets

from hitl_notebook._core.models import Answer, Request, RequestKind, run_state_word
from hitl_notebook._core.times import from_ms, now_ms
from hitl_notebook._notebook.actions import answer, answer_many, details, edit_form
from hitl_notebook._notebook.live import LiveWidget, escape
from hitl_notebook._notebook.text import markdown_text, request_facts, status_text
from hitl_notebook._store.inbox import Inbox, InboxFilter, InboxItem
from hitl_notebook._store.store import Store, default_responder

__all__ = ["InboxWidget", "Patch", "Row", "Snapshot", "inbox_widget"]

PAGE_SIZE = 25
BODY_PREVIEW = 160
_QUERY_KEYS = ("search", "kind", "agent", "overdue", "sort", "descending")
_SORTS = ("requested_at", "deadline", "agent", "title")


class Row(TypedDict):
    """One waiting request as the browser shows it, in people's words."""

    id: str
    run_id: str
    agent: str
    kind: str
    title: str
    body: str | None
    options: list[str] | None
    has_proposal: bool
    assignees: list[str]
    requested_at_ms: int
    deadline_ms: int | None
    state: str
    """The run's state in people's words: waiting, parked, resuming."""
    status: str
    """The agent's own status when it says more than the state and the title ("" otherwise)."""
    actions: list[str]
    at_deadline: str | None
    why_not: str | None


class Snapshot(TypedDict):
    """The whole page, sent when a view opens or the query changes."""

    type: Literal["snapshot"]
    rows: list[Row]
    total: int
    agents: list[str]
    query: dict[str, Any]
    page: int
    page_size: int
    now_ms: int


class Patch(TypedDict):
    """What changed on the page since the last message."""

    type: Literal["patch"]
    upsert: list[Row]
    remove: list[str]
    order: list[str]
    total: int
    page: int
    now_ms: int
    agents: NotRequired[list[str]]


class InboxWidget(LiveWidget):
    """The live inbox: filter, sort, page, answer in place, in bulk too.

    >>> w = hitl.inbox().widget(responder="alice")
    >>> w                       # displayed in a cell; refreshes itself every 2 s
    >>> w.close()               # stops refreshing
    """

    responder = traitlets.Unicode("").tag(sync=True)
    """Who the answers sent from this widget are recorded as."""

    thread_name = "hitl-inbox-refresh"

    def __init__(
        self,
        store: Store,
        spec: InboxFilter | None = None,
        *,
        responder: str | None = None,
        refresh_s: float = 2.0,
        page_size: int = PAGE_SIZE,
        live: bool = True,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        spec = dataclasses.replace(spec or InboxFilter(), limit=None, offset=0)
        super().__init__(
            key=f"{store!r}|{spec!r}",
            refresh_s=refresh_s,
            view="inbox",
            responder=responder or default_responder(),
        )
        self.store = store
        self.spec = spec
        self.page_size = page_size
        self.page = 0
        self.total = 0
        self._rows: dict[str, Row] = {}
        self._agents: list[str] = []
        self.queries = 0
        """How many inbox queries this widget ran (one per refresh)."""
        self.last_message: dict[str, Any] | None = None
        self.refresh(send=False)
        if live:
            self.start()

    @traitlets.observe("responder")
    def _responder_changed(self, _change: dict[str, Any]) -> None:
        if hasattr(self, "store"):  # rows say whether the responder may answer them
            self.refresh()

    @property
    def rows(self) -> list[Row]:
        """The rows of the current page, in order."""
        with self.lock:
            return list(self._rows.values())

    # -- reading -------------------------------------------------------------------------------

    def _read(self) -> tuple[list[Row], int, list[str]]:
        inbox = self.store.inbox(
            agent=self.spec.agent,
            kind=self.spec.kind,
            assignee=self.spec.assignee,
            overdue=self.spec.overdue,
            older_than=self.spec.older_than,
            search=self.spec.search,
            sort=self.spec.sort,
            descending=self.spec.descending,
        )
        self.queries += 1
        total = len(inbox)
        last_page = max(0, (total - 1) // self.page_size)
        self.page = min(self.page, last_page)
        start = self.page * self.page_size
        rows = [_row(item, self.responder) for item in inbox.items[start : start + self.page_size]]
        agents = sorted({item.agent for item in inbox.items})
        return rows, total, agents

    def refresh(self, *, send: bool = True) -> Patch | None:
        """Run one inbox query and send the rows of the page that changed (None: no change)."""
        with self.lock:  # held while reading too, so a click's refresh and the thread's never cross
            rows, total, agents = self._read()
            new = {row["id"]: row for row in rows}
            patch = Patch(
                type="patch",
                upsert=[row for rid, row in new.items() if self._rows.get(rid) != row],
                remove=[rid for rid in self._rows if rid not in new],
                order=list(new),
                total=total,
                page=self.page,
                now_ms=now_ms(),
            )
            if agents != self._agents:
                patch["agents"] = agents
            changed = (
                patch["upsert"]
                or patch["remove"]
                or list(self._rows) != list(new)
                or total != self.total
                or "agents" in patch
            )
            self._rows, self.total, self._agents = new, total, agents
            if not changed:
                return None
            if send:
                self._emit(patch)
            return patch

    def snapshot(self) -> Snapshot:
        """The current page, as sent to a view that opens."""
        with self.lock:
            return Snapshot(
                type="snapshot",
                rows=list(self._rows.values()),
                total=self.total,
                agents=self._agents,
                query=self.query,
                page=self.page,
                page_size=self.page_size,
                now_ms=now_ms(),
            )

    @property
    def query(self) -> dict[str, Any]:
        """The filter the browser shows."""
        agent = self.spec.agent if isinstance(self.spec.agent, str) else None
        kind = self.spec.kind if isinstance(self.spec.kind, str) else None
        return {
            "search": self.spec.search or "",
            "kind": kind or "",
            "agent": agent or "",
            "overdue": bool(self.spec.overdue),
            "sort": self.spec.sort,
            "descending": self.spec.descending,
        }

    def set_query(self, query: dict[str, Any], page: int = 0) -> None:
        """Change search, filters, sort (keys as in ``query``) and page; send the new page."""
        changes: dict[str, Any] = {}
        for key in _QUERY_KEYS:
            if key not in query:
                continue
            value = query[key]
            if key == "sort" and value not in _SORTS:
                raise ValueError(f"Cannot sort by {value!r}; use one of {', '.join(_SORTS)}.")
            if key in ("search", "kind", "agent"):
                value = str(value) or None
            if key == "overdue":
                value = True if value else None
            if key == "descending":
                value = bool(value)
            changes[key] = value
        with self.lock:
            self.spec = dataclasses.replace(self.spec, **changes)
            self.page = max(0, int(page))
            self.refresh(send=False)
            self._emit(self.snapshot())

    # -- the browser's messages ----------------------------------------------------------------

    def handle(self, message: dict[str, Any]) -> None:
        """Act on one message from the browser."""
        kind = message.get("type")
        if kind == "hello":
            self._emit(self.snapshot())
        elif kind == "query":
            self.set_query(message.get("query") or {}, int(message.get("page") or 0))
        elif kind == "respond":
            self.respond(str(message["request_id"]), message)
        elif kind == "bulk":
            self.respond_bulk(
                [str(i) for i in message.get("request_ids", [])],
                approve=bool(message.get("approve")),
                comment=message.get("comment"),
            )
        elif kind == "form":
            self._emit(edit_form(self.store, str(message["request_id"])))
        elif kind == "details":
            self._emit(details(self.store, str(message["request_id"]), responder=self.responder))

    def respond(self, request_id: str, content: dict[str, Any]) -> dict[str, Any]:
        """Answer one request as the browser would (``approve``/``choice``/``text``/``value``)."""
        result = answer(self.store, request_id, content, by=self.responder)
        self._emit(result)
        if result["decided"]:
            self.refresh()
        return dict(result)

    def respond_bulk(
        self, request_ids: list[str], *, approve: bool, comment: str | None = None
    ) -> dict[str, Any]:
        """Approve or reject the selected requests, each on its own."""
        result = answer_many(
            self.store, request_ids, approve=approve, comment=comment, by=self.responder
        )
        self._emit(result)
        self.refresh()
        return dict(result)

    def _emit(self, message: Any) -> None:
        self.last_message = message
        self.send_message(message)

    # -- without a widget frontend -------------------------------------------------------------

    def text(self) -> str:
        """The current page as plain text."""
        with self.lock:
            rows = list(self._rows.values())
            lines = [f"Inbox: {self.total} waiting, answering as {self.responder}"]
        lines += [f"  {r['id']}  {r['agent']}  [{r['kind']}] {r['title']}" for r in rows]
        if self.total > len(rows):
            lines.append(f"  ... {self.total - len(rows)} more")
        return "\n".join(lines)

    def html(self) -> str:
        """The current page as a static HTML table."""
        with self.lock:
            rows = list(self._rows.values())
            total = self.total
        head = "".join(
            f"<th>{h}</th>"
            for h in ("request", "agent", "kind", "title", "state", "status", "deadline")
        )
        body = "".join(
            "<tr>"
            + "".join(
                f"<td>{escape(v)}</td>"
                for v in (
                    r["id"],
                    r["agent"],
                    r["kind"],
                    r["title"],
                    r["state"],
                    r["status"],
                    _iso(r["deadline_ms"]),
                )
            )
            + "</tr>"
            for r in rows
        )
        more = f"<p>… and {total - len(rows)} more</p>" if total > len(rows) else ""
        return (
            f'<div class="hitl-inbox-static"><p><b>Inbox</b>: {total} waiting '
            f"(answering as {escape(self.responder)})</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}</div>"
        )


def _iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return from_ms(ms).isoformat(timespec="seconds")


def _row(item: InboxItem, responder: str) -> Row:
    body = markdown_text(item.body) or None
    if body is not None and len(body) > BODY_PREVIEW:
        body = body[:BODY_PREVIEW] + "…"
    state = run_state_word(item.run_state, waiting=True)
    facts = request_facts(_request(item), responder)
    return Row(
        id=item.request_id,
        run_id=item.run_id,
        agent=item.agent,
        kind=item.kind,
        title=item.title,
        body=body,
        options=item.options,
        has_proposal=item.proposal_json is not None,
        assignees=item.assignees,
        requested_at_ms=item.requested_at_ms,
        deadline_ms=item.deadline_ms,
        state=state,
        status=status_text(item.agent_status, item.status_detail, [item.title], state),
        actions=facts["actions"],
        at_deadline=facts["at_deadline"],
        why_not=facts["why_not"],
    )


def _request(item: InboxItem) -> Request:
    """The parts of the stored request that say what it takes and who may answer it."""
    rules = item.rules
    timeout_answer = rules.get("timeout_answer")
    return Request.model_construct(
        request_id=item.request_id,
        kind=RequestKind(item.kind),
        proposal=item.proposal,
        assignees=item.assignees,
        requester=rules.get("requester"),
        allow_requester=rules.get("allow_requester", True),
        deadline=item.deadline,
        on_timeout=rules.get("on_timeout", "raise"),
        timeout_answer=Answer(**timeout_answer) if timeout_answer else None,
    )


def inbox_widget(inbox: Inbox, **options: Any) -> InboxWidget:
    """The live widget for an inbox read through a store."""
    source = inbox.store
    if source is None:
        raise ValueError(
            "This inbox was not read through a store; use hitl.inbox() or Store.inbox()."
        )
    return InboxWidget(source, inbox.spec, **options)
