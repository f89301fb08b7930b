"""Answer links, served: ``GET /a/{token}`` shows what the link answers, ``POST /a/{token}``
answers. The token is the credential (no cookie, no session): the identity recorded is the
link's addressee, the channel ``email-link``.

A GET never decides: mail scanners and link previews fetch every link in a message. The POST goes
through the store's one answer rule (``Store.answer``) with the token's digest, so the answer is
checked as any other; a link answers once:

==========================================  ====  ==========================================
the link                                    code  page
==========================================  ====  ==========================================
not a complete token / a bad form           400   "not a complete answer link"
forged (bad MAC, unknown or retired key)    403   "was not signed by this service"
giving an answer it was not made for        403   "this link does not give that answer"
addressee not allowed (assignees...)        403   the store's message
for a request that no longer exists         404
already decided / run cancelled or ended    409   who decided, when; nothing changed
made for another tool call (digest)         409   "the call changed"; nothing changed
expired (its max age or the deadline)       410   "has expired"
invalid answer (an empty text)              422   the store's message
==========================================  ====  ==========================================

Serve it with ``hitl serve`` and ``$HITL_LINK_KEYS`` (or ``--link-keys FILE``): ``kid:secret``
pairs, newest first; the sending processes make links with the same keys
(``hitl_notebook.links.answer_links``). Tokens stay out of ``hitl serve``'s access log
(``HideLinkTokens``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from hitl_notebook._core.access import check_responder
from hitl_notebook._core.errors import (
    AlreadyDecidedError,
    DeadlinePassedError,
    HitlError,
    InvalidAnswerError,
    NotAllowedError,
    NotFoundError,
    NotWaitingError,
    StaleAnswerError,
)
from hitl_notebook._core.links import BadLink, LinkGrant, LinkKeys, reply_fields
from hitl_notebook._core.models import Reply
from hitl_notebook._core.models import Request as HitlRequest
from hitl_notebook._service.http_form import BodyTooLong, form_fields, raw_body
from hitl_notebook._service.link_page import PAGE_HEADERS, confirm_page, message_page
from hitl_notebook._store.store import Store

__all__ = ["LINK_CHANNEL", "HideLinkTokens", "create_link_router"]

LINK_CHANNEL = "email-link"
"""The channel an answer given through a link is recorded with."""

_BAD_LINK_STATUS = {"malformed": 400, "forged": 403, "expired": 410}
_STORE_STATUS: list[tuple[type[HitlError], int]] = [
    (StaleAnswerError, 409),
    (NotAllowedError, 403),
    (NotFoundError, 404),
    (NotWaitingError, 409),
    (AlreadyDecidedError, 409),
    (DeadlinePassedError, 410),
    (InvalidAnswerError, 422),
]


class _Refused(Exception):
    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def create_link_router(
    store: Store, keys: LinkKeys, *, clock: Callable[[], float] | None = None
) -> APIRouter:
    """``GET``/``POST /a/{token}``: the answer links signed with ``keys``, answered on ``store``."""
    router = APIRouter(tags=["answer links"], include_in_schema=False)

    def open_link(token: str) -> tuple[LinkGrant, HitlRequest]:
        try:
            grant = keys.verify(token, now_s=None if clock is None else clock())
        except BadLink as bad:
            raise _Refused(
                _BAD_LINK_STATUS[bad.reason], "This link does not work", str(bad)
            ) from None
        try:
            request = store.request(grant.request_id)
        except NotFoundError:
            raise _Refused(404, "Nothing to answer", "This request no longer exists.") from None
        current = request.tool.digest if request.tool is not None else None
        if grant.digest != current:
            raise _Refused(
                409,
                "The call changed",
                "This link was made for another version of the call; nothing was changed. "
                "Answer from the newest message.",
            )
        if not request.is_open:
            raise _Refused(409, "Already decided", _decided_message(request))
        try:
            check_responder(request, grant.responder)
        except NotAllowedError as error:
            raise _Refused(403, "Not yours to answer", str(error)) from None
        return grant, request

    @router.get("/a/{token}", response_class=HTMLResponse)
    async def show(token: str) -> HTMLResponse:
        """What the link answers, and a button to answer; loading it changes nothing."""
        try:
            grant, request = await run_in_threadpool(open_link, token)
        except _Refused as refused:
            return _page(refused.status, message_page(refused.title, refused.message))
        return _page(200, confirm_page(request, grant))

    @router.post("/a/{token}", response_class=HTMLResponse)
    async def answer(token: str, request: Request) -> HTMLResponse:
        """Answer as the link's addressee, through the store's one answer rule."""
        try:
            fields = form_fields(await raw_body(request))
        except BodyTooLong:
            return _page(413, message_page("Too long", "The answer is too long."))
        except ValueError:
            return _page(400, message_page("Not an answer", "The form could not be read."))
        try:
            title, message = await run_in_threadpool(_answer, fields, token)
        except _Refused as refused:
            return _page(refused.status, message_page(refused.title, refused.message))
        return _page(200, message_page(title, message))

    def _answer(fields: dict[str, str], token: str) -> tuple[str, str]:
        grant, request = open_link(token)
        word = fields.get("answer", "")
        if word not in grant.answers:
            raise _Refused(403, "Not this answer", "This link does not give that answer.")
        reply = Reply(
            **reply_fields(word, fields.get("text")),
            comment=fields.get("comment") or None,
            by=grant.responder,
            channel=LINK_CHANNEL,
            digest=grant.digest,
        )
        try:
            decision = store.answer(request.request_id, reply)
        except HitlError as error:
            code = next((c for kind, c in _STORE_STATUS if isinstance(error, kind)), 400)
            raise _Refused(code, "Not answered", str(error)) from None
        return "Answered", (
            f"{decision.outcome.value.capitalize()}: recorded as {decision.who} "
            f"at {decision.at.isoformat(' ', 'seconds')}. You can close this page."
        )

    return router


def _decided_message(request: HitlRequest) -> str:
    decision = request.decision
    if decision is None:
        return "This request was cancelled with its run; nothing was changed."
    return (
        f"This request was decided already: {decision.outcome.value} by {decision.who} "
        f"at {decision.at.isoformat(' ', 'seconds')}. Nothing was changed."
    )


def _page(status: int, html: str) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


class HideLinkTokens(logging.Filter):
    """Replaces answer-link tokens in log records (uvicorn's access log) with ``<token>``."""

    _TOKEN = re.compile(r"/a/[^/?#\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._hide(arg) for arg in record.args)
        record.msg = self._hide(record.msg)
        return True

    def _hide(self, value: Any) -> Any:
        return self._TOKEN.sub("/a/<token>", value) if isinstance(value, str) else value
