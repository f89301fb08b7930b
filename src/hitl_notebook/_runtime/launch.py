"""The only place that configures and launches DBOS.

``launch()`` picks the database (see ``_db.config``), claims this process's executor identity (see
``_runtime.identity``), pins the application version and launches DBOS in a way that is safe in a notebook:

- DBOS is launched from a helper thread, so it never adopts the kernel's event loop (a cell that
  waits for an async agent would otherwise deadlock it);
- agents run on the runtime's own event loop thread, so a waiting agent holds no thread;
- re-running ``launch()`` with the same settings returns the running runtime; asking for another
  database is an error unless ``reconfigure=True`` says to shut down and launch again;
- DBOS logs only warnings unless ``log_level`` asks for more;
- a run waiting for a human waits hot (answers land in milliseconds) for ``park_after``, then
  parks and holds nothing until its answer or deadline (see ``_runtime.waiting``);
- when a test moves the process's clock (``hitl_notebook.testing.Clock``), the launched runtime
  wakes what is due at once: hot waits and parked runs (``Poller.time_moved``) and, when it
  fires on its own, the schedule.

Replay rule: the application version is pinned (``"1"`` unless you pass ``app_version``), so runs
survive edits to your agent's code and resume in the edited code. Edits *after* a run's last
completed step are always safe; if you change or reorder steps and requests that a waiting run has
already passed, launch with a new ``app_version`` and finish old runs in a process on the old one.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import functools
import logging
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from dbos import DBOS, DBOSConfig

from hitl_notebook._core.answers import preload_validator
from hitl_notebook._core.errors import ConfigurationError, NotLaunchedError
from hitl_notebook._core.times import Duration, duration_seconds, on_clock_shift
from hitl_notebook._core.values import check_text
from hitl_notebook._db.config import resolve_database_url
from hitl_notebook._db.database import Database
from hitl_notebook._db.dbos_internals import set_internal_queue_polling
from hitl_notebook._runtime.defaults import (
    DEFAULT_APP_VERSION,
    DEFAULT_PARK_AFTER,
    DEFAULT_SCHEDULE_EVERY,
)
from hitl_notebook._runtime.identity import ExecutorClaim, claim_executor, default_label
from hitl_notebook._runtime.poller import Poller
from hitl_notebook._runtime.schedule import Scheduler
from hitl_notebook._runtime.write_batches import WriteBatches
from hitl_notebook._store.dbos_messages import answer_messages
from hitl_notebook._store.default import use_launched
from hitl_notebook._store.store import Store

__all__ = [
    "Runtime",
    "current",
    "current_or_none",
    "launch",
    "on_loop",
    "shutdown",
]

T = TypeVar("T")

SQLITE_POLL_S = 0.05
"""How often the poller looks for answers to hot waits on SQLite (Postgres uses LISTEN/NOTIFY)."""
WOKEN_POLL_S = 0.5
"""How often DBOS looks for woken (enqueued) parked runs: bounds an answer's latency once parked."""
DBOS_LISTENER_POLL_S = 0.1
"""How often DBOS's own message listener wakes on SQLite. hitl runs register nothing with it (no
``DBOS.recv``), so a wake-up costs no query; shutting down waits for its sleep to end (1 s with
DBOS's default)."""
MAX_EXECUTOR_THREADS = 8
"""DBOS's thread pool for async steps; unbounded, a burst of resumed runs would leave idle threads."""


@dataclass(frozen=True)
class Runtime:
    """A launched hitl_notebook runtime: which database, which identity, which version."""

    database_url: str
    executor_id: str
    app_version: str
    store: Store
    """The store that knows this process's runs (``hitl.store()`` while launched)."""
    loop: asyncio.AbstractEventLoop
    loop_thread: threading.Thread
    claim: ExecutorClaim
    log_level: str
    poller: Poller
    writes: WriteBatches
    """Commits what the runs write at the same moment together (their first requests)."""
    park_after_s: float | None
    """How long a run waits hot before it parks; None: it never parks."""
    application: str | None = None
    """The DBOS application shared with peer processes (workers), if any."""
    scheduler: Scheduler | None = None
    """Fires this process's share of the durable schedule (notifications, escalations):
    every ``schedule_every`` on its own, and whenever ``scheduler.tick()`` is called."""
    schedule_every_s: float | None = 1.0
    """How often the scheduler looks for due rows; None: only when ``tick()`` is called."""

    @property
    def database(self) -> Database:
        """The database the runtime runs on (its store's)."""
        return self.store.database

    def __repr__(self) -> str:
        return (
            f"Runtime(database_url={_redact(self.database_url)!r}, "
            f"executor_id={self.executor_id!r}, app_version={self.app_version!r})"
        )


_lock = threading.RLock()
_current: Runtime | None = None


def launch(
    database: str | None = None,
    *,
    executor: str | None = None,
    app_version: str = DEFAULT_APP_VERSION,
    log_level: str = "WARNING",
    park_after: Duration | None = DEFAULT_PARK_AFTER,
    reconfigure: bool = False,
    application: str | None = None,
    schedule_every: Duration | None = DEFAULT_SCHEDULE_EVERY,
) -> Runtime:
    """Launch the runtime (idempotent): DBOS on SQLite by default, or on the database you name.

    ``park_after``: how long a run waiting for a human stays hot (an answer resumes it within
    milliseconds) before it parks (it then costs nothing; an answer resumes it within about a
    second). ``0`` parks at once; ``None`` never parks.

    >>> import hitl_notebook as hitl
    >>> rt = hitl.launch()                                  # the embedded SQLite file
    >>> rt = hitl.launch("postgresql://postgres@127.0.0.1:5432/hitl")  # or a team's Postgres

    ``application``: share this DBOS application (and version) with other processes, as workers
    do (see ``_store.queueing``); by default each executor is an application of its own.

    ``schedule_every``: how often this process looks for notifications, reminders, escalations
    and deadlines that are due (the durable schedule, see ``hitl.Notify``); each look that finds
    nothing is one indexed read. ``None``: this process fires nothing on its own (others on the
    same database do; ``runtime.scheduler.tick()`` fires what is due now, as tests do).
    """
    global _current  # noqa: PLW0603 - one runtime per process, as DBOS is one per process
    url = resolve_database_url(database)
    label = executor or default_label()
    check_text(label, "executor")
    park_after_s = None if park_after is None else duration_seconds(park_after, what="park_after")
    schedule_every_s = (
        None if schedule_every is None else duration_seconds(schedule_every, what="schedule_every")
    )
    if schedule_every_s is not None and schedule_every_s <= 0:
        raise ValueError(f"schedule_every must be a positive duration, not {schedule_every!r}")
    with _lock:
        if _current is not None:
            wanted = (url, app_version, label, park_after_s, application, schedule_every_s)
            running = (
                _current.database_url,
                _current.app_version,
                _current.claim.label,
                _current.park_after_s,
                _current.application,
                _current.schedule_every_s,
            )
            if wanted == running:
                _set_log_level(log_level)
                return _current
            if not reconfigure:
                raise ConfigurationError(
                    f"hitl_notebook is already launched on {_redact(_current.database_url)} "
                    f"(executor {_current.executor_id!r}, version {_current.app_version!r}, "
                    f"park_after {_current.park_after_s!r} s); "
                    "call hitl.launch(..., reconfigure=True) to shut it down and launch again, "
                    "or hitl.shutdown() first."
                )
            _shutdown_locked()
        _current = _start(
            url,
            label,
            app_version,
            log_level,
            park_after_s,
            application=application,
            schedule_every_s=schedule_every_s,
        )
        use_launched(_current.store)
        return _current


def _start(
    url: str,
    label: str,
    app_version: str,
    log_level: str,
    park_after_s: float | None,
    *,
    application: str | None,
    schedule_every_s: float | None,
) -> Runtime:
    database = Database(url, create=True)
    claim = claim_executor(database, label)
    config: DBOSConfig = {
        "name": application or f"hitl-{claim.executor_id}",
        "system_database_url": url,
        # DBOS wants version names unique per application, and each executor is its own
        # application (so that no other process dequeues its recovered runs), unless it
        # shares one with its peers (workers).
        "application_version": app_version if application else f"{app_version}+{claim.executor_id}",
        "executor_id": claim.executor_id,
        "log_level": log_level,
        "max_executor_threads": MAX_EXECUTOR_THREADS,
        "notification_listener_polling_interval_sec": DBOS_LISTENER_POLL_S,
    }
    _set_log_level(log_level)
    try:
        DBOS(config=config)
        set_internal_queue_polling(WOKEN_POLL_S)
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hitl-launch") as pool:
            pool.submit(DBOS.launch).result()
    except Exception as error:
        claim.release()
        database.close()
        DBOS.destroy()
        raise ConfigurationError(f"Could not launch DBOS on {_redact(url)}: {error}") from error
    claim.start_heartbeat()
    preload_validator()
    poller = Poller(database, config["name"], SQLITE_POLL_S)
    launched = Store(database, executor_id=claim.executor_id, hot_waits=poller)
    poller.start(on_messages=functools.partial(answer_messages, launched))
    writes = WriteBatches(database)
    writes.start()
    scheduler = Scheduler(database, claim.executor_id, interval_s=schedule_every_s or 1.0)
    if schedule_every_s is not None:
        scheduler.start()
    loop = asyncio.new_event_loop()
    loop_thread = threading.Thread(target=loop.run_forever, name="hitl-loop", daemon=True)
    loop_thread.start()
    return Runtime(
        url,
        claim.executor_id,
        app_version,
        launched,
        loop,
        loop_thread,
        claim,
        log_level,
        poller,
        writes,
        park_after_s,
        application,
        scheduler,
        schedule_every_s,
    )


def shutdown() -> None:
    """Stop DBOS and release this process's identity; waiting runs stay waiting in the database."""
    with _lock:
        _shutdown_locked()


def _shutdown_locked() -> None:
    global _current
    runtime, _current = _current, None
    if runtime is None:
        return
    use_launched(None)
    # Runs that do not stop in time are abandoned here; they resume at the next launch. DBOS
    # warns about every run it sees cancelled: expected here, so not shown.
    dbos_logger = logging.getLogger("dbos")
    level = dbos_logger.level
    dbos_logger.setLevel(max(level, logging.ERROR))
    try:
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(_cancel_runs(), runtime.loop).result(timeout=10)
        runtime.poller.stop()
        runtime.writes.stop()
        if runtime.scheduler is not None:
            runtime.scheduler.stop()
        DBOS.destroy()
    finally:
        dbos_logger.setLevel(level)
    runtime.loop.call_soon_threadsafe(runtime.loop.stop)
    runtime.loop_thread.join(timeout=10)
    if not runtime.loop.is_running():
        runtime.loop.close()
    runtime.claim.release()
    runtime.database.close()


async def _cancel_runs() -> None:
    """Stop the runs executing on the runtime's loop; they stay pending in the database."""
    me = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not me]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


atexit.register(shutdown)


def current() -> Runtime:
    """The launched runtime; raises NotLaunchedError before ``launch()``."""
    runtime = _current
    if runtime is None:
        raise NotLaunchedError("hitl_notebook is not launched: call hitl.launch() first.")
    return runtime


def current_or_none() -> Runtime | None:
    """The launched runtime, if any."""
    return _current


def _clock_moved(by_ms: int) -> None:
    """Wake what is due on the launched runtime once a test moved the process's clock."""
    runtime = _current
    if runtime is None:
        return
    if runtime.scheduler is not None and runtime.schedule_every_s is not None:
        runtime.scheduler.tick()
    runtime.poller.time_moved(by_ms)


on_clock_shift(_clock_moved)


def on_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the runtime's loop and wait for it (safe from a notebook cell)."""
    return asyncio.run_coroutine_threadsafe(coro, current().loop).result()


def _set_log_level(level: str) -> None:
    logging.getLogger("dbos").setLevel(level.upper())


def _redact(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
