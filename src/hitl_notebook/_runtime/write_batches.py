"""Committing what many runs write at the same moment in one transaction.

A run's writes inside its workflow are idempotent and stand alone (``_agent.program.write``), so
those of runs that write at once can share a transaction: a thousand runs that start together
store their first requests in a few commits instead of a thousand (SQLite's write lock taken once
instead of fought over, Postgres's BEGIN and COMMIT paid once). The process's one writer thread
takes what is queued, up to ``MOST`` writes, and commits them together. Writes of the same kind
(``submit_part``: the first requests of runs that start together) are written by one call, a few
statements for all of them. Each write has committed before its run goes on; a batch that fails
is taken apart and each write is tried alone (retried as every write is, ``_runtime.retries``),
so one run's error stays its own.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from hitl_notebook._db.database import Database
from hitl_notebook._db.dbos_internals import Stopped
from hitl_notebook._runtime.retries import retrying

__all__ = ["MOST", "WriteAll", "WriteBatches"]

T = TypeVar("T")
Item = TypeVar("Item")

WriteAll = Callable[[sa.Connection, Sequence[Item]], Sequence[T]]
"""Writes many items of one kind on a connection, and returns one result per item, in order."""

MOST = 500
"""The most writes one transaction takes."""


@dataclass(frozen=True)
class _Write(Generic[Item, T]):
    write_all: WriteAll[Item, T]
    item: Item
    future: concurrent.futures.Future[T] = field(default_factory=concurrent.futures.Future)


def _each(conn: sa.Connection, writes: Sequence[Callable[[sa.Connection], T]]) -> list[T]:
    return [write(conn) for write in writes]


class WriteBatches:
    """One per process: commits the writes queued meanwhile together, on its own thread."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._queue: queue.SimpleQueue[_Write[Any, Any] | None] = queue.SimpleQueue()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="hitl-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Commit what is queued, then stop; later writes raise ``Stopped``."""
        self._stopped = True
        self._queue.put(None)
        self._thread.join(timeout=10)

    def submit(self, write: Callable[[sa.Connection], T]) -> concurrent.futures.Future[T]:
        """Queue ``write(conn)`` (idempotent, it may run again alone); its future holds what it
        returned once its transaction committed."""
        return self.submit_part(_each, write)

    def submit_part(self, write_all: WriteAll[Item, T], item: Item) -> concurrent.futures.Future[T]:
        """Queue ``item`` for ``write_all``, which writes it with the other items queued for it
        meanwhile (idempotent: an item may be written again alone); its future holds the item's
        result once its transaction committed."""
        if self._stopped:
            raise Stopped("the runtime shut down")
        queued: _Write[Item, T] = _Write(write_all, item)
        self._queue.put(queued)
        return queued.future

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            last = False
            while len(batch) < MOST and not self._queue.empty():
                queued = self._queue.get()
                if queued is None:
                    last = True
                    break
                batch.append(queued)
            self._commit([w for w in batch if w.future.set_running_or_notify_cancel()])
            if last:
                return

    def _commit(self, batch: list[_Write[Any, Any]]) -> None:
        if not batch:
            return
        try:
            with self._database.engine.begin() as conn:
                results = _write_grouped(conn, batch)
        except Exception:  # taken apart: each write alone, so an error is its own run's
            for queued in batch:
                self._alone(queued)
            return
        except BaseException as error:  # the thread must go on serving the other runs
            for queued in batch:
                queued.future.set_exception(error)
            return
        for queued, result in zip(batch, results, strict=True):
            queued.future.set_result(result)

    def _alone(self, queued: _Write[Any, Any]) -> None:
        try:
            result = retrying(self._in_transaction, queued)
        except BaseException as error:  # handed to the run that wrote, as it is
            queued.future.set_exception(error)
        else:
            queued.future.set_result(result)

    def _in_transaction(self, queued: _Write[Any, T]) -> T:
        with self._database.engine.begin() as conn:
            (result,) = queued.write_all(conn, [queued.item])
            return result


def _write_grouped(conn: sa.Connection, batch: Sequence[_Write[Any, Any]]) -> list[Any]:
    """Each write's result, in order: the items of one ``write_all`` written by one call, the
    groups in the order their first write was queued."""
    groups: dict[WriteAll[Any, Any], list[int]] = {}
    for i, queued in enumerate(batch):
        groups.setdefault(queued.write_all, []).append(i)
    results: list[Any] = [None] * len(batch)
    for write_all, positions in groups.items():
        written = write_all(conn, [batch[i].item for i in positions])
        for i, result in zip(positions, written, strict=True):
            results[i] = result
    return results
