"""Reaching people away from the notebook: the channels a process sends notifications through.

>>> from hitl_notebook import channels
>>> channels.configure(
...     [channels.Slack(token=os.environ["SLACK_BOT_TOKEN"], channel="C0123APPROVALS"),
...      channels.Email("smtp.example.com", 587, "approvals@example.com", starttls=True),
...      channels.Webhook("https://hooks.example.com/hitl", secret=os.environ["HITL_WEBHOOK_SECRET"])],
...     directory={"alice": {"email": "alice@example.com", "slack": "U024BE7LH"}},
... )

A request that declares ``hitl.Notify(...)`` (or whose agent does) is then announced, reminded
and escalated through these channels by any launched process that has them configured, also while
its run is parked; a decision updates or follows up the messages. A channel that fails is tried
again with backoff and never fails the run; after the last try the run's history says "not
notified". ``hitl worker`` configures its channels from ``HITL_*`` variables and the ``notify:``
section of dbos-config.yaml (``configure_from_environment``).

A channel of your own is any object with a ``name`` and ``send(notification) -> receipt | None``
that raises ``RetryLater`` or ``DeliveryFailed`` (``hitl.Notifier``). Sends are at-least-once:
``notification.key`` is the same on every attempt, for the receiver to drop duplicates.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from hitl_notebook._channels.apprise import Apprise
from hitl_notebook._channels.environment import channels_from_environment
from hitl_notebook._channels.mail import Email
from hitl_notebook._channels.slack import Slack
from hitl_notebook._channels.webhook import Webhook, verify_signature
from hitl_notebook._core.notify import (
    DeliveryFailed,
    Directory,
    Notification,
    Notifier,
    RetryLater,
)
from hitl_notebook._runtime.schedule import Channels, LinkMaker, configure, configured

__all__ = [
    "Apprise",
    "Channels",
    "DeliveryFailed",
    "Directory",
    "Email",
    "LinkMaker",
    "Notification",
    "Notifier",
    "RetryLater",
    "Slack",
    "Webhook",
    "configure",
    "configure_from_environment",
    "configured",
    "verify_signature",
]


def configure_from_environment(
    environ: Mapping[str, str] | None = None, *, config: Path | None = None
) -> Channels:
    """Configure the channels the ``HITL_*`` variables and the ``notify:`` section of
    dbos-config.yaml describe (see ``_channels.environment``); what ``hitl worker`` does."""
    found, directory = channels_from_environment(environ, config)
    return configure(found, directory=directory)


for _name in ("Apprise", "Email", "Slack", "Webhook", "verify_signature"):
    globals()[_name].__module__ = __name__  # reprs and docs say hitl_notebook.channels.X
del _name
