"""The process's one poller: it wakes the runs that wait hot when their answer is stored.

On SQLite it makes one query per interval for all hot waiters together (the decisions of the last
few seconds), and only while some run waits hot; on Postgres it listens to the channel on which
``Store.respond`` announces answers (and queries once a second in case an announcement was
missed). The query finds the requests decided in the last few seconds, and only the hot waits
for one of those requests are woken (a run that took its decision and waits for its next question
is not woken for the old one at every poll); a woken waiter looks at its own requests. As the
query looks a few seconds back, a run that begins to wait just after its request was answered is
woken too: a run need not look before it listens.

Every ``SWEEP_S`` it also enqueues this process's parked runs that hold an answer they have not
taken: a safety net for a process that died between parking a run and its last look (see
``_runtime.waiting``).

When a test moves the process's clock (``time_moved``), it wakes every hot waiter (each looks
again: a deadline now past applies), brings this application's parked runs as much closer to
their wake-up, and enqueues those with a request past its deadline on the clock; it enqueues
those too when it starts on a clock that was moved while no runtime ran.

An answer stored by this process wakes its hot waiter at once, without waiting for the poll or the
announcement: the store calls ``wake`` right after its commit (``Store(hot_waits=...)``). A wake
is a hint to look now, unless it hands over the decision just committed (``HotWait.handed``):
the store answered a request it found here (``waited_request``), and that answer's transaction
also published that the run took the decision (its "resumed" status), so the run resumes on the
committed decision without a look, and a replay finds the same decision and status in the
database (see ``_store.answering``).

It also hands DBOS messages to waiting runs (``DBOS.send``) to ``on_messages``, which takes them
as answers (``_store.dbos_messages``): at once on Postgres, where DBOS announces each message (and every
``SWEEP_S`` in case an announcement was missed), every ``MESSAGES_S`` on SQLite.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence

import sqlalchemy as sa

from hitl_notebook._core.models import Decision, Request
from hitl_notebook._core.times import now_ms, real_now_ms
from hitl_notebook._db.changes import note_change
from hitl_notebook._db.database import Database
from hitl_notebook._db.dbos_internals import MESSAGES_CHANNEL, shift_parked, sweep
from hitl_notebook._db.request_records import ANSWERS_CHANNEL, answer_not_taken, overdue_at
from hitl_notebook._db.run_records import decided_since

__all__ = ["HotWait", "Poller"]

logger = logging.getLogger("hitl_notebook")

DECIDED_WINDOW_MS = 5_000
"""The poller looks at decisions this far back, so a slow commit or a skewed clock is not missed."""
LISTEN_FALLBACK_S = 1.0
"""On Postgres, how often the poller also queries, in case an announcement was missed."""
SWEEP_S = 10.0
"""How often parked runs holding an answer they have not taken are enqueued (a safety net)."""
RECONNECT_S = 1.0
POLLER_CONNECTION = "hitl-poller"
"""The application name of the poller's listening connection on Postgres (pg_stat_activity)."""
MESSAGES_S = 1.0
"""On SQLite, how often DBOS messages to waiting runs are looked for."""

OnMessages = Callable[[Collection[str] | None], object]
"""Takes the DBOS messages to these runs (None: to any waiting run) as answers."""


class HotWait:
    """One hot wait of a run in this process: the requests it waits for (as the run stored
    them), how to wake it, and the decisions an answer in this process committed for it, with
    the status saying the run took them (``handed``, by request id)."""

    __slots__ = ("handed", "requests", "wake_up")

    def __init__(self, requests: Sequence[Request], wake_up: Callable[[], None]) -> None:
        self.requests = {request.request_id: request for request in requests}
        self.wake_up = wake_up
        self.handed: dict[str, Decision] = {}


class Poller:
    """One per process: wakes the hot waiters whose run got an answer."""

    def __init__(self, database: Database, application_name: str, interval_s: float) -> None:
        self._database = database
        self._on_messages: OnMessages | None = None
        self._next_messages = time.monotonic()
        self._application_name = application_name
        self._interval_s = interval_s
        self._waiters: dict[str, list[HotWait]] = {}
        self._waited: dict[str, HotWait] = {}  # by request id
        self._lock = threading.Lock()
        self._has_waiters = threading.Event()
        self._stop = threading.Event()
        self._next_sweep = time.monotonic() + SWEEP_S
        self._thread = threading.Thread(target=self._run, name="hitl-poller", daemon=True)

    def start(self, on_messages: OnMessages | None = None) -> None:
        """Start the poller's thread; it hands DBOS messages to waiting runs to ``on_messages``
        (after enqueueing the overdue parked runs, when the process's clock was moved forward)."""
        self._on_messages = on_messages
        if now_ms() > real_now_ms():
            self._enqueue_overdue()
        self._thread.start()

    def stop(self) -> None:
        """Stop the poller's thread and wake every hot waiter, which then sees ``stopped``."""
        self._stop.set()
        self._has_waiters.set()
        self._wake_all()
        self._thread.join(timeout=5)

    @property
    def stopped(self) -> bool:
        """Whether the runtime is shutting down: hot waiters must stop waiting."""
        return self._stop.is_set()

    @property
    def waiting(self) -> int:
        """How many hot waiters are registered."""
        with self._lock:
            return sum(len(callbacks) for callbacks in self._waiters.values())

    @contextlib.contextmanager
    def watch(
        self, run_id: str, requests: Sequence[Request], wake_up: Callable[[], None]
    ) -> Iterator[HotWait]:
        """Call ``wake_up`` (from the poller's thread, or the answering one) when an answer to
        ``run_id`` is stored; the wait is for ``requests``."""
        hot = HotWait(requests, wake_up)
        with self._lock:
            self._waiters.setdefault(run_id, []).append(hot)
            self._waited |= dict.fromkeys(hot.requests, hot)
            self._has_waiters.set()
        try:
            yield hot
        finally:
            with self._lock:
                waits = self._waiters[run_id]
                waits.remove(hot)
                if not waits:
                    del self._waiters[run_id]
                for request_id in hot.requests:
                    if self._waited.get(request_id) is hot:
                        del self._waited[request_id]
                if not self._waiters:
                    self._has_waiters.clear()

    def time_moved(self, by_ms: int) -> None:
        """The process's clock moved forward by ``by_ms``: wake what waits for a deadline."""
        with self._database.engine.begin() as conn:
            shift_parked(conn, self._application_name, by_ms=by_ms, real_now_ms=real_now_ms())
        self._enqueue_overdue()
        self._wake_all()

    def _enqueue_overdue(self) -> None:
        """Enqueue this application's parked runs with a request past its deadline on the clock."""
        at = now_ms()
        with self._database.engine.begin() as conn:
            sweep(conn, self._application_name, now_ms=at, answered=overdue_at(at))

    def waited_request(self, request_id: str) -> Request | None:
        """The request ``request_id`` as its run stored it, if a hot wait here waits for it."""
        with self._lock:
            hot = self._waited.get(request_id)
            return None if hot is None else hot.requests[request_id]

    def wake(self, run_id: str, taken: Decision | None = None) -> None:
        """Wake the hot waiters of ``run_id`` now (an answer to it was committed in this process);
        ``taken``, a decision committed with the status saying the run took it, is handed to
        the waits for its request, which take it without a look."""
        with self._lock:
            waits = list(self._waiters.get(run_id, ()))
            if taken is not None:
                for hot in waits:
                    if taken.request_id in hot.requests:
                        hot.handed[taken.request_id] = taken
        for hot in waits:
            hot.wake_up()

    def _wake_all(self) -> None:
        with self._lock:
            waits = [hot for waiting in self._waiters.values() for hot in waiting]
        for hot in waits:
            hot.wake_up()

    # -- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._database.is_sqlite:
                    self._poll()
                else:
                    self._listen()
            except Exception as error:  # the poller must outlive a lost connection or a bad row
                logger.warning("hitl poller: %s; retrying in %.0f s", error, RECONNECT_S)
                self._stop.wait(RECONNECT_S)

    def _poll(self) -> None:
        while not self._stop.is_set():
            if self._has_waiters.wait(timeout=MESSAGES_S):
                self._wake_decided()
                self._stop.wait(self._interval_s)
            self._messages_when_due(MESSAGES_S)
            self._sweep_when_due()

    def _listen(self) -> None:
        import psycopg  # noqa: PLC0415 - only Postgres needs it

        conninfo = sa.make_url(self._database.url).set(drivername="postgresql")
        with psycopg.connect(
            conninfo.render_as_string(hide_password=False),
            autocommit=True,
            application_name=POLLER_CONNECTION,
        ) as conn:
            conn.execute(f"LISTEN {ANSWERS_CHANNEL}")
            if self._on_messages is not None:
                conn.execute(f"LISTEN {MESSAGES_CHANNEL}")
            while not self._stop.is_set():
                for note in conn.notifies(timeout=LISTEN_FALLBACK_S):
                    if note.channel == MESSAGES_CHANNEL:
                        self._take_messages([note.payload.partition("::")[0]])
                    else:
                        self._wake([note.payload])
                if self._has_waiters.is_set():
                    self._wake_decided()
                self._messages_when_due(SWEEP_S)
                self._sweep_when_due()

    def _wake_decided(self) -> None:
        with self._database.autocommit.connect() as conn:
            decided = decided_since(conn, now_ms() - DECIDED_WINDOW_MS)
        self._wake(self._waiting_for(decided))

    def _waiting_for(self, decided: Iterable[tuple[str, str]]) -> set[str]:
        """The runs of these (run id, request id) pairs with a hot wait for that request: a run
        that took a decision and waits for its next question is not woken for it again at
        every poll of the window."""
        with self._lock:
            return {
                run_id
                for run_id, request_id in decided
                if any(request_id in hot.requests for hot in self._waiters.get(run_id, ()))
            }

    def _wake(self, run_ids: Iterable[str]) -> None:
        for run_id in run_ids:
            self.wake(run_id)

    def _messages_when_due(self, every_s: float) -> None:
        if self._on_messages is None or time.monotonic() < self._next_messages:
            return
        self._next_messages = time.monotonic() + every_s
        self._take_messages(None)

    def _take_messages(self, run_ids: Collection[str] | None) -> None:
        assert self._on_messages is not None
        try:
            self._on_messages(run_ids)
        except Exception as error:  # one bad message must not stop the poller, or its listening
            logger.warning("hitl poller: could not take DBOS messages as answers: %s", error)

    def _sweep_when_due(self) -> None:
        if time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + SWEEP_S
        with self._database.engine.begin() as conn:
            if sweep(conn, self._application_name, now_ms=now_ms(), answered=answer_not_taken):
                note_change(conn, self._application_name)
