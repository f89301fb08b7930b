"""Form posts read by hand: the raw body (bounded), and its ``application/x-www-form-urlencoded``
fields (no python-multipart). Answer pages and Slack's interactive payloads post these."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

__all__ = ["MAX_FORM_BYTES", "BodyTooLong", "form_fields", "raw_body"]

MAX_FORM_BYTES = 256 * 1024
"""A form longer than this is refused (an answer page's comment, a Slack payload, fit well)."""
MAX_FIELDS = 32


class BodyTooLong(Exception):
    """The body is longer than the limit."""


async def raw_body(request: Request, limit: int = MAX_FORM_BYTES) -> bytes:
    """The request's body as sent (a signature covers these bytes), at most ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLong
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLong
        chunks.append(chunk)
    return b"".join(chunks)


def form_fields(body: bytes) -> dict[str, str]:
    """The fields of an urlencoded body, the first of each name; raises ValueError when the
    body is not UTF-8 urlencoded text or holds too many fields."""
    text = body.decode("ascii")  # urlencoded bodies are ASCII; UTF-8 hides in %-escapes
    pairs = parse_qsl(
        text,
        keep_blank_values=True,
        strict_parsing=bool(text),
        encoding="utf-8",
        errors="strict",
        max_num_fields=MAX_FIELDS,
    )
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields
