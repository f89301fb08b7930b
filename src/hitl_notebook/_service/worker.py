"""Workers: processes that run agents headless, taking new runs from a DBOS queue.

``hitl worker MODULE`` imports the module that defines the agents, launches the runtime as one
process of the shared ``hitl-worker`` DBOS application (see ``_store.queueing``) with an executor
identity of its own, and registers the ``hitl-agents`` queue with a per-worker concurrency limit
(a run waiting hot for a human holds its slot; once parked, see ``_runtime.waiting``, it holds none). DBOS
does the rest: each worker dequeues new runs, a restarted worker recovers the runs it had taken,
and a parked run that gets its answer is enqueued again and taken by any live worker.

A worker sends notifications through the channels its environment describes (``HITL_*``
variables, the ``notify:`` section of dbos-config.yaml: see ``_channels.environment``), unless the
agents' module configures its own (``channels.configure``).

A worker that dies for good leaves its runs PENDING under its executor id. ``recover_runs``
(``hitl recover --from EXECUTOR``) hands them to the live workers through DBOS's own recovery:
it returns each run to its queue (what DBOS's recovery does at launch), guarded by the dead
executor's id so a run that someone already took is left alone, and any live worker dequeues it
and resumes it from its last checkpoint.
"""

from __future__ import annotations

import importlib
import importlib.util
import signal
import sys
import threading
from collections import Counter
from pathlib import Path
from types import FrameType, ModuleType

from dbos import DBOS

from hitl_notebook._channels.environment import channels_from_environment
from hitl_notebook._core.errors import ConfigurationError
from hitl_notebook._core.times import Duration
from hitl_notebook._db.dbos_internals import requeue_for_recovery
from hitl_notebook._db.run_records import is_running
from hitl_notebook._runtime.defaults import (
    DEFAULT_APP_VERSION,
    DEFAULT_CONCURRENCY,
    DEFAULT_PARK_AFTER,
)
from hitl_notebook._runtime.launch import Runtime, launch, shutdown
from hitl_notebook._runtime.schedule import configure, configured
from hitl_notebook._store.queueing import WORKER_APPLICATION, WORKER_QUEUE
from hitl_notebook._store.store import Store

__all__ = [
    "import_agents",
    "recover_runs",
    "serve_until_stopped",
    "start_worker",
    "worker_holdings",
]

DEFAULT_POLL_S = 0.1


def import_agents(module: str) -> ModuleType:
    """Import the module that defines the agents: a dotted name, or a path to a ``.py`` file."""
    if module.endswith(".py") or "/" in module:
        path = Path(module).resolve()
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None or not path.is_file():
            raise ConfigurationError(f"No Python file at {path}.")
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = loaded
        spec.loader.exec_module(loaded)
        return loaded
    if "" not in sys.path:
        sys.path.insert(0, "")  # a module in the working directory, as `python -m` finds it
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is None or not module.startswith(error.name):
            raise  # the module exists but imports something missing: show where
        raise ConfigurationError(
            f"No module named {module!r} here; give a dotted module name on the Python path "
            "or a path to a .py file."
        ) from error


def start_worker(
    module: str,
    *,
    database: str | None = None,
    name: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    app_version: str = DEFAULT_APP_VERSION,
    park_after: Duration | None = DEFAULT_PARK_AFTER,
    poll_s: float = DEFAULT_POLL_S,
    log_level: str = "WARNING",
) -> Runtime:
    """Import the agents, launch as a worker and start taking runs from the queue."""
    if concurrency < 1:
        raise ConfigurationError("A worker's concurrency is at least 1.")
    found, directory = channels_from_environment()
    configure(found, directory=directory)  # before the agents: a module that configures wins
    import_agents(module)
    runtime = launch(
        database,
        executor=name or f"worker {module}",
        app_version=app_version,
        log_level=log_level,
        park_after=park_after,
        application=WORKER_APPLICATION,
    )
    DBOS.register_queue(
        WORKER_QUEUE,
        worker_concurrency=concurrency,
        polling_interval_sec=poll_s,
        on_conflict="always_update",
    )
    return runtime


def serve_until_stopped(runtime: Runtime) -> None:
    """Keep a started worker (``start_worker``) taking runs until SIGTERM or Ctrl-C, then shut it
    down; its runs stay in the database."""
    stop = threading.Event()

    def request_stop(_signal: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    print(
        f"hitl worker {runtime.executor_id} ready: queue {WORKER_QUEUE}, "
        f"application {WORKER_APPLICATION}, version {runtime.app_version}, "
        f"notifying through {', '.join(configured().names) or 'no channel'}",
        flush=True,
    )
    stop.wait()
    shutdown()


def recover_runs(store: Store, executor_id: str, *, force: bool = False) -> list[str]:
    """Hand the PENDING runs of a dead worker to the live workers; returns their ids.

    Refuses while the executor is alive (its process would keep running them) unless ``force``.
    """
    with store.database.engine.connect() as conn:
        alive = is_running(conn, executor_id)
    if alive and not force:
        raise ConfigurationError(
            f"Executor {executor_id!r} is alive; stop it first (a restarted worker recovers its "
            "own runs), or pass force=True (--force) if you know its process is gone."
        )
    client = store.database.client
    pending = client.list_workflows(
        status="PENDING", executor_id=executor_id, load_input=False, load_output=False
    )
    recovered = []
    for workflow in pending:
        if workflow.application_name != WORKER_APPLICATION:
            continue  # a notebook's runs: relaunch that notebook (its identity) to resume them
        if requeue_for_recovery(client, workflow.workflow_id, executor_id):
            recovered.append(workflow.workflow_id)
    return recovered


def worker_holdings(store: Store) -> dict[str, tuple[int, bool]]:
    """The workers holding PENDING runs: executor id -> (how many runs, whether it is alive)."""
    pending = store.database.client.list_workflows(
        status="PENDING", load_input=False, load_output=False
    )
    counts = Counter(w.executor_id for w in pending if w.application_name == WORKER_APPLICATION)
    with store.database.engine.connect() as conn:
        return {
            executor: (count, is_running(conn, executor))
            for executor, count in sorted(counts.items())
            if executor is not None
        }
