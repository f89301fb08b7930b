"""The inbox widget: every waiting request in one live, answerable table.

One anywidget draws the whole table (a grid of ipywidgets fails at 1,000 rows). The browser holds
one page of rows; the kernel keeps the filter, runs one inbox query per refresh and sends only the
rows of the page that changed (``patch``). Search, filters, sort and paging are sent by the browser
as a ``query``; clicks as ``respond``/``bulk``; the edit form and the details view are fetched
when opened (``form``/``details``); every message is typed in ``messages``. A widget made for an
``Inbox`` draws its first page from the rows that inbox holds (no second query). See ``live`` for
the threading contract.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import traitlets

from hitl_notebook._core.models import Answer, Request, RequestKind, ToolCall, run_state_word
from hitl_notebook._core.times import from_ms, now_ms
from hitl_notebook._notebook.actions import answer, answer_many, open_panel
from hitl_notebook._notebook.live import LiveWidget, escape
from hitl_notebook._notebook.messages import (
    BrowserMessage,
    BulkMessage,
    Choices,
    Patch,
    QueryFields,
    Respond,
    ResultMessage,
    Row,
    Snapshot,
    SortChoice,
)
from hitl_notebook._notebook.text import markdown_text, request_facts, status_text
from hitl_notebook._store.inbox import SORT_KEYS, Inbox, InboxFilter, InboxItem, SortKey
from hitl_notebook._store.inbox_query import InboxCursor
from hitl_notebook._store.store import Store, default_responder

__all__ = [
    "CHOICES",
    "InboxWidget",
    "Page",
    "inbox_widget",
    "page_snapshot",
    "query_fields",
    "read_page",
    "with_query",
]

PAGE_SIZE = 25
READ_AT_LEAST_EVERY_S = 60.0
"""A live inbox reads its page at least this often, even when its cursor says nothing changed:
the cursor sees every write of the SDK and DBOS's moves of the runs shown, but not a run off the
page that DBOS alone ends while it waits (cancelled through DBOS's own API, or given up after
too many restarts), which leaves the inbox."""
BODY_PREVIEW = 160
SORT_WORDS: dict[SortKey, str] = {"requested_at": "oldest first"}
"""How the sort menu names a key, where the key itself does not read well."""
CHOICES = Choices(
    sorts=[SortChoice(key=key, label=SORT_WORDS.get(key, key)) for key in SORT_KEYS],
    kinds=[kind.value for kind in RequestKind],
)
"""What the inbox's menus offer, from the store's lists."""


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
        read: Inbox | None = None,
    ) -> None:
        """``read``: the inbox already read with ``spec``; its rows make the first page when it
        holds them all (no limit or offset), instead of a query."""
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
        self._seen: InboxCursor | None = None
        """The cursor of the last read: the change counter before it, the states of its rows."""
        self._read_at = time.monotonic()
        self.queries = 0
        """How many times this widget read the inbox (none for rows it was handed, none for a
        refresh that found nothing changed)."""
        self.refresh(send=False, read=read if read is not None and read.spec == spec else None)
        if live:
            self.start()

    @traitlets.observe("responder")
    def _responder_changed(self, _change: dict[str, Any]) -> None:
        if hasattr(self, "store"):  # rows say whether the responder may answer them
            self.refresh(force=True)

    @property
    def rows(self) -> list[Row]:
        """The rows of the current page, in order."""
        with self.lock:
            return list(self._rows.values())

    # -- reading -------------------------------------------------------------------------------

    def refresh(
        self, *, send: bool = True, read: Inbox | None = None, force: bool = False
    ) -> Patch | None:
        """Look for changes (one tiny query) and, if anything changed, read the page and send
        its rows that changed (None: no change). ``read``: the inbox just read with this filter,
        whose rows make the page; ``force``: read (the filter or the responder changed)."""
        with self.lock:  # held while reading too, so a click's refresh and the thread's never cross
            before = None
            if read is None:  # the cursor is read before the page, so no change slips between
                seen = self._seen
                before = self.store.inbox_cursor(() if seen is None else seen.run_states)
                # A filter on the time (overdue, older_than) changes as time passes: read it.
                timeless = self.spec.overdue is None and self.spec.older_than is None
                recent = time.monotonic() - self._read_at < READ_AT_LEAST_EVERY_S
                if before == seen and timeless and recent and not force:
                    return None
                self.queries += 1
            found = read_page(
                self.store,
                self.spec,
                page=self.page,
                page_size=self.page_size,
                responder=self.responder,
                inbox=read,
            )
            self.page = found.page
            self._read_at = time.monotonic()
            changes = before.changes if before is not None else read.changes if read else None
            self._seen = None if changes is None else InboxCursor(changes, found.run_states)
            rows, total, agents = found.rows, found.total, found.agents
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
                self.send_message(patch)
            return patch

    def snapshot(self) -> Snapshot:
        """The current page, as sent to a view that opens."""
        with self.lock:
            found = Page(list(self._rows.values()), self.total, self._agents, self.page)
            return page_snapshot(found, self.spec, self.page_size)

    @property
    def query(self) -> QueryFields:
        """The filter the browser shows."""
        return query_fields(self.spec)

    def set_query(self, query: QueryFields, page: int = 0) -> None:
        """Change search, filters, sort (keys as in ``query``) and page; send the new page."""
        with self.lock:
            self.spec = with_query(self.spec, query)
            self.page = max(0, int(page))
            self.refresh(send=False, force=True)
            self.send_message(self.snapshot())

    # -- the browser's messages ----------------------------------------------------------------

    def handle(self, message: BrowserMessage) -> None:
        """Act on one message from the browser."""
        if message["type"] == "hello":
            self.send_message(self.snapshot())
        elif message["type"] == "query":
            self.set_query(message.get("query") or {}, int(message.get("page") or 0))
        elif message["type"] == "respond":
            self.respond(str(message["request_id"]), message)
        elif message["type"] == "bulk":
            self.respond_bulk(
                [str(i) for i in message.get("request_ids", [])],
                approve=bool(message.get("approve")),
                comment=message.get("comment"),
            )
        elif message["type"] == "form" or message["type"] == "details":
            self.send_message(open_panel(self.store, message, responder=self.responder))

    def respond(self, request_id: str, content: Respond) -> ResultMessage:
        """Answer one request as the browser would (``approve``/``choice``/``text``/``value``)."""
        result = answer(self.store, request_id, content, by=self.responder)
        self.send_message(result)
        if result["decided"] or result["ok"]:  # a vote that did not decide changes the row
            self.refresh(force=True)
        return result

    def respond_bulk(
        self, request_ids: list[str], *, approve: bool, comment: str | None = None
    ) -> BulkMessage:
        """Approve or reject the selected requests, each on its own."""
        result = answer_many(
            self.store, request_ids, approve=approve, comment=comment, by=self.responder
        )
        self.send_message(result)
        self.refresh(force=True)
        return result

    # -- without a widget frontend -------------------------------------------------------------

    def text(self) -> str:
        """The current page as plain text."""
        with self.lock:
            rows = list(self._rows.values())
            lines = [f"Inbox: {self.total} waiting, answering as {self.responder}"]
        lines += [f"  {r['id']}  {r['agent']}  [{_kind(r)}] {r['title']}" for r in rows]
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
                    _kind(r),
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


# -- one page of the inbox, without a widget (the widget's and the web page's) ----------------------


@dataclasses.dataclass(frozen=True)
class Page:
    """One page of waiting requests as the browser shows them, and what the menus need."""

    rows: list[Row]
    total: int
    """How many requests wait under the filter (on every page)."""
    agents: list[str]
    """The agents with waiting requests under the filter (the agent menu)."""
    page: int
    """The page shown: the one asked for, or the last one when fewer requests wait."""
    run_states: dict[str, str] = dataclasses.field(default_factory=dict)
    """DBOS's state of the run of each row shown, by run id (what ``Store.inbox_cursor`` looks
    at again to tell whether they changed)."""


def read_page(
    store: Store,
    spec: InboxFilter,
    *,
    page: int,
    page_size: int,
    responder: str,
    inbox: Inbox | None = None,
) -> Page:
    """Page ``page`` of the requests waiting under ``spec``, each row as ``responder`` sees it:
    the counts, then the page's rows (none when ``inbox`` is the inbox just read with ``spec``)."""
    if inbox is not None:
        total, agents = len(inbox), sorted({item.agent for item in inbox.items})
    else:
        total, agents = store.inbox_counts(spec)
    page = min(max(0, page), max(0, (total - 1) // page_size))
    start = page * page_size
    if inbox is None:
        items = store.read_inbox(dataclasses.replace(spec, limit=page_size, offset=start)).items
    else:
        items = inbox.items[start : start + page_size]
    rows = [_row(item, responder) for item in items]
    return Page(rows, total, agents, page, {item.run_id: item.run_state for item in items})


def page_snapshot(found: Page, spec: InboxFilter, page_size: int) -> Snapshot:
    """The message that draws ``found`` whole, with the filter ``spec`` in the menus."""
    return Snapshot(
        type="snapshot",
        rows=found.rows,
        total=found.total,
        agents=found.agents,
        choices=CHOICES,
        query=query_fields(spec),
        page=found.page,
        page_size=page_size,
        now_ms=now_ms(),
    )


def query_fields(spec: InboxFilter) -> QueryFields:
    """The filter ``spec`` as the browser's search box and menus show it."""
    agent = spec.agent if isinstance(spec.agent, str) else None
    kind = spec.kind if isinstance(spec.kind, str) else None
    return QueryFields(
        search=spec.search or "",
        kind=kind or "",
        agent=agent or "",
        overdue=bool(spec.overdue),
        sort=spec.sort,
        descending=spec.descending,
    )


def with_query(spec: InboxFilter, query: QueryFields) -> InboxFilter:
    """``spec`` with the search, filters and sort the browser sent (the keys given change);
    ValueError for an unknown sort or kind."""
    changes: dict[str, Any] = {}
    for key in ("search", "kind", "agent"):
        if key in query:
            changes[key] = str(query[key]) or None
    if "overdue" in query:
        changes["overdue"] = True if query["overdue"] else None
    if "sort" in query:
        changes["sort"] = query["sort"]
    if "descending" in query:
        changes["descending"] = bool(query["descending"])
    return dataclasses.replace(spec, **changes)


def _kind(row: Row) -> str:
    """``approval``, or ``Tool call: refund`` for a tool call."""
    return row["kind"] if row["tool"] is None else row["tool"]["label"]


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
        not_notified=item.not_notified_warning,
        actions=facts["actions"],
        at_deadline=facts["at_deadline"],
        why_not=facts["why_not"],
        tool=facts["tool"],
        quorum=facts["quorum"],
        picks=facts["picks"],
    )


def _request(item: InboxItem) -> Request:
    """The parts of the stored request that say what it takes and who may answer it."""
    rules = item.rules
    timeout_answer = rules.get("timeout_answer")
    tool = rules.get("tool")
    return Request.model_construct(
        request_id=item.request_id,
        kind=RequestKind(item.kind),
        options=item.options,
        multiple=item.multiple,
        min_choices=item.min_choices,
        max_choices=item.max_choices,
        proposal=item.proposal,
        assignees=item.assignees,
        requester=rules.get("requester"),
        allow_requester=rules.get("allow_requester", True),
        deadline=item.deadline,
        on_timeout=rules.get("on_timeout", "raise"),
        timeout_answer=Answer(**timeout_answer) if timeout_answer else None,
        tool=ToolCall(**tool) if tool else None,
        quorum=item.quorum,
        votes=list(item.votes),
    )


def inbox_widget(inbox: Inbox, **options: Any) -> InboxWidget:
    """The live widget for an inbox read through a store, its first page from the inbox's rows."""
    source = inbox.store
    if source is None:
        raise ValueError(
            "This inbox was not read through a store; use hitl.inbox() or Store.inbox()."
        )
    return InboxWidget(source, inbox.spec, read=inbox, **options)
