"""How the SDK declares its own DBOS steps."""

from __future__ import annotations

import sqlalchemy as sa
from dbos import StepOptions

__all__ = ["step_options"]


def step_options(name: str) -> StepOptions:
    """The SDK's own steps retry transient database errors, and nothing else."""
    return {
        "name": name,
        "retries_allowed": True,
        "max_attempts": 5,
        "should_retry": _is_transient,
    }


def _is_transient(error: BaseException) -> bool:
    return isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError)
