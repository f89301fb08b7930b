"""Every message between a widget's kernel side and its browser side (``static/hitl.js``).

Browser to kernel (``BrowserMessage``): ``hello`` when a view opens, ``query`` (search, filters,
sort, page), ``respond`` (one answer), ``bulk`` (approve or reject many), ``form`` and ``details``
(open a panel under a row). Kernel to browser (``KernelMessage``): ``snapshot`` and ``patch`` (the
inbox page), ``card`` (the run card), ``result`` and ``bulk_result`` (what became of answers),
``form`` and ``details`` (a panel's content), ``notice`` (a line above the widget).

A message from the browser is typed, not trusted: one that is not a JSON object, or has no
``type``, or a ``type`` the view does not take, is ignored; one that lacks a field its handler
needs fails, and the browser shows what failed as a notice (``LiveWidget``).
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from hitl_notebook._notebook.forms import FormField
from hitl_notebook._notebook.text import RequestFacts
from hitl_notebook._store.inbox import SortKey

__all__ = [
    "BrowserMessage",
    "Bulk",
    "BulkMessage",
    "Card",
    "CardMessage",
    "CardRequest",
    "Choices",
    "DecidedToolCall",
    "DetailsError",
    "DetailsMessage",
    "FormMessage",
    "Hello",
    "KernelMessage",
    "Notice",
    "OpenDetails",
    "OpenForm",
    "Patch",
    "Query",
    "QueryFields",
    "RequestDetails",
    "Respond",
    "ResultMessage",
    "Row",
    "Snapshot",
    "SortChoice",
    "TimelineEntry",
]

# -- browser to kernel ---------------------------------------------------------------------------


class Hello(TypedDict):
    """A view opened: send it the whole state (a snapshot or the card)."""

    type: Literal["hello"]


class QueryFields(TypedDict, total=False):
    """The inbox's search, filters and sort, as the browser shows them (``""``: no filter)."""

    search: str
    kind: str
    agent: str
    overdue: bool
    sort: SortKey
    descending: bool


class Query(TypedDict):
    """Show the inbox with these filters (the keys given change), at this page."""

    type: Literal["query"]
    query: NotRequired[QueryFields]
    page: NotRequired[int]


class Respond(TypedDict):
    """Answer one request: ``approve`` (with an edited ``value``), a ``choice``, ``choices``
    (a multiple choice), a ``text``, or a ``value`` alone (an input request's form)."""

    type: Literal["respond"]
    request_id: str
    approve: NotRequired[bool]
    choice: NotRequired[str]
    choices: NotRequired[list[str]]
    text: NotRequired[str]
    value: NotRequired[Any]
    comment: NotRequired[str]
    digest: NotRequired[str]
    """For a tool call: the digest of the call the buttons or the form were drawn for; an
    answer for a call that changed since is refused."""


class Bulk(TypedDict):
    """Approve or reject the selected requests, each on its own."""

    type: Literal["bulk"]
    request_ids: NotRequired[list[str]]
    approve: NotRequired[bool]
    comment: NotRequired[str]


class OpenForm(TypedDict):
    """Send the edit form of one request (or an input request's blank form)."""

    type: Literal["form"]
    request_id: str


class OpenDetails(TypedDict):
    """Send everything about one request."""

    type: Literal["details"]
    request_id: str


BrowserMessage = Hello | Query | Respond | Bulk | OpenForm | OpenDetails

# -- kernel to browser: the inbox ----------------------------------------------------------------


class Row(RequestFacts):
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
    not_notified: str | None
    """``not notified: webhook, email``: the channels that gave up telling people (None: none)."""


class SortChoice(TypedDict):
    """One way to sort the inbox: the key the store takes and the words the menu shows."""

    key: SortKey
    label: str


class Choices(TypedDict):
    """What the inbox's menus offer: the sort keys and the request kinds, from the store's lists."""

    sorts: list[SortChoice]
    kinds: list[str]


class Snapshot(TypedDict):
    """The whole page, sent when a view opens or the query changes."""

    type: Literal["snapshot"]
    rows: list[Row]
    total: int
    agents: list[str]
    choices: Choices
    query: QueryFields
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


class BulkMessage(TypedDict):
    """What became of a bulk answer."""

    type: Literal["bulk_result"]
    message: str
    decided: list[str]
    failed: dict[str, str]


# -- kernel to browser: the run card -------------------------------------------------------------


class TimelineEntry(TypedDict):
    """One status transition of a run."""

    status: str
    detail: str | None
    at_ms: int


class CardRequest(RequestFacts):
    """One open request of the run, answerable from the card."""

    id: str
    kind: str
    title: str
    options: list[str] | None
    has_proposal: bool
    deadline_ms: int | None


class DecidedToolCall(TypedDict):
    """A decided tool call of the run: who decided what, and what an edit changed."""

    id: str
    label: str
    """``Tool call: refund``."""
    decided: str
    """``edited by alice at ...``."""
    changes: list[list[str]]
    """``[argument, proposed, approved]`` rows (empty: nothing changed)."""


class Card(TypedDict):
    """One run: its state in people's words, progress, open requests, result and timeline."""

    run_id: str
    agent: str | None
    state: str
    status: str | None
    detail: str | None
    status_text: str
    progress: float | None
    result: str | None
    requests: list[CardRequest]
    tool_calls: list[DecidedToolCall]
    timeline: list[TimelineEntry]


class CardMessage(TypedDict):
    """The card, sent when it changed."""

    type: Literal["card"]
    card: Card


# -- kernel to browser: both views ---------------------------------------------------------------


class ResultMessage(TypedDict):
    """What became of one answer sent from a widget."""

    type: Literal["result"]
    request_id: str
    ok: bool
    message: str
    decided: bool
    """True when the request is decided (by this answer or an earlier one): the row is done."""
    errors: NotRequired[dict[str, list[str]]]
    """Validation problems by form field path (``""``: the answer as a whole)."""


class FormMessage(TypedDict):
    """The edit form of one request, or an input request's blank form (None, with a message,
    when it has none)."""

    type: Literal["form"]
    request_id: str
    form: FormField | None
    message: str
    fill: NotRequired[bool]
    """True for an input request's form: its answer is the ``value`` alone (no approval)."""
    digest: NotRequired[str]
    """For a tool call: the digest the form's answer carries back."""


class RequestDetails(RequestFacts):
    """A request in full and its run's history.

    ``body_html`` is the body as sanitised Markdown (safe to insert as HTML); ``proposal_rows``
    the proposal as field/value rows (for a tool call, ``tool`` has them as argument rows);
    ``changes`` what an edit changed, as argument/proposed/approved rows.
    """

    title: str
    body: str | None
    body_html: str
    kind: str
    options: list[str] | None
    proposal: dict[str, Any] | None
    proposal_rows: list[list[str]] | None
    assignees: list[str]
    requested_at_ms: int
    deadline_ms: int | None
    decided: str | None
    changes: list[list[str]]
    history: list[TimelineEntry]


class DetailsError(TypedDict):
    """Why a request's details cannot be shown."""

    error: str


class DetailsMessage(TypedDict):
    """Everything about one request: body, proposal, options and its run's status history."""

    type: Literal["details"]
    request_id: str
    details: RequestDetails | DetailsError


class Notice(TypedDict):
    """A short line above the widget."""

    type: Literal["notice"]
    message: str


KernelMessage = (
    Snapshot
    | Patch
    | BulkMessage
    | CardMessage
    | ResultMessage
    | FormMessage
    | DetailsMessage
    | Notice
)
