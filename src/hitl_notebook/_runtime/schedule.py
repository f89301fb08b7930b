"""Firing the durable schedule: the channels this process sends through, and the loop that claims
due rows and does what they say.

``configure`` names this process's channels (``Notifier``s), who is who on them (``Directory``),
and how answer links are made. Every launched process runs a ``Scheduler`` (one daemon thread,
one look per ``interval``, ``hitl.launch(schedule_every=...)``; a look that finds nothing due is
one indexed read, no write): it claims the due rows of its channels and the rows that change
requests (``_db.schedule_records.claim``) and fires them:

- ``notify``, ``remind``, ``escalated``, ``decided``, ``timed_out``: send through the row's channel,
  then complete the row (at-least-once; a reminder for a request decided meanwhile is skipped).
  A channel that fails is tried again with backoff; after ``MAX_ATTEMPTS`` the row is ``failed``
  and the run's history says so ("not notified").
- ``escalate``: add the people to the request's assignees, add an ``escalated`` send, complete the
  row, in one transaction (exactly once).
- ``deadline``: decide the request as timed out (with its default, if declared) and wake its run,
  unless an answer came first, and complete the row, in one transaction (exactly once): the
  default applies at the deadline even when the run's own process is down (the run resumes with
  it when its process is back).

Each action done is a line in the run's history (``_db.run_records.append_event``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from hitl_notebook._core.answers import at_deadline, decision_for
from hitl_notebook._core.models import Request, Sender
from hitl_notebook._core.notify import (
    DeliveryFailed,
    Directory,
    EventKind,
    Notification,
    Notifier,
)
from hitl_notebook._core.times import now_ms
from hitl_notebook._core.values import storable
from hitl_notebook._db.changes import note_change
from hitl_notebook._db.database import Database, requests
from hitl_notebook._db.dbos_internals import wake
from hitl_notebook._db.request_records import (
    ANSWERS_CHANNEL,
    OPEN,
    decide,
    request_from_row,
)
from hitl_notebook._db.run_records import append_event
from hitl_notebook._db.schedule_records import (
    add_sends,
    claim,
    complete,
    due_now,
    first_receipt,
    release,
    retry,
)

__all__ = [
    "MAX_ATTEMPTS",
    "Channels",
    "LinkMaker",
    "Scheduler",
    "configure",
    "configured",
]

log = logging.getLogger("hitl_notebook.schedule")

MAX_ATTEMPTS = 5
"""Sends are tried this often before a notification counts as failed."""
BACKOFF_S = (2.0, 10.0, 60.0, 300.0)
"""How long to wait before each further attempt."""
LEASE_S = 60.0
"""How long a claimed row is this process's; longer than any send may take."""
SEND_MARGIN = 0.25
"""A claimed row is not sent once less than this part of its lease is left (a slow batch): another
process may claim it when the lease ends, and both would send. It is given back at once instead."""
STOP_WAIT_S = 2.0
"""How long stopping waits for a tick in progress."""
BATCH = 500
"""Rows per claim; a full batch is followed by another claim at once."""

_EVENTS: dict[str, EventKind] = {
    "notify": "requested",
    "remind": "reminder",
    "escalated": "escalated",
    "decided": "decided",
    "timed_out": "timed_out",
}
_SENT_WORDS = {
    "requested": "notified",
    "reminder": "reminded",
    "escalated": "notified",
    "decided": "notified",
    "timed_out": "notified",
}

LinkMaker = Callable[[Request, str], Mapping[str, str]]
"""Makes a recipient's answer links for a request: ``{"approve": url, "reject": url, ...}``."""


@dataclass(frozen=True)
class Channels:
    """What this process sends through."""

    notifiers: Mapping[str, Notifier] = field(default_factory=dict)
    directory: Directory = field(default_factory=Directory)
    links: LinkMaker | None = None

    @property
    def names(self) -> list[str]:
        """The channels' names, sorted."""
        return sorted(self.notifiers)


_configured = Channels()
_configured_lock = threading.Lock()


def configure(
    channels: Sequence[Notifier] = (),
    *,
    directory: Directory | Mapping[str, Mapping[str, str]] | None = None,
    links: LinkMaker | None = None,
) -> Channels:
    """Set the channels this process sends notifications through (replacing any set before),
    who is who on them, and how answer links are made. Returns what is configured."""
    global _configured  # noqa: PLW0603 - the process's one configuration, as the runtime's
    notifiers: dict[str, Notifier] = {}
    for channel in channels:
        if not isinstance(channel, Notifier):
            raise TypeError(f"{channel!r} is not a channel: it needs a name and send().")
        if channel.name in notifiers:
            raise ValueError(f"Two channels are named {channel.name!r}; give each its own name.")
        notifiers[channel.name] = channel
    if directory is not None and not isinstance(directory, Directory):
        directory = Directory(directory)
    with _configured_lock:
        _configured = Channels(notifiers, directory or Directory(), links)
        return _configured


def configured() -> Channels:
    """What ``configure`` set in this process."""
    return _configured


class Scheduler:
    """Claims and fires this process's share of the schedule, on a daemon thread."""

    def __init__(
        self,
        database: Database,
        owner: str,
        *,
        interval_s: float = 1.0,
        lease_s: float = LEASE_S,
        channels: Callable[[], Channels] = configured,
    ) -> None:
        self.database = database
        self.owner = owner
        self.interval_s = interval_s
        self.lease_s = lease_s
        """How long a claimed row is this process's (another claims it after, if not done)."""
        self._channels = channels
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="hitl-schedule", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop looking; wait briefly for a tick in progress. A tick cut short is safe: its
        claimed rows are fenced and claimed again when their lease ends, so a process that is
        told to stop (a worker's SIGTERM) does not wait on a busy database here."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_WAIT_S)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                while self.tick() >= BATCH and not self._stop.is_set():
                    pass
            except Exception:
                log.exception("The schedule could not be fired; trying again.")

    def tick(self, at_ms: int | None = None) -> int:
        """Claim the rows due now (or at ``at_ms``) and fire them; returns how many were claimed.

        One row that cannot be fired (a database error) is logged and left to its lease's end;
        the others are fired."""
        channels = self._channels()
        at = now_ms() if at_ms is None else at_ms
        with self.database.autocommit.connect() as conn:
            if not due_now(conn, channels=channels.names, now_ms=at):
                return 0
        with self.database.engine.begin() as conn:
            rows = claim(
                conn,
                owner=self.owner,
                channels=channels.names,
                now_ms=at,
                lease_ms=int(self.lease_s * 1000),
                limit=BATCH,
            )
        margin_ms = int(self.lease_s * 1000 * SEND_MARGIN)
        for i, row in enumerate(rows):
            if now_ms() >= row.lease_until_ms - margin_ms:
                with self.database.engine.begin() as conn:
                    release(conn, rows[i:], owner=self.owner)
                break
            try:
                if row.action == "escalate":
                    self._escalate(row)
                elif row.action == "deadline":
                    self._deadline(row)
                else:
                    self._send(row, channels)
            except Exception:
                log.exception(
                    "Could not fire %s (%s); it is tried again later.", row.key, row.action
                )
        return len(rows)

    # -- the actions --------------------------------------------------------------------------

    def _send(self, row: sa.Row[Any], channels: Channels) -> None:
        notifier = channels.notifiers.get(row.channel)
        with self.database.autocommit.connect() as conn:
            found = conn.execute(
                sa.select(requests, first_receipt(row.request_id, row.channel)).where(
                    requests.c.request_id == row.request_id
                )
            ).first()
        receipt = None if found is None else found.first_receipt
        if notifier is None or found is None:
            self._finish(row, "skipped")
            return
        request = request_from_row(found)
        event = _EVENTS[row.action]
        if event in ("requested", "reminder", "escalated") and not request.is_open:
            self._finish(row, "skipped")
            return
        recipients = _recipients(request, row)
        links = (
            {person: channels.links(request, person) for person in recipients}
            if channels.links is not None
            else {}
        )
        notification = Notification(
            key=row.key,
            event=event,
            request=request,
            recipients=recipients,
            links=links,
            attempt=row.attempts,
            receipt=receipt,
            directory=channels.directory,
        )
        try:
            sent = notifier.send(notification)
        except DeliveryFailed as error:
            self._failed(row, request, str(error))
            return
        except Exception as error:  # any other failure is worth another try
            if row.attempts >= MAX_ATTEMPTS:
                self._failed(row, request, f"{type(error).__name__}: {error}")
                return
            delay = BACKOFF_S[min(row.attempts, len(BACKOFF_S)) - 1]
            with self.database.engine.begin() as conn:
                retry(
                    conn,
                    row,
                    owner=self.owner,
                    due_ms=now_ms() + int(delay * 1000),
                    error=storable(f"{type(error).__name__}: {error}"),
                )
            return
        at = now_ms()
        with self.database.engine.begin() as conn:
            if complete(conn, row, owner=self.owner, at_ms=at, result="sent", receipt=sent):
                who = ", ".join(recipients) or "nobody named"
                what = f"reminder {_number(row)}" if event == "reminder" else event
                append_event(
                    conn,
                    run_id=request.run_id,
                    key=f"{row.key}@{row.channel}",
                    agent=request.agent,
                    event=_SENT_WORDS[event],
                    detail=storable(f"{row.channel}: {what} to {who}"),
                    at_ms=at,
                )

    def _failed(self, row: sa.Row[Any], request: Request, error: str) -> None:
        at = now_ms()
        with self.database.engine.begin() as conn:
            if complete(
                conn, row, owner=self.owner, at_ms=at, result="failed", error=storable(error)
            ):
                append_event(
                    conn,
                    run_id=request.run_id,
                    key=f"{row.key}@{row.channel}",
                    agent=request.agent,
                    event="not notified",
                    detail=storable(f"{row.channel}: gave up after {row.attempts} tries: {error}"),
                    at_ms=at,
                )
                note_change(conn, request.run_id)  # the inbox says "not notified"

    def _finish(self, row: sa.Row[Any], result: str) -> None:
        with self.database.engine.begin() as conn:
            complete(conn, row, owner=self.owner, at_ms=now_ms(), result=result)

    def _escalate(self, row: sa.Row[Any]) -> None:
        at = now_ms()
        to = list((row.payload or {}).get("to") or [])
        with self.database.engine.begin() as conn:
            found = _lock_request(conn, row.request_id)
            if found is None or found.state != OPEN:
                complete(conn, row, owner=self.owner, at_ms=at, result="skipped")
                return
            added = [person for person in to if person not in (found.assignees or [])]
            if not complete(conn, row, owner=self.owner, at_ms=at, result="done"):
                return  # another process took it over: it escalates
            if found.assignees:  # a request open to anyone stays open to anyone
                conn.execute(
                    requests.update()
                    .where(requests.c.request_id == row.request_id)
                    .values(assignees=[*found.assignees, *added])
                )
            add_sends(
                conn,
                request_id=row.request_id,
                run_id=row.run_id,
                action="escalated",
                n=_number(row),
                channels=_channels_of(found),
                due_ms=at,
                payload={"to": to},
            )
            append_event(
                conn,
                run_id=row.run_id,
                key=f"{row.key}@escalate",
                agent=found.agent,
                event="escalated",
                detail=storable(f"{found.title}: escalated to {', '.join(to)}"),
                at_ms=at,
            )
            note_change(conn, row.run_id)

    def _deadline(self, row: sa.Row[Any]) -> None:
        at = now_ms()
        with self.database.engine.begin() as conn:
            found = _lock_request(conn, row.request_id)
            if found is None or found.state != OPEN:
                complete(conn, row, owner=self.owner, at_ms=at, result="skipped")
                return
            if not complete(conn, row, owner=self.owner, at_ms=at, result="done"):
                return
            request = request_from_row(found)
            timeout = decision_for(request, at_deadline(request), Sender.deadline(at))
            decided = decide(conn, timeout, before_deadline=False)
            if decided is not None:
                no_default = request.default_answer is None
                applied = "it has no default" if no_default else "its default applies"
                append_event(
                    conn,
                    run_id=row.run_id,
                    key=f"{row.key}@deadline",
                    agent=found.agent,
                    event="timed out",
                    detail=storable(f"{found.title}: the deadline passed; {applied}"),
                    at_ms=at,
                )
                wake(conn, request.run_id, now_ms=at, announce_on=ANSWERS_CHANNEL)
                note_change(conn, request.run_id)


def _lock_request(conn: sa.Connection, request_id: str) -> sa.Row[Any] | None:
    """The request's row, locked until the transaction ends (Postgres; SQLite writers hold the
    database's lock from their BEGIN): two escalations of one request, or an escalation and an
    answer, in two processes at once, come one after the other instead of one losing its change."""
    return conn.execute(
        sa.select(requests).where(requests.c.request_id == request_id).with_for_update()
    ).first()


def _number(row: sa.Row[Any]) -> int:
    """The ``n`` of a row's key ``<request>:<action>:<n>``."""
    return int(row.key.rsplit(":", 1)[1])


def _recipients(request: Request, row: sa.Row[Any]) -> tuple[str, ...]:
    if row.action == "escalated":
        return tuple((row.payload or {}).get("to") or ())
    declared = (request.notify or {}).get("to") or []
    return tuple(declared or request.assignees)


def _channels_of(found: sa.Row[Any]) -> list[str]:
    """The channels a request goes out on (named when it was stored)."""
    return list(((found.spec or {}).get("notify") or {}).get("channels") or [])
