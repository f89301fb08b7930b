"""Everything the SDK relies on inside DBOS 3.4 that is not public API, in one place.

- **Tables read with SQL.** DBOS has no public query that joins a workflow's state with other rows,
  and the inbox and the answer path need exactly that in one round trip.
- **Parking.** A run that waits long for a human is parked: its ``workflow_status`` row becomes
  ``DELAYED`` on DBOS's internal queue until its deadline, and its code unwinds with ``Parked``, a
  ``BaseException`` (DBOS records an outcome only for ``Exception``), so it holds no thread, no
  task and no poll. DBOS's own background job turns the row into ``ENQUEUED`` at the deadline; an
  answer does it at once (``wake``). Either way DBOS's queue dispatches it again in the process of
  the application that owns it, which replays it from its checkpoints.
- **An index of ours on ``workflow_status``** (SQLite only, ``index_run_states``): each run's
  state by its id, so that the inbox's counts read no DBOS row (``run_is_active``).
- **Moving parked runs' wake-ups** when a test moves the process's clock (``shift_parked``).
- **The internal queue's polling interval**, which bounds how fast a parked run resumes.
- **Starting many runs at once** (``claim_here``, ``execute_claimed``): the rows DBOS's own batch
  enqueue (``SystemDatabase.init_workflows``, which its Kafka consumer uses) writes, as its queue
  leaves them once it claimed them for this process, inserted in the caller's transaction with one
  statement per table (DBOS's builds a statement with every row's values, ~1 ms a row); then each
  run's task, made on DBOS's event loop as DBOS makes it for a run it claimed, all in one callback
  (DBOS's queue thread hands the loop one run at a time and waits for each).
- **The error DBOS raises** when a caller awaits the result of a cancelled workflow.
- **How many steps the executing run has taken** (``steps_taken``): DBOS numbers a run's steps
  in its context; a request records the count, so a what-if fork at it reuses those steps.
- **Recovery of another executor's runs** (``requeue_for_recovery``): the step DBOS's own recovery
  takes for each pending run, used to hand a dead worker's runs to the live ones.
- **The default database file** DBOS and its CLI use for a ``dbos-config.yaml`` without a URL.
- **Messages** (``DBOS.send``, ``DBOSClient.send``): the ``notifications`` table they land in, the
  topic DBOS stores for "no topic", the channel Postgres announces them on, and how a message's
  value is read back; a message to a waiting run is taken as an answer (``_store.dbos_messages``).

``tests/test_dbos_contract.py`` fails loudly if a DBOS upgrade changes any of this, and
pyproject.toml pins DBOS to the tested minor release.

DBOS takes a third of a second to import (its Postgres driver with it), and a process that only
reads or answers with a URL (the CLI, a web server) needs none of it: DBOS is imported inside the
functions that call it, and the names it keeps as private constants are copied here (the
contract test compares them with DBOS's own).

Its modules, one concept each: DBOS's tables and the names it keeps (``tables``), a run's state
read through our indexes (``run_states``), messages (``messages``), the exceptions that unwind a
waiting run (``unwinding``), parking and waking runs (``parking``), starting many runs here
(``claiming``), and small reaches into this process's DBOS (``process_hooks``). Import the names
from here, not from the modules.
"""

from __future__ import annotations

from hitl_notebook._db.dbos_internals.claiming import Claimed, claim_here, execute_claimed
from hitl_notebook._db.dbos_internals.messages import (
    MESSAGES_CHANNEL,
    NULL_TOPIC,
    Message,
    consume_message,
    messages_to,
)
from hitl_notebook._db.dbos_internals.parking import (
    Woken,
    park,
    parking,
    shift_parked,
    sweep,
    wake,
    wake_many,
    waking,
)
from hitl_notebook._db.dbos_internals.process_hooks import (
    awaited_a_cancelled_run,
    dbos_default_database,
    requeue_for_recovery,
    set_internal_queue_polling,
    steps_taken,
)
from hitl_notebook._db.dbos_internals.run_states import (
    ACTIVE_RUNS_INDEX,
    RUN_STATES_INDEX,
    index_active_runs,
    index_run_states,
    run_is_active,
    run_lives,
)
from hitl_notebook._db.dbos_internals.tables import (
    ACTIVE_STATES,
    DBOS_SCHEMA,
    INTERNAL_QUEUE,
    PARKED_STATE,
    notifications,
    workflow_input,
    workflow_status,
)
from hitl_notebook._db.dbos_internals.unwinding import Cancelled, Parked, Stopped

__all__ = [
    "ACTIVE_RUNS_INDEX",
    "ACTIVE_STATES",
    "DBOS_SCHEMA",
    "INTERNAL_QUEUE",
    "MESSAGES_CHANNEL",
    "NULL_TOPIC",
    "PARKED_STATE",
    "RUN_STATES_INDEX",
    "Cancelled",
    "Claimed",
    "Message",
    "Parked",
    "Stopped",
    "Woken",
    "awaited_a_cancelled_run",
    "claim_here",
    "consume_message",
    "dbos_default_database",
    "execute_claimed",
    "index_active_runs",
    "index_run_states",
    "messages_to",
    "notifications",
    "park",
    "parking",
    "requeue_for_recovery",
    "run_is_active",
    "run_lives",
    "set_internal_queue_polling",
    "shift_parked",
    "steps_taken",
    "sweep",
    "wake",
    "wake_many",
    "waking",
    "workflow_input",
    "workflow_status",
]
