"""Who is calling the HTTP API: bearer tokens mapped to identities, or your own identity provider.

An authenticator is any callable that takes the bearer token of a request and returns the caller's
identity (the name recorded as who answered), or None when the token is not valid. ``TokenAuth``
is the built-in one: a fixed table of tokens, from a file or ``$HITL_API_TOKENS``, one
``identity:token`` pair per line (or comma separated). For a real identity provider, pass a
function that verifies the token (e.g. a JWT) and returns the user's name.

Tokens are compared in constant time and never logged or shown (``repr`` names identities only).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from hitl_notebook._core.errors import ConfigurationError

__all__ = ["ENV_TOKENS", "Authenticate", "TokenAuth"]

ENV_TOKENS = "HITL_API_TOKENS"

Authenticate = Callable[[str], str | None]
"""Maps a bearer token to the caller's identity, or None for an unknown token."""


class TokenAuth:
    """Bearer tokens mapped to identities.

    >>> auth = TokenAuth({"alice": "s3cret-a", "bob": "s3cret-b"})   # identity -> token
    >>> auth = TokenAuth.from_file("tokens.txt")                       # lines "alice:s3cret-a"
    >>> auth = TokenAuth.from_env()                                    # $HITL_API_TOKENS
    """

    def __init__(self, tokens: Mapping[str, str]) -> None:
        for identity, token in tokens.items():
            if not identity.strip() or len(token) < 8:
                raise ConfigurationError(
                    f"The token of {identity!r} is too short (8 characters at least) or the "
                    "identity is empty; use long random tokens (e.g. `openssl rand -hex 24`)."
                )
        self._tokens = [(token.encode(), identity) for identity, token in tokens.items()]

    @classmethod
    def parse(cls, text: str, *, source: str = "the token list") -> TokenAuth:
        """Read ``identity:token`` pairs, one per line or comma separated; ``#`` starts a comment."""
        tokens: dict[str, str] = {}
        for raw in text.replace(",", "\n").splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            identity, sep, token = line.partition(":")
            if not sep:
                raise ConfigurationError(
                    f"{source}: each entry is identity:token, got one without ':'."
                )
            tokens[identity.strip()] = token.strip()
        if not tokens:
            raise ConfigurationError(f"{source} holds no identity:token pair.")
        return cls(tokens)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> TokenAuth:
        """Tokens from a file of ``identity:token`` lines."""
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise ConfigurationError(f"Cannot read the token file {path}: {error}") from error
        return cls.parse(text, source=str(path))

    @classmethod
    def from_env(cls, variable: str = ENV_TOKENS) -> TokenAuth:
        """Tokens from an environment variable (``alice:tok1,bob:tok2``)."""
        text = os.environ.get(variable, "")
        if not text.strip():
            raise ConfigurationError(f"${variable} is not set: give identity:token pairs.")
        return cls.parse(text, source=f"${variable}")

    def __call__(self, token: str) -> str | None:
        """The identity holding ``token``, or None."""
        given = token.encode()
        found = None
        for known, identity in self._tokens:
            if hmac.compare_digest(known, given):
                found = identity
        return found

    def __repr__(self) -> str:
        return f"TokenAuth(identities={sorted(identity for _, identity in self._tokens)!r})"
