"""Time in hitl_notebook: durations like ``"4h"``, absolute deadlines, and epoch milliseconds.

Every instant is stored as integer milliseconds since the epoch (UTC) and shown as a tz-aware
``datetime``.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

__all__ = [
    "Duration",
    "Timeout",
    "deadline_ms",
    "duration_seconds",
    "from_ms",
    "now_ms",
    "parse_duration",
]

Duration = str | float | int | timedelta
"""A duration: ``"90s"``, ``"30m"``, ``"4h"``, ``"2d"``, ``"1h30m"``, seconds, or a ``timedelta``."""
Timeout = Duration | datetime
"""A duration or an absolute tz-aware ``datetime``."""

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")


def now_ms() -> int:
    """The current instant in epoch milliseconds."""
    return int(time.time() * 1000)


def from_ms(ms: int) -> datetime:
    """An epoch-millisecond instant as a tz-aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def parse_duration(text: str) -> timedelta:
    """Parse ``"90s"``, ``"30m"``, ``"4h"``, ``"2d"``, ``"1w"``, ``"500ms"`` or ``"1h30m"``.

    >>> parse_duration("1h30m")
    datetime.timedelta(seconds=5400)
    """
    compact = text.strip().lower().replace(" ", "")
    parts = _PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(
            f"Cannot read {text!r} as a duration; write it like '90s', '30m', '4h', '2d' or '1h30m'."
        )
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))


def deadline_ms(timeout: Timeout | None, *, start_ms: int) -> int | None:
    """The absolute deadline for ``timeout`` counted from ``start_ms`` (None: no deadline)."""
    if timeout is None:
        return None
    if isinstance(timeout, datetime):
        if timeout.tzinfo is None:
            raise ValueError(
                "An absolute deadline must be timezone-aware, e.g. "
                "datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)."
            )
        return int(timeout.timestamp() * 1000)
    if isinstance(timeout, bool) or not isinstance(timeout, str | timedelta | int | float):
        raise TypeError(f"timeout must be a duration or a datetime, not {type(timeout).__name__}")
    return start_ms + int(duration_seconds(timeout, what="timeout") * 1000)


def duration_seconds(value: Duration, *, what: str = "duration") -> float:
    """A duration in seconds; TypeError or ValueError (naming ``what``) for anything else."""
    if isinstance(value, str):
        span = parse_duration(value)
    elif isinstance(value, timedelta):
        span = value
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"{what} must be a duration like '30s' or a number of seconds, "
            f"not {type(value).__name__}"
        )
    else:
        span = timedelta(seconds=value)
    if span.total_seconds() < 0:
        raise ValueError(f"{what} must not be negative, got {value!r}")
    return span.total_seconds()
