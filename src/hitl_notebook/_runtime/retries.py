"""Retrying what the SDK writes and reads inside a run when the database fails for a moment."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

__all__ = ["is_transient", "retrying"]

T = TypeVar("T")

logger = logging.getLogger("hitl_notebook")

MAX_ATTEMPTS = 5
FIRST_INTERVAL_S = 1.0
BACKOFF = 2.0
"""As DBOS retries its steps: 1, 2, 4 and 8 s between five attempts."""


def is_transient(error: BaseException) -> bool:
    """A lost connection or a busy database: worth another attempt (a bad statement is not)."""
    return isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError)


def retrying(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, attempted again after a transient database error (it must be idempotent)."""
    interval = FIRST_INTERVAL_S
    for attempt in range(1, MAX_ATTEMPTS):
        try:
            return fn(*args)
        except Exception as error:
            if not is_transient(error):
                raise
            logger.warning(
                "hitl: %s failed (attempt %d of %d), retrying in %.0f s: %s",
                getattr(fn, "__name__", fn),
                attempt,
                MAX_ATTEMPTS,
                interval,
                error,
            )
        time.sleep(interval)
        interval *= BACKOFF
    return fn(*args)
