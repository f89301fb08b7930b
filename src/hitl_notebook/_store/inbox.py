"""The inbox: every request waiting for a human, across all processes, as one query.

One SQL statement joins the open requests with their run's DBOS state (so a run that is being
recovered, ENQUEUED for a moment, or parked, DELAYED, still shows) and with its current status.
Filters, sort and paging happen in the database. JSON fields (options, proposal, assignees) come
back as text and are parsed only when read, so listing 10,000 requests stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, get_args

import sqlalchemy as sa

from hitl_notebook._core.models import RequestKind
from hitl_notebook._core.times import Timeout, duration_seconds, from_ms, now_ms
from hitl_notebook._core.values import check_text
from hitl_notebook._core.views import display_bundle, live_view
from hitl_notebook._db.database import fold, requests, runs
from hitl_notebook._db.dbos_internals import ACTIVE_STATES, workflow_status
from hitl_notebook._db.request_records import OPEN

if TYPE_CHECKING:
    from hitl_notebook._store.store import Store

__all__ = [
    "DEFAULT_SORT",
    "SORT_KEYS",
    "Inbox",
    "InboxFilter",
    "InboxItem",
    "SortKey",
    "query_inbox",
]

SortKey = Literal["requested_at", "deadline", "agent", "title"]
"""What the inbox sorts by: the one list every face offers (CLI choices, HTTP, the widget)."""
SORT_KEYS: tuple[SortKey, ...] = get_args(SortKey)
DEFAULT_SORT: SortKey = "requested_at"


class InboxItem(NamedTuple):
    """One request waiting for a human, as the inbox shows it.

    A named tuple built straight from the query's row (so that listing 10,000 is cheap): times
    are kept in epoch milliseconds and JSON as text, and turned into objects when read.
    """

    request_id: str
    run_id: str
    agent: str
    kind: str
    title: str
    body: str | None
    requested_at_ms: int
    deadline_ms: int | None
    agent_status: str | None
    status_detail: str | None
    run_state: str
    """DBOS's state of the run: PENDING, ENQUEUED (being recovered) or DELAYED (parked)."""
    options_json: str | None
    proposal_json: str | None
    assignees_json: str | None
    as_of_ms: int
    """When the inbox was read."""
    rules_json: str | None = None
    """The request's rules as JSON text: ``on_timeout``, ``timeout_answer``, ``requester`` and
    ``allow_requester`` (its stored spec without the proposal's schema)."""

    @property
    def requested_at(self) -> datetime:
        """When the request was made."""
        return from_ms(self.requested_at_ms)

    @property
    def deadline(self) -> datetime | None:
        """When the request's timeout rule applies (None: no deadline)."""
        return None if self.deadline_ms is None else from_ms(self.deadline_ms)

    @property
    def time_left(self) -> timedelta | None:
        """Until the deadline, when the inbox was read (negative when overdue)."""
        if self.deadline_ms is None:
            return None
        return timedelta(milliseconds=self.deadline_ms - self.as_of_ms)

    @property
    def options(self) -> list[str] | None:
        """The options of a choice."""
        options: list[str] | None = _load(self.options_json)
        return options

    @property
    def proposal(self) -> dict[str, Any] | None:
        """The proposal to approve or edit."""
        proposal: dict[str, Any] | None = _load(self.proposal_json)
        return proposal

    @property
    def assignees(self) -> list[str]:
        """Who should answer (empty: anyone)."""
        return _load(self.assignees_json) or []

    @property
    def rules(self) -> dict[str, Any]:
        """What happens at the deadline and who may answer (see ``rules_json``)."""
        return _load(self.rules_json) or {}

    @property
    def overdue(self) -> bool:
        """True when the deadline has passed (the timeout rule applies when the run next looks)."""
        return self.deadline_ms is not None and self.deadline_ms < self.as_of_ms

    def to_dict(self) -> dict[str, Any]:
        """The item with its values as objects: datetimes, timedelta, parsed JSON."""
        return {
            "request_id": self.request_id,
            "run_id": self.run_id,
            "agent": self.agent,
            "kind": self.kind,
            "title": self.title,
            "body": self.body,
            "options": self.options,
            "proposal": self.proposal,
            "assignees": self.assignees,
            "requested_at": self.requested_at,
            "deadline": self.deadline,
            "time_left": self.time_left,
            "overdue": self.overdue,
            "agent_status": self.agent_status,
            "status_detail": self.status_detail,
            "run_state": self.run_state,
        }


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class InboxFilter:
    """Which waiting requests to list, in which order: the one value the store reads the inbox
    with. Every face builds one from its own input (``Store.inbox``'s keywords, the widget's
    query, the CLI's options, HTTP's query parameters); it refuses what cannot be asked."""

    agent: str | Sequence[str] | None = None
    kind: str | Sequence[str] | None = None
    assignee: str | None = None
    overdue: bool | None = None
    older_than: Timeout | None = None
    search: str | None = None
    sort: SortKey = DEFAULT_SORT
    descending: bool = False
    limit: int | None = None
    offset: int = 0

    def __post_init__(self) -> None:
        """Refuse a filter that cannot be asked (ValueError or TypeError naming it)."""
        for name in ("agent", "kind", "assignee", "search"):
            given = getattr(self, name)
            for value in [] if given is None else _as_list(given):
                if not isinstance(value, str):
                    raise TypeError(f"{name} must be text or a list of text, not {value!r}")
                check_text(value, name)
        kinds = [k.value for k in RequestKind]
        for value in [] if self.kind is None else _as_list(self.kind):
            if value not in kinds:
                raise ValueError(f"Unknown request kind {value!r}; use {', '.join(kinds)}.")
        if isinstance(self.older_than, datetime):
            raise TypeError("older_than is a duration such as '1h', not a datetime")
        if self.older_than is not None:
            duration_seconds(self.older_than, what="older_than")
        if self.sort not in SORT_KEYS:
            raise ValueError(f"Cannot sort by {self.sort!r}; use one of {', '.join(SORT_KEYS)}.")
        _check_count("limit", self.limit, optional=True)
        _check_count("offset", self.offset, optional=False)


def _check_count(name: str, value: object, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number, 0 or more, not {value!r}")


class Inbox(Sequence[InboxItem]):
    """The waiting requests read at one moment: a sequence of InboxItem.

    Displayed in a notebook it is a live widget to answer them in place (see ``widget``).
    """

    def __init__(
        self, items: list[InboxItem], as_of: datetime, spec: InboxFilter | None = None
    ) -> None:
        self.items = items
        self.as_of = as_of
        self.spec = spec or InboxFilter()
        """The filter the inbox was read with."""
        self.store: Store | None = None
        """The store it was read through (the widget answers and refreshes through it)."""

    def widget(
        self,
        *,
        responder: str | None = None,
        refresh_s: float = 2.0,
        page_size: int = 25,
        live: bool = True,
    ) -> Any:
        """A live widget for this inbox: same filter, refreshed every ``refresh_s`` seconds.

        Answers sent from it are recorded as ``responder`` (default ``$HITL_USER``, else the
        login name). Displaying the inbox in a cell makes one with the defaults.

        >>> w = hitl.inbox(agent="RefundAgent").widget(responder="alice")
        """
        return live_view(
            self, responder=responder, refresh_s=refresh_s, page_size=page_size, live=live
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return display_bundle(
            self, lambda: {"text/plain": repr(self), "text/html": self._repr_html_()}, **kwargs
        )

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><td>{escape(i.request_id)}</td><td>{escape(i.agent)}</td>"
            f"<td>{escape(i.kind)}</td><td>{escape(i.title)}</td>"
            f"<td>{'' if i.deadline is None else i.deadline.isoformat(timespec='seconds')}</td></tr>"
            for i in self.items[:20]
        )
        more = f"<p>… and {len(self.items) - 20} more</p>" if len(self.items) > 20 else ""
        return (
            f"<div><p><b>Inbox</b>: {len(self.items)} waiting</p><table><thead><tr>"
            "<th>request</th><th>agent</th><th>kind</th><th>title</th><th>deadline</th>"
            f"</tr></thead><tbody>{cells}</tbody></table>{more}</div>"
        )

    def __getitem__(self, index: Any) -> Any:
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[InboxItem]:
        return iter(self.items)

    def __repr__(self) -> str:
        lines = [
            f"Inbox: {len(self.items)} waiting (as of {self.as_of.isoformat(timespec='seconds')})"
        ]
        lines += [
            f"  {item.request_id}  {item.agent}  [{item.kind}] {item.title}"
            + (f"  ({_left(item.time_left)})" if item.time_left is not None else "")
            for item in self.items[:20]
        ]
        if len(self.items) > 20:
            lines.append(f"  ... and {len(self.items) - 20} more")
        return "\n".join(lines)


def _left(left: timedelta) -> str:
    seconds = int(left.total_seconds())
    sign, seconds = ("overdue ", -seconds) if seconds < 0 else ("", seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{sign}{hours}h{rest // 60:02d}m" if hours else f"{sign}{rest // 60}m{rest % 60:02d}s"


_SORT_COLUMNS: dict[SortKey, sa.ColumnElement[Any]] = {
    "requested_at": requests.c.requested_at_ms,
    "deadline": requests.c.deadline_ms,
    "agent": requests.c.agent,
    "title": requests.c.title,
}


def query_inbox(conn: sa.Connection, spec: InboxFilter) -> Inbox:
    """Run the inbox query for ``spec`` on ``conn``."""
    now = now_ms()
    query: sa.Select[Any] = (
        sa.select(
            requests.c.request_id,
            requests.c.run_id,
            requests.c.agent,
            requests.c.kind,
            requests.c.title,
            requests.c.body,
            requests.c.requested_at_ms,
            requests.c.deadline_ms,
            runs.c.agent_status,
            runs.c.agent_detail,
            workflow_status.c.status,
            _json_text(requests.c.options),
            _json_text(requests.c.proposal),
            _json_text(requests.c.assignees),
            _rules_text(conn.dialect.name),
        )
        .select_from(requests)
        .join(workflow_status, workflow_status.c.workflow_uuid == requests.c.run_id)
        .outerjoin(runs, runs.c.run_id == requests.c.run_id)
        .where(requests.c.state == OPEN)
        .where(workflow_status.c.status.in_(ACTIVE_STATES))
    )
    query = _filtered(query, spec, now, conn.dialect.name)
    column = _SORT_COLUMNS[spec.sort]
    ordering = column.desc() if spec.descending else column.asc()
    if spec.sort == "deadline":
        ordering = ordering.nulls_last()
    query = query.order_by(ordering, requests.c.request_id).offset(spec.offset)
    if spec.limit is not None:
        query = query.limit(spec.limit)
    rows = conn.execute(query).all()
    items = [InboxItem._make((*row[:-1], now, row[-1])) for row in rows]
    return Inbox(items, from_ms(now), spec)


def _json_text(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """A JSON column as text, with a stored JSON null read as SQL NULL."""
    as_text = sa.cast(column, sa.Text)
    return sa.case((as_text == "null", sa.null()), else_=as_text)


def _rules_text(dialect: str) -> sa.ColumnElement[Any]:
    """The request's stored spec as JSON text, without the (possibly large) proposal schema."""
    if dialect == "postgresql":
        spec = sa.cast(requests.c.spec, sa.dialects.postgresql.JSONB)
        return sa.cast(spec.op("-")("proposal_schema").op("-")("proposal_model"), sa.Text)
    return sa.func.json_remove(requests.c.spec, "$.proposal_schema", "$.proposal_model")


def _filtered(query: sa.Select[Any], spec: InboxFilter, now: int, dialect: str) -> sa.Select[Any]:
    if spec.agent is not None:
        query = query.where(requests.c.agent.in_(_as_list(spec.agent)))
    if spec.kind is not None:
        query = query.where(requests.c.kind.in_(_as_list(spec.kind)))
    if spec.overdue is not None:
        late = sa.and_(requests.c.deadline_ms.is_not(None), requests.c.deadline_ms < now)
        query = query.where(late if spec.overdue else sa.not_(late))
    if spec.older_than is not None:
        assert not isinstance(spec.older_than, datetime)
        seconds = duration_seconds(spec.older_than, what="older_than")
        query = query.where(requests.c.requested_at_ms <= now - int(seconds * 1000))
    if spec.search:
        words = fold(spec.search).split()
        for word in words:
            pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(requests.c.title_folded.like(pattern, escape="\\"))
    if spec.assignee is not None:
        query = query.where(_has_assignee(spec.assignee, dialect))
    return query


def _has_assignee(assignee: str, dialect: str) -> sa.ColumnElement[bool]:
    if dialect == "postgresql":
        as_jsonb = sa.cast(requests.c.assignees, sa.dialects.postgresql.JSONB)
        return as_jsonb.op("?")(assignee)
    member = sa.select(sa.literal(1)).select_from(
        sa.func.json_each(requests.c.assignees).table_valued("value")
    )
    return member.where(sa.column("value") == assignee).exists()


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
