"""The inbox as a value: which waiting requests to list (``InboxFilter``, the sort keys), and
what was read (``Inbox``, a sequence of ``InboxItem``). ``inbox_query`` reads it.

An item keeps the query's row as it came: times in epoch milliseconds and JSON fields (options,
proposal, assignees) as text, parsed only when read, so listing 10,000 requests stays fast. No
SQL here, so the command line and the widgets can name the sort keys without loading SQLAlchemy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, get_args

from hitl_notebook._core.models import RequestKind, pick_range
from hitl_notebook._core.quorum import Ballot, Quorum
from hitl_notebook._core.times import Timeout, duration_seconds, from_ms
from hitl_notebook._core.values import check_text
from hitl_notebook._core.views import display_bundle, live_view

if TYPE_CHECKING:
    from hitl_notebook._store.store import Store

__all__ = [
    "DEFAULT_SORT",
    "SORT_KEYS",
    "Inbox",
    "InboxFilter",
    "InboxItem",
    "SortKey",
    "as_list",
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
    """The request's rules as JSON text: ``on_timeout``, ``timeout_answer``, ``requester``,
    ``allow_requester``, a multiple choice's counts, and an input request's form schema
    (``input_schema`` reads it; ``rules`` leaves it out). A proposal's schema is not read
    (``Store.request`` has it)."""
    votes: tuple[Ballot, ...] = ()
    """The votes cast so far on a quorum request, oldest first."""
    not_notified: tuple[str, ...] = ()
    """The channels that gave up telling people about it (a send failed for good), by name."""

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
    def multiple(self) -> bool:
        """True for a choice of several options (``min_choices`` to ``max_choices`` of them)."""
        return bool(self.rules.get("multiple"))

    @property
    def min_choices(self) -> int | None:
        """For a multiple choice: the fewest options a person picks."""
        least: int | None = self.rules.get("min_choices")
        return least

    @property
    def max_choices(self) -> int | None:
        """For a multiple choice: the most options a person picks."""
        most: int | None = self.rules.get("max_choices")
        return most

    @property
    def picks(self) -> tuple[int, int] | None:
        """For a multiple choice: the fewest and the most options a person picks (None: not
        a multiple choice)."""
        return pick_range(self.multiple, self.min_choices, self.max_choices, self.options)

    @property
    def input_schema(self) -> dict[str, Any] | None:
        """For an input request: the JSON schema of the form to fill in."""
        if self.kind != RequestKind.INPUT:
            return None
        schema: dict[str, Any] | None = (_load(self.rules_json) or {}).get("proposal_schema")
        return schema

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
        rules: dict[str, Any] = _load(self.rules_json) or {}
        rules.pop("proposal_schema", None)
        rules.pop("proposal_model", None)
        return rules

    @property
    def quorum(self) -> Quorum | None:
        """The approvals the request needs (None: one answer decides it)."""
        stored = self.rules.get("quorum")
        return None if stored is None else Quorum.from_json(stored)

    @property
    def not_notified_warning(self) -> str | None:
        """``not notified: email, webhook``, what every face shows when channels gave up telling
        people about the request (None: none did)."""
        return f"not notified: {', '.join(self.not_notified)}" if self.not_notified else None

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
            "multiple": self.multiple,
            "min_choices": self.min_choices,
            "max_choices": self.max_choices,
            "input_schema": self.input_schema,
            "proposal": self.proposal,
            "assignees": self.assignees,
            "requested_at": self.requested_at,
            "deadline": self.deadline,
            "time_left": self.time_left,
            "overdue": self.overdue,
            "agent_status": self.agent_status,
            "status_detail": self.status_detail,
            "run_state": self.run_state,
            "not_notified": list(self.not_notified),
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
            for value in [] if given is None else as_list(given):
                if not isinstance(value, str):
                    raise TypeError(f"{name} must be text or a list of text, not {value!r}")
                check_text(value, name)
        kinds = [k.value for k in RequestKind]
        for value in [] if self.kind is None else as_list(self.kind):
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
        self.changes: int | None = None
        """The inbox's change counter as the rows were read (``Store.inbox_cursor``)."""

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


def as_list(value: str | Sequence[str]) -> list[str]:
    """One text or several (a filter's ``agent``, ``kind``) as a list."""
    return [value] if isinstance(value, str) else list(value)
