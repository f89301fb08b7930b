"""The inbox as a web page: the notebook's inbox widget, served by ``hitl serve`` for people who
never open Jupyter.

``GET /inbox`` is a static page (a strict Content-Security-Policy: scripts, styles and requests
from this server only, no inline script) that loads the widget's own ``hitl.js`` with a small
model in place of anywidget's (``static/web_inbox.js``). That model posts each message the widget
sends to ``POST /inbox/messages`` and hands the widget what comes back: the very messages the
kernel side of the widget sends (``_notebook.messages``), built by the same code
(``_notebook.inbox_widget.read_page``, ``_notebook.actions``). So the page shows what the widget
shows, words, buttons, forms and refusals included.

The server keeps no state per page: each call carries the page's filter and page number, and the
page asks again every 1.5 s (a ``hello``), turning each new snapshot into the widget's ``patch``
itself, so an answer given through another channel shows without a reload. Each reply carries a
``cursor`` (the inbox's change counter and the states of the page's runs, see
``Store.inbox_cursor``); a ``hello`` that sends it back gets no messages when nothing changed,
for the price of one small query.

Every call needs a bearer token (``anonymous_reads`` does not apply: each row says whether the
caller may answer it). Answers are recorded as the token's identity with the channel ``web``; a
message naming anyone is refused (unknown fields are refused, ``by`` among them). The page keeps
the token in ``sessionStorage``; it takes it from a ``#token=`` link (the fragment never reaches
a server) or asks for it, and shows nothing else until a token is accepted.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint's annotations at run time.

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NotRequired, get_origin, get_type_hints

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hitl_notebook import _notebook
from hitl_notebook._core.values import check_text
from hitl_notebook._service.http_json import IJSONRoute
from hitl_notebook._service.http_models import (
    MAX_QUERY_TEXT,
    TEXT_PATTERN,
    ErrorDetail,
    ErrorResponse,
    ParseErrorResponse,
    ValidationErrorResponse,
    no_nul,
)
from hitl_notebook._store.inbox import DEFAULT_SORT, InboxFilter, SortKey
from hitl_notebook._store.inbox_query import InboxCursor
from hitl_notebook._store.store import Store

if TYPE_CHECKING:
    from hitl_notebook._notebook.messages import BrowserMessage, KernelMessage, QueryFields

__all__ = ["CHANNEL", "CSP", "InboxCall", "InboxReply", "inbox_router"]

CHANNEL = "web"
"""The channel answers given on the web inbox page are recorded with."""
STATIC = Path(__file__).parent / "static"
WIDGET_STATIC = Path(_notebook.__file__).parent / "static"
"""The widget's own files (``_notebook`` is imported here for its path only: the widget's code,
anywidget and Markdown load on the first message, never for the rest of the API)."""
MAX_PAGE = 100_000
"""The highest page number a call may ask for (a later page shows the last one)."""
MAX_CURSOR = 16_384
"""The longest cursor a call may send back (a page's run ids and states fit many times)."""
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""The page's Content-Security-Policy: nothing inline, nothing from elsewhere, never framed."""
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_FILES = {
    "hitl.js": WIDGET_STATIC / "hitl.js",
    "hitl.css": WIDGET_STATIC / "hitl.css",
    "web_inbox.js": STATIC / "web_inbox.js",
    "web_inbox.css": STATIC / "web_inbox.css",
}
"""What ``/inbox/static/`` serves: the widget's script and style, and the page's own."""
_MESSAGES = {
    "hello": "Hello",
    "query": "Query",
    "respond": "Respond",
    "bulk": "Bulk",
    "form": "OpenForm",
    "details": "OpenDetails",
}
"""The widget's messages the page may send: their types, by name in ``_notebook.messages``."""

SearchText = Annotated[str, Field(pattern=TEXT_PATTERN, max_length=MAX_QUERY_TEXT)]


class WebQuery(BaseModel):
    """The inbox's search, filters and sort as the page shows them (``""``: no filter)."""

    model_config = ConfigDict(extra="forbid")

    search: SearchText = ""
    kind: SearchText = ""
    agent: SearchText = ""
    overdue: bool = False
    sort: SortKey = DEFAULT_SORT
    descending: bool = False


class InboxCall(BaseModel):
    """One message of the widget (``message``), with the filter and page the page shows."""

    model_config = ConfigDict(extra="forbid")

    message: dict[str, Any] = Field(
        description="A message of the inbox widget: hello, query, respond, bulk, form or "
        "details (their fields as in hitl_notebook/_notebook/messages.py)."
    )
    query: WebQuery = Field(default_factory=WebQuery)
    page: int = Field(default=0, ge=0, le=MAX_PAGE)
    cursor: str | None = Field(
        default=None,
        max_length=MAX_CURSOR,
        description="The cursor of the last reply, with a hello: no messages if nothing changed.",
    )

    _no_nul = field_validator("message")(no_nul)

    @field_validator("message")
    @classmethod
    def _a_message_of_the_widget(cls, message: dict[str, Any]) -> dict[str, Any]:
        from hitl_notebook._notebook import messages  # noqa: PLC0415 - see WIDGET_STATIC

        kind = message.get("type")
        typed = _MESSAGES.get(kind) if isinstance(kind, str) else None
        if typed is None:
            raise ValueError(f"message.type must be one of {', '.join(_MESSAGES)}, not {kind!r}")
        fields = get_type_hints(getattr(messages, typed), include_extras=True)
        unknown = sorted(set(message) - set(fields))
        if unknown:
            about_by = " (who answers is the token's identity, never a field)" * ("by" in unknown)
            raise ValueError(f"a {kind} message takes no {', '.join(unknown)}{about_by}")
        required = {k for k, hint in fields.items() if get_origin(hint) is not NotRequired}
        missing = sorted(required - set(message))
        if missing:
            raise ValueError(f"a {kind} message needs {', '.join(missing)}")
        if "request_id" in message and not isinstance(message["request_id"], str):
            raise ValueError("message.request_id must be text")
        ids = message.get("request_ids", [])
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError("message.request_ids must be a list of texts")
        if "page" in message and not isinstance(message["page"], int):
            raise ValueError("message.page must be a whole number")
        if kind == "query":
            message["query"] = WebQuery.model_validate(message.get("query") or {}).model_dump()
            message["page"] = min(max(0, message.get("page") or 0), MAX_PAGE)
        return message


class InboxReply(BaseModel):
    """What the widget's kernel side would have sent for the message, in order."""

    identity: str = Field(description="Who the caller is: answers are recorded as this name.")
    messages: list[dict[str, Any]] = Field(
        description="Messages of the widget's kernel side: snapshot, result, bulk_result, "
        "form, details, notice (as in hitl_notebook/_notebook/messages.py)."
    )
    cursor: str | None = Field(
        default=None, description="Send it back with the next hello (None: no page was read)."
    )


def inbox_router(store: Store, identify: Callable[..., str]) -> APIRouter:
    """The web inbox's routes over ``store``; ``identify`` is the router's bearer dependency
    (the caller's identity, or 401)."""
    router = APIRouter(tags=["web inbox"], route_class=IJSONRoute)
    Caller = Annotated[str, Depends(identify)]

    @router.get("/inbox", response_class=HTMLResponse, include_in_schema=False)
    def inbox_page() -> Response:
        """The inbox page (it asks for a token before it shows anything)."""
        return FileResponse(STATIC / "web_inbox.html", media_type="text/html", headers=_HEADERS)

    @router.get("/inbox/static/{name}", include_in_schema=False)
    def inbox_file(name: str) -> Response:
        """The page's scripts and styles (nothing else is served from here)."""
        path = _FILES.get(name)
        if path is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                detail=ErrorDetail(error="NotFound", message=f"No file {name!r}.").model_dump(),
            )
        media = "text/javascript" if name.endswith(".js") else "text/css"
        return FileResponse(path, media_type=media, headers=_HEADERS)

    @router.post(
        "/inbox/messages",
        responses={
            400: {"model": ParseErrorResponse, "description": "The body is not JSON."},
            401: {"model": ErrorResponse, "description": "No token, or an unknown one."},
            413: {"model": ErrorResponse, "description": "The body is longer than 1 MiB."},
            422: {"model": ValidationErrorResponse, "description": "Not a message of the inbox."},
        },
    )
    def inbox_messages(call: InboxCall, caller: Caller, response: Response) -> InboxReply:
        """Act on one message of the inbox widget as the caller; reply with what the widget's
        kernel side would send (a snapshot of the page after every change)."""
        response.headers["Cache-Control"] = "no-store"
        try:
            sent, cursor = handle(store, call, caller)
        except ValueError as error:  # an unknown sort or kind, an answer of the wrong type
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=ErrorDetail(error=type(error).__name__, message=str(error)).model_dump(),
            ) from None
        return InboxReply(identity=caller, messages=[dict(m) for m in sent], cursor=cursor)

    return router


def handle(store: Store, call: InboxCall, caller: str) -> "tuple[list[KernelMessage], str | None]":
    """What ``InboxWidget.handle`` sends for ``call.message``, answering as ``caller``: a result
    then the page for an answer, the page for ``hello`` and ``query`` (nothing for a ``hello``
    whose cursor says that nothing changed), a panel for ``form`` and ``details``; and the
    cursor of the page sent."""
    from hitl_notebook._notebook.actions import (  # noqa: PLC0415 - see WIDGET_STATIC
        answer,
        answer_many,
        open_panel,
    )
    from hitl_notebook._notebook.inbox_widget import (  # noqa: PLC0415 - same
        PAGE_SIZE,
        page_snapshot,
        read_page,
        with_query,
    )

    message: BrowserMessage = call.message  # type: ignore[assignment] # checked by InboxCall
    spec = with_query(InboxFilter(), _fields(call.query))
    page = call.page
    sent: list[KernelMessage] = []
    seen = _cursor(call.cursor) if message["type"] == "hello" else None
    timeless = spec.overdue is None and spec.older_than is None
    before = store.inbox_cursor(() if seen is None else seen.run_states)
    if seen is not None and timeless and before == seen:
        return [], call.cursor
    if message["type"] == "query":
        spec = with_query(spec, message.get("query") or {})
        page = int(message.get("page") or 0)
    elif message["type"] == "respond":
        sent.append(answer(store, message["request_id"], message, by=caller, channel=CHANNEL))
    elif message["type"] == "bulk":
        sent.append(
            answer_many(
                store,
                list(message.get("request_ids", [])),
                approve=bool(message.get("approve")),
                comment=message.get("comment"),
                by=caller,
                channel=CHANNEL,
            )
        )
    elif message["type"] == "form" or message["type"] == "details":
        return [open_panel(store, message, responder=caller)], None
    found = read_page(store, spec, page=page, page_size=PAGE_SIZE, responder=caller)
    sent.append(page_snapshot(found, spec, PAGE_SIZE))
    return sent, json.dumps([before.changes, found.run_states])


def _cursor(sent: str | None) -> InboxCursor | None:
    """The cursor a page sent back (None: none, or not one this server made)."""
    try:
        changes, states = json.loads(sent or "null") or (None, None)
        if not isinstance(changes, int) or not isinstance(states, dict):
            return None
        for run_id, state in states.items():
            if not isinstance(state, str):
                return None
            check_text(run_id + state, "the cursor")  # no database takes NUL, lone surrogates
    except (ValueError, TypeError):
        return None
    return InboxCursor(changes, states)


def _fields(query: WebQuery) -> "QueryFields":
    from hitl_notebook._notebook.messages import QueryFields  # noqa: PLC0415 - see WIDGET_STATIC

    return QueryFields(
        search=query.search,
        kind=query.kind,
        agent=query.agent,
        overdue=query.overdue,
        sort=query.sort,
        descending=query.descending,
    )
