"""Agents and a channel for the schedule's multi-process tests (runner.py imports it after launch).

``$HITL_TEST_CHANNEL`` sets this process's channel ``memo``: unset, none; ``die``, one that kills
its own process in ``send`` before delivering anything; ``file:PATH``, one that appends a line
``<key> <event> <pid>`` to PATH (fsynced) per delivery, for the test to count deliveries by key.
``$HITL_TEST_LEASE``: the seconds a claimed row stays this process's (default: the SDK's).
"""

from __future__ import annotations

import os
import signal

import hitl_notebook as hitl
from hitl_notebook._runtime.launch import current
from hitl_notebook._runtime.schedule import configure


class Dying:
    """A channel whose process dies while sending."""

    name = "memo"

    def send(self, notification: hitl.Notification) -> str | None:
        os.kill(os.getpid(), signal.SIGKILL)
        return None


class Appending:
    """A channel that delivers to a file: one fsynced line per delivery."""

    name = "memo"

    def __init__(self, path: str) -> None:
        self.path = path

    def send(self, notification: hitl.Notification) -> str | None:
        line = f"{notification.key} {notification.event} {os.getpid()}\n".encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        return notification.key


_channel = os.environ.get("HITL_TEST_CHANNEL", "")
if _channel == "die":
    configure([Dying()])
elif _channel.startswith("file:"):
    configure([Appending(_channel.removeprefix("file:"))])
if os.environ.get("HITL_TEST_LEASE"):
    scheduler = current().scheduler
    assert scheduler is not None
    scheduler.lease_s = float(os.environ["HITL_TEST_LEASE"])


class Deadlined(hitl.Agent):
    """One approval that tells alice on ``memo`` and has a deadline."""

    def run(self, timeout: float | None, on_timeout: str) -> dict[str, object]:
        decision = self.request_approval(
            "Go ahead?",
            assignees=["alice"],
            timeout=timeout,
            on_timeout=on_timeout,
            notify=hitl.Notify(channels=["memo"]),
        )
        return {
            "outcome": decision.outcome.value,
            "approved": decision.approved,
            "by": decision.by,
            "pid": os.getpid(),
        }
