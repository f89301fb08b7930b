"""Executor identity: which process owns which runs.

DBOS recovers a run only in a process with the run's executor id (and application name). A
process's identity is derived from what it is, so that a restarted kernel or process gets its old
identity back and recovers its own runs:

- ``launch(executor=...)`` or ``$HITL_EXECUTOR`` when given;
- else the notebook path (Jupyter tells the kernel), else the script path, plus the host name.

Two live processes must never share an identity (the second would take over the first's runs), so
identities are claimed in the ``hitl_executors`` table: a process holds its claim with a heartbeat,
and a second live process with the same label gets the next free slot (``…-2``, ``…-3``). A claim
is free again when released at shutdown, when its process is gone (same host), or when its heartbeat
is older than ``STALE_AFTER_MS``.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import sys
import threading
from dataclasses import dataclass

import sqlalchemy as sa

from hitl_notebook._core.errors import ConfigurationError
from hitl_notebook._core.times import real_now_ms
from hitl_notebook._db.database import Database, executors
from hitl_notebook._db.run_records import STALE_AFTER_MS, pid_alive

__all__ = ["ExecutorClaim", "claim_executor", "default_label"]

ENV_EXECUTOR = "HITL_EXECUTOR"
HEARTBEAT_S = 5.0
MAX_SLOTS = 64


def default_label() -> str:
    """What this process is: an explicit name, the notebook, or the script."""
    explicit = os.environ.get(ENV_EXECUTOR, "").strip()
    if explicit:
        return explicit
    notebook = os.environ.get("JPY_SESSION_NAME", "").strip()
    if notebook:
        return os.path.abspath(notebook)
    script = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    return os.path.abspath(script) if script else "interactive"


def _slug(label: str, host: str) -> str:
    stem = os.path.splitext(os.path.basename(label.rstrip("/\\")))[0] or "hitl"
    stem = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:40] or "hitl"
    digest = hashlib.sha1(f"{host}\0{label}".encode()).hexdigest()[:8]
    return f"{stem}-{digest}"


@dataclass
class ExecutorClaim:
    """This process's claim on an executor identity, kept alive by a heartbeat thread."""

    executor_id: str
    label: str
    database: Database
    _stop: threading.Event
    _thread: threading.Thread | None = None

    def start_heartbeat(self) -> None:
        """Refresh the claim every few seconds until released."""
        self._thread = threading.Thread(
            target=self._beat, name="hitl-executor-heartbeat", daemon=True
        )
        self._thread.start()

    def release(self) -> None:
        """Give the identity back (a later process with the same label takes it at once)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self.database.engine.begin() as conn:
            conn.execute(
                executors.update()
                .where(executors.c.executor_id == self.executor_id)
                .where(executors.c.pid == os.getpid())
                .values(released=True)
            )

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                with self.database.engine.begin() as conn:
                    conn.execute(
                        executors.update()
                        .where(executors.c.executor_id == self.executor_id)
                        .where(executors.c.pid == os.getpid())
                        .values(heartbeat_at_ms=real_now_ms())
                    )
            except sa.exc.SQLAlchemyError:
                continue  # a database hiccup: the next beat retries; the claim is stale only after 30 s


def claim_executor(database: Database, label: str) -> ExecutorClaim:
    """Claim the first free executor identity for ``label`` on ``database``."""
    host = socket.gethostname()
    base = _slug(label, host)
    for slot in range(1, MAX_SLOTS + 1):
        executor_id = base if slot == 1 else f"{base}-{slot}"
        if _try_claim(database, executor_id, label, host):
            return ExecutorClaim(executor_id, label, database, threading.Event())
    raise ConfigurationError(
        f"{MAX_SLOTS} live processes already use the executor label {label!r}; "
        "pass launch(executor='some-other-name') to tell this one apart."
    )


def _try_claim(database: Database, executor_id: str, label: str, host: str) -> bool:
    now = real_now_ms()
    mine = {
        "host": host,
        "pid": os.getpid(),
        "label": label,
        "claimed_at_ms": now,
        "heartbeat_at_ms": now,
        "released": False,
    }
    with database.engine.begin() as conn:
        row = conn.execute(
            sa.select(executors).where(executors.c.executor_id == executor_id)
        ).first()
        if row is None:
            try:
                with conn.begin_nested():
                    conn.execute(executors.insert().values(executor_id=executor_id, **mine))
            except sa.exc.IntegrityError:
                return False  # another process claimed it this instant
            return True
        if not _is_free(row, host, now):
            return False
        taken = conn.execute(
            executors.update()
            .where(executors.c.executor_id == executor_id)
            .where(executors.c.pid == row.pid)
            .where(executors.c.heartbeat_at_ms == row.heartbeat_at_ms)
            .values(**mine)
        )
        return taken.rowcount == 1


def _is_free(row: sa.Row[tuple[object, ...]], host: str, now: int) -> bool:
    if row.released or now - int(row.heartbeat_at_ms) > STALE_AFTER_MS:
        return True
    if row.host != host:
        return False
    return row.pid == os.getpid() or not pid_alive(int(row.pid))
