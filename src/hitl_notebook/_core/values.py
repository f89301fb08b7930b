"""What the SDK stores, the same on every database: text and JSON values it refuses at the door.

SQLite keeps almost anything; Postgres refuses NUL characters in text, JSON with NaN or Infinity,
and text that is not valid Unicode (a lone surrogate such as ``"\\ud800"``), which pandas and every
other reader choke on later. So one rule for both: such values are refused before anything is
stored, with an error that names the field (and the place inside a value) and says what to do.
JSON values are walked without recursion, so a value nested deeper than ``MAX_DEPTH`` is refused
with a clear error instead of a ``RecursionError`` somewhere below.

Each check raises ``ValueError``; the store turns it into ``InvalidAnswerError`` for answers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["MAX_DEPTH", "check_json", "check_text", "check_texts", "storable"]

MAX_DEPTH = 64
"""How deeply lists and objects may nest inside one value."""


def check_text(value: str, what: str) -> None:
    """Refuse text no database keeps as it is: NUL characters, or not valid Unicode."""
    if "\x00" in value:
        raise ValueError(
            f"{what} contains a NUL character (\\x00) at position {value.index(chr(0))}, "
            "which databases do not store in text; remove it"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"{what} is not valid Unicode: it holds a lone surrogate "
            f"({value[error.start]!r}) at position {error.start}; send text as UTF-8"
        ) from None


def storable(text: str) -> str:
    """``text`` with what ``check_text`` refuses written out (``\\x00``, ``\\ud800``): for text the
    SDK records but nobody can resend, such as an agent's exception message."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def check_texts(values: Iterable[str | None], what: str) -> None:
    """``check_text`` for each of several values (None is skipped)."""
    for value in values:
        if value is not None:
            check_text(value, what)


def _part(key: str) -> str:
    """A key as a part of a path in a message: as it is, or quoted if it could mislead."""
    return key if key.isprintable() and "/" not in key and key.strip() == key and key else repr(key)


def check_json(value: Any, what: str) -> None:
    """Refuse a value JSON and both databases cannot keep as it is: NaN or Infinity, non-text
    keys, text refused by ``check_text``, other types than JSON's, nesting beyond MAX_DEPTH."""
    stack: list[tuple[Any, str, int]] = [(value, what, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            check_text(item, where)
        elif isinstance(item, bool) or item is None or isinstance(item, int):
            continue
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(
                    f"{where} is {item!r}, which JSON cannot hold; send a finite number or null"
                )
        elif isinstance(item, dict | list | tuple):
            if depth >= MAX_DEPTH:
                raise ValueError(f"{what} nests deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for key, inner in item.items():
                    if not isinstance(key, str):
                        raise ValueError(f"{where} has a key {key!r} that is not text")
                    check_text(key, f"a key of {where}")
                    stack.append((inner, f"{where}/{_part(key)}", depth + 1))
            else:
                stack.extend((inner, f"{where}/{i}", depth + 1) for i, inner in enumerate(item))
        else:
            raise ValueError(
                f"{where} is of type {type(item).__name__}, which JSON cannot hold; "
                "send text, numbers, true/false, null, lists and objects"
            )
