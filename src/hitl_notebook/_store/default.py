"""The default store, and the package's shortcuts on it (``hitl.respond``, ``hitl.inbox`` ...).

``store()`` is the store of the runtime launched in this process (the runtime hands it over with
``use_launched``), else the store of the configured database; ``connect(url)`` keeps one store
per database.

The shortcuts' keyword signatures repeat ``Store.respond``/``Store.inbox`` on purpose (the public
faces people call); each builds the one ``Reply`` or ``InboxFilter`` and hands it to the store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from hitl_notebook._core.models import Decision, Reply, Vote
from hitl_notebook._core.sync_async import awaitable
from hitl_notebook._core.times import Timeout
from hitl_notebook._db.config import resolve_database_url
from hitl_notebook._db.database import Database
from hitl_notebook._store.inbox import DEFAULT_SORT, Inbox, InboxFilter, SortKey
from hitl_notebook._store.store import BulkResult, Store

__all__ = [
    "connect",
    "inbox",
    "respond",
    "respond_async",
    "respond_many",
    "store",
    "use_launched",
    "vote",
    "vote_async",
]

_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()
_launched: Store | None = None


def connect(database: str | None = None) -> Store:
    """A store on ``database`` (same lookup as ``launch()``); no agent code or launch needed."""
    url = resolve_database_url(database)
    with _stores_lock:
        if url not in _stores:
            _stores[url] = Store(Database(url))
        return _stores[url]


def store() -> Store:
    """The store of the launched runtime, or of the configured database when not launched."""
    return _launched or connect()


def use_launched(launched: Store | None) -> None:
    """Set (at launch) or clear (at shutdown) the store of the runtime launched in this process."""
    global _launched  # noqa: PLW0603 - one launched runtime per process
    _launched = launched


def respond(
    target: str,
    *,
    approve: bool | None = None,
    choice: str | None = None,
    choices: Sequence[str] | None = None,
    text: str | None = None,
    value: Any = None,
    by: str | None = None,
    comment: str | None = None,
    channel: str = "python",
    digest: str | None = None,
) -> Decision:
    """Answer a request (by request id, or by the id of a run waiting for one request).

    >>> hitl.respond(run.id, approve=True, by="alice", comment="ok")
    >>> hitl.respond(request_id, choice="express")
    >>> hitl.respond(request_id, choices=["gift wrap", "express"])   # a multiple choice
    >>> hitl.respond(request_id, value={"street": "1 Main St", "city": "Oslo"})  # an input form
    >>> hitl.respond(request_id, text="Ship it on Monday")
    >>> hitl.respond(request_id, approve=True, value=edited_proposal)
    >>> hitl.respond(request.request_id, approve=True, digest=request.tool.digest)  # a tool call

    Works from any process that reaches the database. See ``Store.respond`` for the errors.
    """
    return store().respond(
        target,
        approve=approve,
        choice=choice,
        choices=choices,
        text=text,
        value=value,
        by=by,
        comment=comment,
        channel=channel,
        digest=digest,
    )


respond_async = awaitable(respond)


def vote(
    target: str,
    *,
    approve: bool,
    by: str | None = None,
    comment: str | None = None,
    channel: str = "python",
    digest: str | None = None,
) -> Vote:
    """Vote on a request that needs several approvals (a ``hitl.Quorum``).

    >>> hitl.vote(request_id, approve=True, by="alice").tally.progress
    '1 of 2 approvals'
    >>> hitl.vote(request_id, approve=True, by="bob").decision   # the 2nd approval decides

    See ``Store.vote`` for the errors.
    """
    return store().vote(
        target, approve=approve, by=by, comment=comment, channel=channel, digest=digest
    )


vote_async = awaitable(vote)


def inbox(
    *,
    agent: str | Sequence[str] | None = None,
    kind: str | Sequence[str] | None = None,
    assignee: str | None = None,
    overdue: bool | None = None,
    older_than: Timeout | None = None,
    search: str | None = None,
    sort: SortKey = DEFAULT_SORT,
    descending: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> Inbox:
    """Every request waiting for a human, across all processes (see ``Store.inbox``).

    Displayed in a notebook it is a live widget to answer them in place (``Inbox.widget``).

    >>> hitl.inbox(agent="RefundAgent", overdue=True, sort="deadline")
    >>> hitl.inbox_frame(hitl.inbox())      # as a DataFrame
    """
    return store().read_inbox(
        InboxFilter(
            agent=agent,
            kind=kind,
            assignee=assignee,
            overdue=overdue,
            older_than=older_than,
            search=search,
            sort=sort,
            descending=descending,
            limit=limit,
            offset=offset,
        )
    )


def respond_many(
    targets: Iterable[str],
    *,
    approve: bool | None = None,
    choice: str | None = None,
    text: str | None = None,
    value: Any = None,
    by: str | None = None,
    comment: str | None = None,
    channel: str = "python",
) -> BulkResult:
    """Give the same answer to many requests, each validated and stored on its own.

    >>> result = hitl.respond_many([i.request_id for i in hitl.inbox(agent="RefundAgent")],
    ...                            approve=True, by="alice")
    >>> result.failed        # {target: error} for the ones refused
    """
    return store().answer_many(
        targets,
        Reply(
            approve=approve,
            choice=choice,
            text=text,
            value=value,
            by=by,
            comment=comment,
            channel=channel,
        ),
    )
