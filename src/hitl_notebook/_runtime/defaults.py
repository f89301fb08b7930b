"""What a process runs with unless told otherwise: its application version, how long a run waits
hot for a human before it parks, how often it looks for due notifications, and how many runs a
worker takes at once.

A module of its own, importing nothing, so that ``hitl --help`` shows these defaults without
loading DBOS.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_APP_VERSION",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_PARK_AFTER",
    "DEFAULT_SCHEDULE_EVERY",
]

DEFAULT_APP_VERSION = "1"
DEFAULT_PARK_AFTER = "30s"
DEFAULT_SCHEDULE_EVERY = "1s"
"""How often a process looks for notifications, reminders, escalations and deadlines that are due."""
DEFAULT_CONCURRENCY = 100
"""Runs at once in one worker process (a run waiting hot for a human holds its slot)."""
