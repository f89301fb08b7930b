"""apprise as a channel (the ``apprise`` extra): the notification as a title and plain text to
every URL apprise knows (``mailto://``, ``json://``, ``tgram://``, ``msteams://``...).

Broadcast only: no buttons and no per-person links (one message goes to every URL), and no
idempotency key (a retry may repeat a message). apprise returns failures rather than raising
them: a falsy result (any URL failed) is ``RetryLater``, and a retry sends to every URL again.
"""

from __future__ import annotations

import importlib
import urllib.parse
from collections.abc import Sequence
from typing import Any

from hitl_notebook._channels import message
from hitl_notebook._core.extras import extra_required
from hitl_notebook._core.notify import Notification, RetryLater

__all__ = ["Apprise"]


class Apprise:
    """Send each notification to the apprise ``urls``.

    >>> channels.Apprise(["mailto://user:pass@example.com", "json://hooks.example.com/hitl"])
    """

    def __init__(self, urls: str | Sequence[str], *, name: str = "apprise") -> None:
        with extra_required("hitl_notebook.channels.Apprise", "apprise", "apprise", "apprise"):
            apprise = importlib.import_module("apprise")  # an optional extra, loaded when used

        wanted = [urls] if isinstance(urls, str) else list(urls)
        if not wanted:
            raise ValueError("Apprise needs at least one URL.")
        self._apprise: Any = apprise.Apprise()
        self._text = apprise.NotifyFormat.TEXT
        for url in wanted:
            if not self._apprise.add(url):
                scheme = urllib.parse.urlsplit(url).scheme or url.partition(":")[0]
                raise ValueError(f"apprise does not take this {scheme}:// URL; check its form.")
        self.name = name

    def __repr__(self) -> str:
        return f"Apprise({len(self._apprise)} URLs, name={self.name!r})"

    def send(self, notification: Notification) -> None:
        """Notify every URL; raises ``RetryLater`` if apprise reports a failure."""
        sent = self._apprise.notify(
            title=message.subject(notification),
            body=message.plain_text(notification),
            body_format=self._text,
        )
        if not sent:
            raise RetryLater("apprise could not deliver to every URL (its log says which)")
