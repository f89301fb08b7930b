"""Bearer tokens mapped to identities: parsing, lookup, and that tokens never show."""

from __future__ import annotations

from pathlib import Path

import pytest

import hitl_notebook as hitl
from hitl_notebook.http import TokenAuth


def test_tokens_map_to_identities_and_unknown_tokens_to_none() -> None:
    """A known token gives its identity; anything else gives None."""
    auth = TokenAuth({"alice": "alice-secret-1", "bob": "bob-secret-22"})
    assert (auth("alice-secret-1"), auth("bob-secret-22")) == ("alice", "bob")
    assert auth("alice-secret") is None
    assert auth("") is None


def test_tokens_from_a_file_and_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """identity:token pairs, one per line (with comments) or comma separated."""
    path = tmp_path / "tokens.txt"
    path.write_text("# who:token\nalice: alice-secret-1\n\nbob:bob-secret-22  # ops\n")
    assert TokenAuth.from_file(path)("bob-secret-22") == "bob"
    monkeypatch.setenv("HITL_API_TOKENS", "carol:carol-secret-3,dan:dan-secret-44")
    assert TokenAuth.from_env()("dan-secret-44") == "dan"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alice", "without ':'"),
        ("# nothing\n", "no identity:token pair"),
        ("alice:short", "too short"),
        (":long-enough-token", "identity is empty"),
    ],
)
def test_bad_token_lists_are_configuration_errors(text: str, message: str) -> None:
    """A malformed list, a short token or an empty identity is refused at start."""
    with pytest.raises(hitl.ConfigurationError, match=message):
        TokenAuth.parse(text)


def test_missing_sources_are_configuration_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No file, or no variable, says what to give."""
    with pytest.raises(hitl.ConfigurationError, match="Cannot read the token file"):
        TokenAuth.from_file(tmp_path / "missing.txt")
    monkeypatch.delenv("HITL_API_TOKENS", raising=False)
    with pytest.raises(hitl.ConfigurationError, match="HITL_API_TOKENS is not set"):
        TokenAuth.from_env()


def test_repr_names_identities_never_tokens() -> None:
    """Printing or logging the authenticator shows no token."""
    shown = repr(TokenAuth({"alice": "alice-secret-1"}))
    assert "alice" in shown
    assert "secret" not in shown
