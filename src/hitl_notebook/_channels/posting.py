"""One HTTP POST for the channels that speak HTTP (webhook, Slack), and what its outcome means to
the schedule: a 2xx is delivered; 408, 425, 429, any 5xx and transport errors (refused, reset,
timed out) are worth another try (``RetryLater``); any other status never will be
(``DeliveryFailed``). Redirects are not followed: a POST that is redirected is refused.

Messages name only the scheme, host and port of the URL: a Slack incoming webhook's URL is its
credential, and what a channel raises lands in the run's history.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hitl_notebook._core.notify import DeliveryFailed, RetryLater

__all__ = ["RETRYABLE_STATUSES", "Response", "check_url", "post", "where"]

RETRYABLE_STATUSES = frozenset({408, 425, 429})
"""Statuses below 500 that say "not now" rather than "never"."""


@dataclass(frozen=True)
class Response:
    """A 2xx answer."""

    status: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON (None if it is not JSON)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx is raised as an HTTPError, and refused below


_opener = urllib.request.build_opener(_NoRedirects)


def check_url(url: str, what: str) -> str:
    """``url`` if it is an http(s) URL with a host; else a ValueError naming ``what``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http:// or https:// URL, not {where(url)!r}.")
    return url


def where(url: str) -> str:
    """The part of ``url`` that is safe to show: scheme, host and port."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def post(url: str, body: bytes, headers: Mapping[str, str], *, timeout_s: float) -> Response:
    """POST ``body``; returns a 2xx response or raises ``RetryLater`` / ``DeliveryFailed``."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with _opener.open(request, timeout=timeout_s) as response:
            return Response(response.status, response.read())
    except urllib.error.HTTPError as error:
        with error:
            said = error.read(200).decode("utf-8", "replace").strip()
        what = f"{where(url)} answered {error.code}" + (f": {said}" if said else "")
        if error.code in RETRYABLE_STATUSES or error.code >= 500:
            raise RetryLater(what) from None
        raise DeliveryFailed(what) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", None) or error
        raise RetryLater(f"could not reach {where(url)}: {reason}") from None
