"""Signed answer links: a token that lets one person give one of a few answers to one request,
until it expires. No I/O here.

A token is ``<payload>.<kid>.<mac>``: ``payload`` is base64url of the JSON ``{"request",
"digest", "responder", "answers", "exp"}`` (the request id, the digest of its tool call or null,
the person the link was sent to, the answers it may give, its expiry in epoch seconds), ``kid``
names the key and ``mac`` is base64url of HMAC-SHA256 over ``<payload>.<kid>``.

Invariants:

- A token is a capability: whoever holds it answers as its ``responder``. It expires at the
  request's deadline or after ``LINK_MAX_AGE_S``, whichever comes first, and is bound to the tool
  call it was made for (``digest``): a link for other arguments is refused.
- Keys rotate by ``kid``: ``LinkKeys`` holds several, the first (newest) signs, every one
  verifies. Drop a key to revoke every link it signed.
- The token decides nothing: the page it opens answers through the store's one answer rule, so a
  link for a decided request does nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from hitl_notebook._core.errors import ConfigurationError

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
    "answer_word_label",
    "link_answers",
    "reply_fields",
]

ENV_LINK_KEYS = "HITL_LINK_KEYS"
"""``kid:secret`` pairs, newest first (comma separated or one per line)."""
ENV_BASE_URL = "HITL_BASE_URL"
"""Where ``hitl serve`` is reached from outside, e.g. ``https://hitl.example.com``."""
LINK_MAX_AGE_S = 7 * 24 * 3600
"""A link lives at most a week (less when the request's deadline comes first)."""
MIN_KEY_LENGTH = 32
MAX_TOKEN_LENGTH = 4096
_KID = re.compile(r"[A-Za-z0-9_-]{1,32}")

BadLinkReason = Literal["malformed", "forged", "expired"]


class BadLink(Exception):
    """A token that is not one of ours (``malformed``, ``forged``: a bad MAC or an unknown key)
    or no longer valid (``expired``)."""

    def __init__(self, reason: BadLinkReason, message: str) -> None:
        super().__init__(message)
        self.reason: BadLinkReason = reason


@dataclass(frozen=True)
class LinkGrant:
    """What a token grants: ``responder`` may give one of ``answers`` to ``request_id`` (whose
    tool call has ``digest``) until ``expires_at`` (epoch seconds)."""

    request_id: str
    digest: str | None
    responder: str
    answers: tuple[str, ...]
    """Answer words: ``approve``, ``reject``, ``choose:<option>``, ``text``."""
    expires_at: int


class LinkKeys:
    """The keys that sign and verify answer links, by key id; the first signs.

    >>> keys = LinkKeys({"2026-06": "a secret of 32 characters or more...", "2026-01": "..."})
    >>> keys = LinkKeys.from_env()          # $HITL_LINK_KEYS="2026-06:<secret>,2026-01:<secret>"
    """

    def __init__(self, keys: Mapping[str, str | bytes]) -> None:
        if not keys:
            raise ConfigurationError("Give at least one link key (kid:secret).")
        self._keys: dict[str, bytes] = {}
        for kid, secret in keys.items():
            if not _KID.fullmatch(kid):
                raise ConfigurationError(
                    f"The link key id {kid!r} must be 1 to 32 letters, digits, '-' or '_'."
                )
            key = secret.encode() if isinstance(secret, str) else bytes(secret)
            if len(key) < MIN_KEY_LENGTH:
                raise ConfigurationError(
                    f"The link key {kid!r} is too short ({MIN_KEY_LENGTH} bytes at least); "
                    "make one with `openssl rand -hex 32`."
                )
            self._keys[kid] = key
        self.signing_kid = next(iter(self._keys))

    @classmethod
    def parse(cls, text: str, *, source: str = "the link keys") -> LinkKeys:
        """Read ``kid:secret`` pairs, newest first, one per line or comma separated."""
        keys: dict[str, str] = {}
        for raw in text.replace(",", "\n").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            kid, sep, secret = line.partition(":")
            if not sep:
                raise ConfigurationError(
                    f"{source}: each entry is kid:secret, got one without ':'."
                )
            keys[kid.strip()] = secret.strip()
        if not keys:
            raise ConfigurationError(f"{source} holds no kid:secret pair.")
        return cls(keys)

    @classmethod
    def from_env(cls, variable: str = ENV_LINK_KEYS) -> LinkKeys:
        """Keys from an environment variable (``kid1:secret1,kid0:secret0``)."""
        text = os.environ.get(variable, "")
        if not text.strip():
            raise ConfigurationError(f"${variable} is not set: give kid:secret pairs.")
        return cls.parse(text, source=f"${variable}")

    @property
    def kids(self) -> list[str]:
        """The key ids, the signing one first."""
        return list(self._keys)

    def sign(self, grant: LinkGrant) -> str:
        """The token for ``grant``, signed with the newest key."""
        data = {
            "request": grant.request_id,
            "digest": grant.digest,
            "responder": grant.responder,
            "answers": list(grant.answers),
            "exp": grant.expires_at,
        }
        payload = _b64(json.dumps(data, separators=(",", ":"), ensure_ascii=True).encode())
        return f"{payload}.{self.signing_kid}.{self._mac(self.signing_kid, payload)}"

    def verify(self, token: str, *, now_s: float | None = None) -> LinkGrant:
        """The grant ``token`` carries; raises BadLink when it is malformed, forged or expired."""
        parts = token.split(".") if len(token) <= MAX_TOKEN_LENGTH else []
        if len(parts) != 3:
            raise BadLink("malformed", "This link is not a complete answer link.")
        payload, kid, mac = parts
        if kid not in self._keys:
            raise BadLink(
                "forged", "This link was not signed by this service (or its key was retired)."
            )
        if not hmac.compare_digest(mac.encode(), self._mac(kid, payload).encode()):
            raise BadLink("forged", "This link's signature does not match: it was changed.")
        try:
            data = json.loads(_unb64(payload))
            grant = LinkGrant(
                request_id=_text(data["request"]),
                digest=None if data["digest"] is None else _text(data["digest"]),
                responder=_text(data["responder"]),
                answers=tuple(_text(a) for a in data["answers"]),
                expires_at=int(data["exp"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise BadLink("malformed", "This link's content is not an answer link.") from error
        if (time.time() if now_s is None else now_s) > grant.expires_at:
            raise BadLink("expired", "This link has expired.")
        return grant

    def _mac(self, kid: str, payload: str) -> str:
        digest = hmac.new(self._keys[kid], f"{payload}.{kid}".encode(), hashlib.sha256).digest()
        return _b64(digest)

    def __repr__(self) -> str:
        return f"LinkKeys(kids={self.kids!r})"


def link_answers(request: Request) -> tuple[str, ...]:
    """Every answer word a link may give to ``request``: approve and reject (an approval or an
    edit, approved as proposed), each option of a choice, text for a text request; none for a
    multiple choice or an input request (answered where their checkboxes or form are drawn)."""
    kind = request.kind.value
    if kind in ("approval", "edit"):
        return ("approve", "reject")
    if kind == "choice" and not request.multiple:
        return tuple(f"choose:{option}" for option in request.options or ())
    return ("text",) if kind == "text" else ()


def reply_fields(word: str, text: str | None = None) -> dict[str, Any]:
    """The fields of a ``Reply`` that give the answer ``word`` (``text``: a text answer's text)."""
    if word == "approve":
        return {"approve": True}
    if word == "reject":
        return {"approve": False}
    if word.startswith("choose:"):
        return {"choice": word.removeprefix("choose:")}
    if word == "text":
        return {"text": text}
    raise ValueError(f"{word!r} is not an answer a link gives.")


def answer_word_label(word: str) -> str:
    """What a button giving ``word`` says: Approve, Reject, the option, Send."""
    if word.startswith("choose:"):
        return word.removeprefix("choose:")
    return {"approve": "Approve", "reject": "Reject", "text": "Send"}.get(word, word)


def answer_links(
    base_url: str,
    keys: LinkKeys,
    *,
    max_age_s: int = LINK_MAX_AGE_S,
    clock: Callable[[], float] = time.time,
) -> Callable[[Request, str], dict[str, str]]:
    """Makes each recipient's answer links, for ``hitl.notify.configure(links=...)``: one URL
    per answer (``approve``, ``reject``, or each option by its name) and ``open``, a page that
    offers every answer (and the text box of a text request).

    >>> configure([...], links=answer_links("https://hitl.example.com", LinkKeys.from_env()))
    """
    base = base_url.rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise ConfigurationError(f"The links' base URL must start with https://, not {base_url!r}.")

    def make(request: Request, person: str) -> dict[str, str]:
        now = clock()
        expires = now + max_age_s
        if request.deadline is not None:
            expires = min(expires, request.deadline.timestamp())
        digest = request.tool.digest if request.tool is not None else None
        every = link_answers(request)

        def url(answers: tuple[str, ...]) -> str:
            grant = LinkGrant(request.request_id, digest, person, answers, math.floor(expires))
            return f"{base}/a/{quote(keys.sign(grant), safe='')}"

        links = {word.removeprefix("choose:"): url((word,)) for word in every if word != "text"}
        links["open"] = url(every)  # an option named "open" is offered on this page
        return links

    return make


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as error:
        raise ValueError(str(error)) from None


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a text, got {type(value).__name__}")
    return value
