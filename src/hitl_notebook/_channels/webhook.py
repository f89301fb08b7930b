"""A webhook channel: each notification is a JSON POST signed the Standard Webhooks way
(standardwebhooks.com), with the standard library.

Headers: ``webhook-id`` (the notification's key, the same on every retry, so the receiver drops
duplicates), ``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature:
v1,<base64 HMAC-SHA256(secret, id + "." + timestamp + "." + body)>``. The secret is shared as
``whsec_<base64 key>`` (any other text is used as it is, UTF-8). A receiver checks with
``verify_signature`` and refuses timestamps more than 5 minutes off (replays).

The body (``payload``)::

    {"event": "requested" | "reminder" | "escalated" | "decided" | "timed_out",
     "key": "<request id>:<action>:<n>", "attempt": 1,
     "request": {"id", "run", "agent", "kind", "title", "body", "options", "proposal",
                 "assignees", "deadline", "tool", "state"},
     "decision": null | {"outcome", "approved", "value", "by", "at", "channel", "comment"},
     "recipients": ["alice"], "links": {"alice": {"approve": "https://...", ...}}}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from hitl_notebook._channels.posting import check_url, post
from hitl_notebook._core.notify import Notification

__all__ = ["Webhook", "payload", "sign", "verify_signature"]

TOLERANCE_S = 300


class Webhook:
    """POST each notification as signed JSON to ``url``.

    >>> channels.Webhook("https://example.com/hooks/hitl", secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")

    A 2xx answer is delivered; 408, 425, 429, 5xx and network errors are tried again later by the
    schedule; any other status (a 4xx: wrong URL, refused) counts as never deliverable.
    """

    def __init__(
        self, url: str, secret: str, *, name: str = "webhook", timeout_s: float = 10.0
    ) -> None:
        self.url = check_url(url, "A webhook's url")
        if not secret:
            raise ValueError("A webhook needs a secret to sign with (whsec_<base64>).")
        self._key = _key(secret)
        self.name = name
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"Webhook(name={self.name!r})"

    def send(self, notification: Notification) -> None:
        """POST the notification; raises ``RetryLater`` or ``DeliveryFailed`` when not delivered."""
        body = json.dumps(payload(notification), separators=(",", ":"), default=str).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "hitl-notebook",
            "webhook-id": notification.key,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": _signature(self._key, notification.key, timestamp, body),
        }
        post(self.url, body, headers, timeout_s=self.timeout_s)


def payload(notification: Notification) -> dict[str, Any]:
    """The JSON body of a notification (see the module's docstring)."""
    request = notification.request
    decision = request.decision
    return {
        "event": notification.event,
        "key": notification.key,
        "attempt": notification.attempt,
        "request": {
            "id": request.request_id,
            "run": request.run_id,
            "agent": request.agent,
            "kind": request.kind.value,
            "title": request.title,
            "body": request.body,
            "options": request.options,
            "proposal": request.proposal,
            "assignees": request.assignees,
            "deadline": request.deadline.isoformat() if request.deadline else None,
            "tool": (
                {"name": request.tool.name, "digest": request.tool.digest}
                if request.tool is not None
                else None
            ),
            "state": request.state.value,
        },
        "decision": (
            {
                "outcome": decision.outcome.value,
                "approved": decision.approved,
                "value": decision.value,
                "by": decision.by,
                "at": decision.at.isoformat(),
                "channel": decision.channel,
                "comment": decision.comment,
            }
            if decision is not None
            else None
        ),
        "recipients": list(notification.recipients),
        "links": {person: dict(links) for person, links in notification.links.items()},
    }


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header for a body (``v1,<base64 HMAC>``)."""
    return _signature(_key(secret), msg_id, timestamp, body)


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: float = TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Whether ``body`` with these headers was signed with ``secret`` within ``tolerance_s``
    seconds of ``now``: what a receiver checks before it trusts a notification."""
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        msg_id, timestamp = lowered["webhook-id"], int(lowered["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, msg_id, timestamp, body)
    offered = lowered.get("webhook-signature", "").split()
    return any(hmac.compare_digest(expected, signature) for signature in offered)


def _key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            raise ValueError("A whsec_ secret is followed by base64; this one is not.") from None
    return secret.encode()


def _signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()
