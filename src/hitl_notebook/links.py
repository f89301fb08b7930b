"""Answer links: signed, expiring URLs that let the person a message was sent to answer from the
message (an e-mail, a Slack message) without logging in.

>>> from hitl_notebook import channels
>>> from hitl_notebook.links import LinkKeys, answer_links
>>> channels.configure([...], links=answer_links("https://hitl.example.com", LinkKeys.from_env()))

Each recipient gets one link per answer (``approve``, ``reject``, or each option) and ``open``;
a link answers as its addressee, once, until the request's deadline or for 7 days at most, and
only for the tool call it was made for. ``hitl serve`` serves them (``/a/{token}``) with the same
keys. Configuration by environment, in the sending processes and in ``hitl serve`` alike:

- ``$HITL_LINK_KEYS``: ``kid:secret`` pairs, newest first (``2026-06:<secret>,2026-01:<secret>``);
  the first signs, all verify; a secret has 32 characters at least (``openssl rand -hex 32``).
  Rotate by putting a new key first; retire one (and every link it signed) by removing it.
- ``$HITL_BASE_URL``: where ``hitl serve`` is reached from outside (``https://hitl.example.com``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from hitl_notebook._core.errors import ConfigurationError
from hitl_notebook._core.links import (
    ENV_BASE_URL,
    ENV_LINK_KEYS,
    LINK_MAX_AGE_S,
    BadLink,
    LinkGrant,
    LinkKeys,
    answer_links,
)

if TYPE_CHECKING:
    from hitl_notebook._core.models import Request

__all__ = [
    "ENV_BASE_URL",
    "ENV_LINK_KEYS",
    "LINK_MAX_AGE_S",
    "BadLink",
    "LinkGrant",
    "LinkKeys",
    "answer_links",
    "links_from_env",
]


def links_from_env() -> Callable[[Request, str], dict[str, str]] | None:
    """``answer_links`` from ``$HITL_BASE_URL`` and ``$HITL_LINK_KEYS``; None when neither is
    set (messages then carry no answer links)."""
    base_url = os.environ.get(ENV_BASE_URL, "").strip()
    keys = os.environ.get(ENV_LINK_KEYS, "").strip()
    if not base_url and not keys:
        return None
    if not base_url or not keys:
        missing = ENV_BASE_URL if not base_url else ENV_LINK_KEYS
        raise ConfigurationError(f"Answer links need ${missing} too (or neither variable set).")
    return answer_links(base_url, LinkKeys.from_env())
