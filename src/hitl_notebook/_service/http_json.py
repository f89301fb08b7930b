"""The bodies the API reads: I-JSON (RFC 7493) within size limits, checked before anything else.

Python's ``json`` reads more than JSON: ``NaN`` and ``Infinity``, numbers that overflow to
infinity (``1e400``), lone surrogates (``"\\ud800"``, text that is not Unicode), keys given twice
(the last one silently wins). None of these can be stored on Postgres, sent back in a JSON
response or shown in a frame, and integers beyond 2^53 are silently rounded by JavaScript
readers (the inbox widget among them). Huge or deeply nested values cost memory and recursion
in every layer below. So every route of the router reads its body through ``IJSONRoute``, which
refuses all of these where they enter, before any validator or endpoint sees the body, with a
status that says which limit and a message that says where in the body (``body.value.amount``):

=========================================  ====  ============================================
refused                                    code  limit
=========================================  ====  ============================================
a body longer than ``MAX_BODY_BYTES``      413   1 MiB
NaN, Infinity, a float that overflows      422   finite 64-bit floats only
an integer beyond +-2^53                   422   send it as a string
a lone surrogate in a text or a key        422   valid Unicode only
a text or key longer than ``MAX_TEXT``     422   65,536 characters
nesting deeper than ``MAX_DEPTH``          422   32 levels, the body itself being the first
a key twice in one object                  422   once
=========================================  ====  ============================================
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response, status
from fastapi.routing import APIRoute

from hitl_notebook._service.http_models import ErrorDetail

__all__ = ["MAX_BODY_BYTES", "MAX_DEPTH", "MAX_TEXT", "IJSONRoute", "read_body"]

MAX_BODY_BYTES = 1 << 20
"""The longest body read, in bytes."""
MAX_TEXT = 65_536
"""The longest text (or key) in a body, in characters."""
MAX_DEPTH = 32
"""The deepest nesting of objects and lists in a body (the body itself is level 1)."""
MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer every JSON reader holds exactly (a double's 53-bit mantissa)."""
MAX_SHOWN = 40
"""Keys longer than this are cut short in messages."""
ERROR = "InvalidJSON"
"""The ``error`` of a refused body (it is no Python exception)."""


class _Constant:
    """``NaN``, ``Infinity`` or ``-Infinity`` where the body had it, found by the walk."""

    def __init__(self, text: str) -> None:
        self.text = text


class _LongInteger:
    """An integer written with more digits than a safe integer has, found by the walk."""


class _Refused(ValueError):
    """A body outside the limits; the message says where and why."""


def read_body(raw: bytes) -> Any:
    """The body as a Python value; HTTPException 413 or 422 when it is outside the limits.

    Malformed JSON raises ``json.JSONDecodeError``, which FastAPI answers with its own 422.
    """
    if len(raw) > MAX_BODY_BYTES:
        raise _refusal(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"The body is {len(raw):,} bytes long, more than {MAX_BODY_BYTES:,}; send less.",
        )
    try:
        value = json.loads(
            raw,
            parse_constant=_Constant,
            parse_int=_integer,
            object_pairs_hook=_unique_keys,
        )
        _check(value)
    except json.JSONDecodeError:
        raise
    except _Refused as error:
        raise _unprocessable(str(error)) from None
    except UnicodeDecodeError:
        raise _unprocessable("the body is not UTF-8 text") from None
    except RecursionError:
        raise _unprocessable(f"the body is nested deeper than {MAX_DEPTH} levels") from None
    return value


class _IJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = read_body(await self.body())
        return self._json


class IJSONRoute(APIRoute):
    """A route whose JSON body is read by ``read_body`` (pass as ``APIRouter(route_class=...)``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def read_as_ijson(request: Request) -> Response:
            return await handler(_IJSONRequest(request.scope, request.receive))

        return read_as_ijson


def _integer(text: str) -> int | _LongInteger:
    return _LongInteger() if len(text.lstrip("-")) > len(str(MAX_SAFE_INTEGER)) else int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _Refused(f"the key {_shown(key)} appears twice in one object; send it once")
        found[key] = value
    return found


def _check(value: Any) -> None:
    """Walk the parsed body (without recursion) and refuse what is outside the limits."""
    pending: list[tuple[str, int, Any]] = [("body", 1, value)]
    while pending:
        where, depth, item = pending.pop()
        problem = _problem(item)
        if problem is not None:
            raise _Refused(f"{where}: {problem}")
        if isinstance(item, dict | list) and depth > MAX_DEPTH:
            raise _Refused(f"{where}: nested deeper than {MAX_DEPTH} levels; send a flatter value")
        if isinstance(item, dict):
            for key, inner in item.items():
                problem = _text_problem(key)
                if problem is not None:
                    raise _Refused(f"a key in {where}: {problem}")
                pending.append((where + _step(key), depth + 1, inner))
        elif isinstance(item, list):
            pending.extend((f"{where}[{i}]", depth + 1, inner) for i, inner in enumerate(item))


def _problem(item: Any) -> str | None:
    if isinstance(item, _Constant):
        return f"{item.text} is not a JSON number; send a number or null"
    if isinstance(item, float) and math.isinf(item):
        return "the number is too large for a 64-bit float; send a smaller one"
    if isinstance(item, _LongInteger) or (
        type(item) is int and abs(item) > MAX_SAFE_INTEGER  # bool is an int too: not counted
    ):
        return "the integer is beyond +-2^53, which not every JSON reader holds exactly; send it as a string"
    if isinstance(item, str):
        return _text_problem(item)
    return None


def _text_problem(text: str) -> str | None:
    if len(text) > MAX_TEXT:
        return f"the text is {len(text):,} characters long, more than {MAX_TEXT:,}"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return (
            "the text holds a lone surrogate (such as \\ud800), which is not Unicode; send a "
            "character outside the BMP as a surrogate pair, or as UTF-8"
        )
    return None


def _step(key: str) -> str:
    return f".{key}" if key.isidentifier() and len(key) <= MAX_SHOWN else f"[{_shown(key)}]"


def _shown(key: str) -> str:
    return repr(key if len(key) <= MAX_SHOWN else key[:MAX_SHOWN] + "...")


def _unprocessable(reason: str) -> HTTPException:
    return _refusal(status.HTTP_422_UNPROCESSABLE_CONTENT, f"Refused body: {reason}.")


def _refusal(code: int, message: str) -> HTTPException:
    return HTTPException(code, detail=ErrorDetail(error=ERROR, message=message).model_dump())
