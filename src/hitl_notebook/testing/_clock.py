"""A clock a test moves forward: a "4h" deadline passes in a moment, and reads as 4 hours.

The clock is this process's (``_core.times``): moving it shifts time for everything this process
records and checks, the launched runtime's waits, parked runs and schedule, and the store's
late-answer rule. Moving it wakes what is due before ``advance`` returns (a run then takes a
moment to resume). Other processes on the same database keep real time: use it in tests and
simulations, never in a service.

>>> clock = testing.Clock()
>>> run = RefundAgent.start("A-1")          # asks with timeout="4h"
>>> clock.advance("4h")                     # the deadline passes; the run applies its default
>>> clock.close()                           # back to real time (the pytest fixture does it)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from types import TracebackType

from hitl_notebook._core.times import (
    Duration,
    duration_seconds,
    from_ms,
    now_ms,
    real_now_ms,
    reset_clock,
    shift_clock,
    to_ms,
)

__all__ = ["Clock"]


class Clock:
    """This process's clock, moved forward by a test. It never goes backwards; ``close`` (or
    leaving its ``with`` block) puts the process back on real time."""

    def now(self) -> datetime:
        """The current instant on the clock (tz-aware UTC)."""
        return from_ms(now_ms())

    @property
    def ahead(self) -> timedelta:
        """How far the clock is ahead of real time."""
        return timedelta(milliseconds=now_ms() - real_now_ms())

    def advance(self, duration: Duration) -> datetime:
        """Move the clock forward by ``duration`` (``"4h"``, a ``timedelta`` or seconds; at
        most a hundred years at once) and wake what is due now; returns the new now."""
        shift_clock(round(duration_seconds(duration, what="advance") * 1000))
        return self.now()

    def set(self, moment: datetime) -> datetime:
        """Move the clock forward to ``moment`` (tz-aware); returns the new now.

        ValueError for a moment before now: the clock never goes backwards."""
        if moment.tzinfo is None:
            raise ValueError(
                "Clock.set needs a timezone-aware datetime, e.g. "
                "datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)."
            )
        by = timedelta(milliseconds=to_ms(moment) - now_ms())
        if by < timedelta(0):
            raise ValueError(
                f"The clock never goes backwards: {moment.isoformat()} is before its now, "
                f"{self.now().isoformat()}."
            )
        return self.advance(by)

    def close(self) -> None:
        """Put this process back on real time (once the runtime that used the clock is shut
        down: times recorded meanwhile stay as the clock read them)."""
        reset_clock()

    def __enter__(self) -> Clock:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Clock(now={self.now().isoformat()}, ahead={self.ahead})"
