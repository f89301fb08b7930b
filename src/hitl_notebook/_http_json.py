"""Request bodies read as I-JSON (RFC 7493): JSON that every client and both databases can hold.

Python's ``json`` reads more than JSON: ``NaN`` and ``Infinity``, numbers that overflow to
infinity (``1e400``), lone surrogates (``"\\ud800"``, text that is not Unicode) and keys given
twice (the last one silently wins). None of these can be stored on Postgres, sent back in a JSON
response or shown in a frame, so the API refuses them where they enter: before any endpoint or
validator reads the body, with a 422 that says where in the body the value is and what to send
instead. Every route of the router reads its body through ``IJSONRoute``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response, status
from fastapi.routing import APIRoute

from hitl_notebook._http_models import ErrorDetail

__all__ = ["IJSONRoute", "read_body"]

MAX_SHOWN = 40
"""Keys longer than this are cut short in messages."""
ERROR = "InvalidJSON"
"""The ``error`` of the 422 that refuses a body (it is no Python exception)."""


class _Constant:
    """``NaN``, ``Infinity`` or ``-Infinity`` where the body had it, found by the walk."""

    def __init__(self, text: str) -> None:
        self.text = text


class _Refused(ValueError):
    """A body that is not I-JSON; the message says why."""


def read_body(raw: bytes) -> Any:
    """The body as a Python value; HTTPException 422 when it is not I-JSON.

    Malformed JSON raises ``json.JSONDecodeError``, which FastAPI answers with its own 422.
    """
    try:
        value = json.loads(raw, parse_constant=_Constant, object_pairs_hook=_unique_keys)
        _check(value)
    except json.JSONDecodeError:
        raise
    except _Refused as error:
        raise _unprocessable(str(error)) from None
    except UnicodeDecodeError:
        raise _unprocessable("the body is not UTF-8 text") from None
    except RecursionError:
        raise _unprocessable("the body is nested too deeply to read") from None
    except ValueError:  # Python reads integers of at most 4300 digits
        raise _unprocessable("a number has too many digits (4300 at most)") from None
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


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _Refused(f"the key {_shown(key)} appears twice in one object; send it once")
        found[key] = value
    return found


def _check(value: Any) -> None:
    """Walk the parsed body (without recursion) and refuse what I-JSON does not allow."""
    pending: list[tuple[str, Any]] = [("body", value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, _Constant):
            raise _Refused(
                f"{where} is {item.text}, which JSON has no number for; send a number or null"
            )
        if isinstance(item, float) and math.isinf(item):
            raise _Refused(f"{where} is a number too large for a 64-bit float")
        if isinstance(item, str) and not _is_unicode(item):
            raise _Refused(f"{where} {_NOT_UNICODE}")
        if isinstance(item, dict):
            for key, inner in item.items():
                if not _is_unicode(key):
                    raise _Refused(f"a key in {where} {_NOT_UNICODE}")
                step = (
                    f".{key}"
                    if key.isidentifier() and len(key) <= MAX_SHOWN
                    else f"[{_shown(key)}]"
                )
                pending.append((where + step, inner))
        elif isinstance(item, list):
            pending.extend((f"{where}[{index}]", inner) for index, inner in enumerate(item))


_NOT_UNICODE = (
    "holds a lone surrogate (such as \\ud800), which is not Unicode text; "
    "escape a character outside the BMP as a surrogate pair, or send it as UTF-8"
)


def _shown(key: str) -> str:
    return repr(key if len(key) <= MAX_SHOWN else key[:MAX_SHOWN] + "...")


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unprocessable(reason: str) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=ErrorDetail(
            error=ERROR, message=f"The body is not I-JSON (RFC 7493): {reason}."
        ).model_dump(),
    )
