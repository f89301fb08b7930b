"""Reaching people away from the notebook, as values: what a request declares (``Notify``), what a
channel is handed (``Notification``), and what a channel is (``Notifier``).

No I/O here. The durable schedule (``_db.schedule_records``) turns a request's ``Notify`` into rows
stored with the request; any launched process with channels configured claims the rows that fall
due and fires them (``_runtime.schedule``), so reminders and escalations happen while the run is
parked or its notebook is closed. Sends are at-least-once: each carries ``Notification.key``
(``<request id>:<action>:<n>``), the same on every retry, for the receiver to drop duplicates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from hitl_notebook._core.models import Request
from hitl_notebook._core.times import Duration, duration_seconds
from hitl_notebook._core.values import check_text, check_texts

__all__ = [
    "MAX_REMINDERS",
    "DeliveryFailed",
    "Directory",
    "Escalation",
    "EventKind",
    "Notification",
    "Notifier",
    "Notify",
    "RetryLater",
]

MAX_REMINDERS = 100
"""At most this many reminders per request, whatever ``remind_every`` says."""

EventKind = Literal["requested", "reminder", "escalated", "decided", "timed_out"]
"""What happened to a request, as a notification says: it was opened (``requested``), is still
waiting (``reminder``), went to more people (``escalated``), was decided, or timed out."""


@dataclass(frozen=True)
class Escalation:
    """At ``after`` (from the request), add ``to`` to the people who may answer, and tell them."""

    after: Duration
    to: tuple[str, ...]

    def __post_init__(self) -> None:
        duration_seconds(self.after)
        if not self.to:
            raise ValueError("An escalation needs at least one person to escalate to.")
        check_texts(self.to, "an escalation's recipient")


@dataclass(frozen=True)
class Notify:
    """How a request reaches people: through which channels, whom, how often reminded, and to whom
    it escalates.

    >>> hitl.Notify(channels=["slack", "email"], remind_every="1h", max_reminders=3,
    ...             escalate=[("4h", ["lead"])])

    ``to``: who is told (default: the request's assignees; a request open to anyone needs ``to``).
    ``channels``: the names of channels configured in the processes that send
    (``hitl_notebook.channels.configure``); empty means the channels configured in the process
    that asks, when it asks (a notebook without channels then plans no messages: name them to
    let a worker send).
    """

    channels: tuple[str, ...] = ()
    to: tuple[str, ...] = ()
    remind_every: Duration | None = None
    max_reminders: int = 3
    escalate: tuple[Escalation, ...] = ()

    def __init__(
        self,
        *,
        channels: Sequence[str] = (),
        to: Sequence[str] = (),
        remind_every: Duration | None = None,
        max_reminders: int = 3,
        escalate: Sequence[Escalation | tuple[Duration, Sequence[str]]] = (),
    ) -> None:
        check_texts(channels, "a channel name")
        check_texts(to, "a recipient")
        if remind_every is not None and duration_seconds(remind_every) <= 0:
            raise ValueError(f"remind_every must be a positive duration, not {remind_every!r}")
        if not 0 <= max_reminders <= MAX_REMINDERS:
            raise ValueError(f"max_reminders is 0 to {MAX_REMINDERS}, not {max_reminders!r}")
        steps = tuple(
            e if isinstance(e, Escalation) else Escalation(e[0], tuple(e[1])) for e in escalate
        )
        object.__setattr__(self, "channels", tuple(channels))
        object.__setattr__(self, "to", tuple(to))
        object.__setattr__(self, "remind_every", remind_every)
        object.__setattr__(self, "max_reminders", max_reminders)
        object.__setattr__(self, "escalate", steps)

    def as_json(self) -> dict[str, object]:
        """What the request stores (its ``spec``), durations in seconds."""
        return {
            "channels": list(self.channels),
            "to": list(self.to),
            "remind_every_s": (
                duration_seconds(self.remind_every) if self.remind_every is not None else None
            ),
            "max_reminders": self.max_reminders,
            "escalate": [
                {"after_s": duration_seconds(e.after), "to": list(e.to)} for e in self.escalate
            ],
        }


@dataclass(frozen=True)
class Directory:
    """Who is who on each channel: a person's identity (as in ``assignees`` and ``by``) to their
    address per channel, and back (a Slack user id to the person who clicked).

    >>> hitl.Directory({"alice": {"email": "alice@example.com", "slack": "U024BE7LH"}})
    """

    people: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for person, addresses in self.people.items():
            check_text(person, "a person's identity")
            check_texts(addresses.keys(), "a channel name")
            check_texts(addresses.values(), f"{person}'s address")

    def address(self, person: str, channel: str) -> str | None:
        """``person``'s address on ``channel`` (None: the channel cannot reach them)."""
        return self.people.get(person, {}).get(channel)

    def person(self, channel: str, address: str) -> str | None:
        """Who has ``address`` on ``channel`` (None: nobody known)."""
        for person, addresses in self.people.items():
            if addresses.get(channel) == address:
                return person
        return None


@dataclass(frozen=True)
class Notification:
    """One message about one request, for one channel to deliver."""

    key: str
    """``<request id>:<action>:<n>``: the same on every attempt (a webhook id, an
    Idempotency-Key, a Message-ID), so a receiver drops duplicates."""
    event: EventKind
    request: Request
    recipients: tuple[str, ...]
    """The people to tell (identities; the channel finds their addresses in the directory)."""
    links: Mapping[str, Mapping[str, str]]
    """Per recipient, signed answer links by answer (``approve``, ``reject``, ``open``, an
    option...), when the sending process has a base URL and a link key."""
    attempt: int
    receipt: str | None = None
    """What the channel returned for this request's first message (``requested``), if it has
    been sent: a Slack message's channel and ts, to thread a reminder under it or to update it
    once ``decided``/``timed_out`` instead of posting another."""
    directory: Directory = field(default_factory=Directory)
    """Who is who on each channel (as configured in the sending process): where the channel
    finds the recipients' addresses."""


class RetryLater(Exception):
    """A channel could not deliver now (a timeout, a 5xx, a 429): try again later."""


class DeliveryFailed(Exception):
    """A channel will never deliver this notification (a 4xx, a bad address): give up."""


@runtime_checkable
class Notifier(Protocol):
    """A channel: ``send`` delivers a notification and returns a receipt (or None); it raises
    ``RetryLater`` or ``DeliveryFailed`` when it cannot. Any other exception counts as
    ``RetryLater``. ``send`` must be safe to repeat with the same ``key``."""

    name: str

    def send(self, notification: Notification) -> str | None: ...
