"""The BaseExceptions that unwind a waiting run's code without DBOS recording an outcome (DBOS
records one only for ``Exception``): parked, cancelled, stopped."""

from __future__ import annotations


class Parked(BaseException):
    """Unwinds a parked run's code. A BaseException, so neither DBOS nor agent code that catches
    ``Exception`` records it as a failure; the run's row stays DELAYED."""


class Cancelled(BaseException):
    """Unwinds a run that was cancelled while it waited for a human. A BaseException, so neither
    DBOS nor agent code that catches ``Exception`` records it: the row stays CANCELLED."""


class Stopped(BaseException):
    """Unwinds a run that waits hot when the runtime shuts down. Raised inside a step, a
    BaseException is not recorded by DBOS either: the run stays PENDING and resumes at the next
    launch."""
