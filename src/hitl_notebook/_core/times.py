"""Time in hitl_notebook: durations like ``"4h"``, absolute deadlines, and epoch milliseconds.

Every instant is stored as integer milliseconds since the epoch (UTC) and shown as a tz-aware
``datetime``.

A duration is written as one or more parts, each a number and a lowercase unit, optionally
separated by spaces: ``"90s"``, ``"30m"``, ``"4h"``, ``"2d"``, ``"1w"``, ``"500ms"``, ``"1h30m"``,
``"1h 30m"``, ``"1.5h"``. Units: ``ms``, ``s``, ``m`` (minutes), ``h``, ``d``, ``w``; ``"1M"`` is
refused (a month is not a duration) and so is ``"1m s"``. A duration may also be a number of
seconds or a ``timedelta``; it is never negative, NaN or infinite, and at most ``MAX_DURATION``.

A timeout is a duration (counted from the moment the request is made) or an absolute tz-aware
``datetime``; ``None`` means no deadline. A zero timeout, or a deadline already past, applies the
request's timeout rule at the run's first look: its default, or ``RequestTimeoutError``.

Bad input raises ``ValueError`` (a value that cannot be a duration) or ``TypeError`` (a value of
the wrong type), naming the argument.

The process's clock (``now_ms``) is real time unless a test moved it forward (``shift_clock``,
through ``hitl_notebook.testing.Clock``): then everything this process records and every deadline
it checks (the runtime's waits and schedule, the store's late-answer rule) follow the moved clock,
and whoever listens (``on_clock_shift``: the launched runtime) wakes what is due. Other processes
keep real time. What others measure in real time is converted (``real_ms``): DBOS's delays of
parked runs, and liveness (``real_now_ms``: a moved clock makes no process look dead).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = [
    "MAX_DURATION",
    "Duration",
    "Timeout",
    "deadline_ms",
    "duration_seconds",
    "from_ms",
    "now_ms",
    "on_clock_shift",
    "parse_duration",
    "real_ms",
    "real_now_ms",
    "reset_clock",
    "shift_clock",
]

Duration = str | float | int | timedelta
"""A duration: ``"90s"``, ``"30m"``, ``"4h"``, ``"2d"``, ``"1h30m"``, seconds, or a ``timedelta``."""
Timeout = Duration | datetime
"""A duration or an absolute tz-aware ``datetime``."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_DURATION = timedelta(days=100 * 365)
"""The longest duration: a hundred years (deadlines stay dates every database and Python keep)."""

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)(?![A-Za-z])")
_HOW = "write it like '90s', '30m', '4h', '2d' or '1h30m' (units ms, s, m, h, d, w, lowercase)"


_offset_ms = 0
"""How far this process's clock is ahead of real time (0 unless a test moved it)."""
_clock_lock = threading.Lock()
_listeners: list[Callable[[int], object]] = []


def now_ms() -> int:
    """The current instant on this process's clock, in epoch milliseconds."""
    return real_now_ms() + _offset_ms


def real_now_ms() -> int:
    """The current instant in real time (what other processes and DBOS measure), in epoch ms."""
    return int(time.time() * 1000)


def real_ms(at_ms: int) -> int:
    """The real instant at which this process's clock reads ``at_ms``."""
    return at_ms - _offset_ms


def shift_clock(by_ms: int) -> None:
    """Move this process's clock forward by ``by_ms``, then tell the listeners (in this thread,
    so what is due once the clock moved is woken when this returns). Never backwards."""
    global _offset_ms  # noqa: PLW0603 - the process's one clock, as time itself
    if by_ms < 0:
        raise ValueError(
            f"The clock never goes backwards (asked to move it by {by_ms} ms); "
            "start a new clock, or reset it once the runtime is shut down."
        )
    with _clock_lock:
        _offset_ms += by_ms
        listeners = list(_listeners)
    for listener in listeners:
        listener(by_ms)


def reset_clock() -> None:
    """Put this process's clock back to real time (a test's teardown, once nothing runs)."""
    global _offset_ms  # noqa: PLW0603 - see shift_clock
    with _clock_lock:
        _offset_ms = 0


def on_clock_shift(listener: Callable[[int], object]) -> Callable[[], None]:
    """Call ``listener(by_ms)`` after each ``shift_clock``; returns what stops it."""
    with _clock_lock:
        _listeners.append(listener)

    def stop() -> None:
        with _clock_lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return stop


def from_ms(ms: int) -> datetime:
    """An epoch-millisecond instant as a tz-aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def to_ms(moment: datetime) -> int:
    """A datetime as epoch milliseconds, exactly (rounded down; naive means local time)."""
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def parse_duration(text: str, *, what: str = "duration") -> timedelta:
    """Parse ``"90s"``, ``"30m"``, ``"4h"``, ``"2d"``, ``"1w"``, ``"500ms"`` or ``"1h30m"``.

    >>> parse_duration("1h30m")
    datetime.timedelta(seconds=5400)
    """
    position, seconds = 0, 0.0
    while match := _PART.match(text, position):
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position == 0 or text[position:].strip():
        hint = ""
        if any(c.isupper() for c in text):
            hint = " (units are lowercase; 'M' is not a unit: a month is not a duration)"
        purpose = "" if what == "duration" else f" for {what}"
        raise ValueError(f"Cannot read {text!r} as a duration{purpose}{hint}; {_HOW}.")
    return _bounded(seconds, what=what, given=text)


def deadline_ms(timeout: Timeout | None, *, start_ms: int, what: str = "timeout") -> int | None:
    """The absolute deadline for ``timeout`` counted from ``start_ms`` (None: no deadline)."""
    if timeout is None:
        return None
    if isinstance(timeout, datetime):
        if timeout.tzinfo is None:
            raise ValueError(
                f"An absolute {what} must be timezone-aware, e.g. "
                "datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)."
            )
        return to_ms(timeout)
    if isinstance(timeout, bool) or not isinstance(timeout, str | timedelta | int | float):
        raise TypeError(f"{what} must be a duration or a datetime, not {type(timeout).__name__}")
    return start_ms + int(duration_seconds(timeout, what=what) * 1000)


def duration_seconds(value: Duration, *, what: str = "duration") -> float:
    """A duration in seconds; TypeError or ValueError (naming ``what``) for anything else."""
    if isinstance(value, str):
        return parse_duration(value, what=what).total_seconds()
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"{what} must be a duration like '30s' or a number of seconds, "
            f"not {type(value).__name__}"
        )
    else:
        seconds = float(value)
    return _bounded(seconds, what=what, given=value).total_seconds()


def _bounded(seconds: float, *, what: str, given: object) -> timedelta:
    if math.isnan(seconds):
        raise ValueError(f"{what} must be a number of seconds, not NaN")
    if seconds < 0:
        raise ValueError(f"{what} must not be negative, got {given!r}")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(
            f"{what} {given!r} is too long: at most {MAX_DURATION.days // 365} years"
            + (
                " (for no deadline, leave the timeout out or pass None)"
                if what == "timeout"
                else ""
            )
        )
    return timedelta(seconds=seconds)
