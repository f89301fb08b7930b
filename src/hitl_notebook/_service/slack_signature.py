"""Slack's request signature: ``X-Slack-Signature: v0=hex(HMAC-SHA256(signing secret,
"v0:" + X-Slack-Request-Timestamp + ":" + raw body))``, refused when the timestamp is more than
five minutes away from now (a replay). Checked on the raw bytes, before anything reads them.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["MAX_SKEW_S", "slack_headers", "slack_signature", "valid_slack_request"]

MAX_SKEW_S = 300
"""Slack's replay window: a request signed longer ago (or later) than this is refused."""


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Slack-Signature`` Slack sends with ``body`` at ``timestamp``."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def valid_slack_request(
    secret: str,
    body: bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    now_s: float | None = None,
) -> bool:
    """True when ``signature`` signs ``body`` at ``timestamp`` with ``secret``, and
    ``timestamp`` is within five minutes of now."""
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    now = time.time() if now_s is None else now_s
    if abs(now - int(timestamp)) > MAX_SKEW_S:
        return False
    expected = slack_signature(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), signature.encode())


def slack_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack would send with ``body`` (for tests and local tools)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(secret, ts, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
