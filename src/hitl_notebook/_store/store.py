"""The store: answer, read, queue and control runs over the system database, with only its URL.

Any process that can reach the database can answer a waiting agent: the notebook that runs the
agents, another kernel, a CLI or a web server, with no agent code loaded and no DBOS launched.
Answers go through the one answer path (``_store.answering``); reads are one query each.
"""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hitl_notebook._core.access import check_responder
from hitl_notebook._core.errors import (
    AnswerError,
    NotFoundError,
    ResultTimeoutError,
    RunCancelledError,
)
from hitl_notebook._core.failures import cause_of, run_failed
from hitl_notebook._core.models import (
    Answer,
    Decision,
    Reply,
    Request,
    Status,
    StatusEvent,
    Vote,
    run_state_word,
)
from hitl_notebook._core.sync_async import awaitable
from hitl_notebook._core.times import Timeout, now_ms
from hitl_notebook._db.changes import note_change
from hitl_notebook._db.database import Database
from hitl_notebook._db.dbos_internals import awaited_a_cancelled_run, wake
from hitl_notebook._db.request_records import (
    ANSWERS_CHANNEL,
    close_for_cancel,
    load_request,
    request_from_row,
    requests_of_run,
)
from hitl_notebook._db.run_records import (
    append_status,
    fork_origin,
    history,
    latest_status,
    load_failure,
    run_state,
)
from hitl_notebook._db.vote_records import votes_of
from hitl_notebook._store import answering, forking, voting
from hitl_notebook._store.analysis import Rows, decision_rows, history_rows, run_rows
from hitl_notebook._store.answer_rule import FINAL_RUN_STATES, check_id
from hitl_notebook._store.answering import HotWaits
from hitl_notebook._store.answering_many import answer_many
from hitl_notebook._store.inbox import DEFAULT_SORT, Inbox, InboxFilter, SortKey
from hitl_notebook._store.inbox_query import (
    InboxCounts,
    InboxCursor,
    count_inbox,
    inbox_cursor,
    query_inbox,
    sorts_in_database,
)
from hitl_notebook._store.queueing import enqueue_runs

__all__ = ["FINAL_RUN_STATES", "BulkResult", "Store", "default_responder"]

ENV_USER = "HITL_USER"
RESULT_POLL_S = 0.05


def default_responder() -> str:
    """Who answers when ``by`` is not given: ``$HITL_USER``, else the login name."""
    return os.environ.get(ENV_USER) or getpass.getuser()


class Store:
    """Answer requests and read runs on one database. Get one with ``hitl.connect(url)``."""

    def __init__(
        self,
        database: Database,
        *,
        executor_id: str | None = None,
        hot_waits: HotWaits | None = None,
    ) -> None:
        self.database = database
        self.executor_id = executor_id
        """The executor id of the runtime launched on this store, if any (its runs are woken
        without a look at whether their process lives)."""
        self.hot_waits = hot_waits
        """The launched runtime's hot waits, which this store wakes once it commits their
        decision, handing it to a run that waits for it (the runtime hands them over, as it
        does the executor id); other processes rely on the poller."""

    def __repr__(self) -> str:
        return f"Store({self.database.url.split('@')[-1]!r})"

    # -- answering -----------------------------------------------------------------------------

    def respond(
        self,
        target: str,
        *,
        approve: bool | None = None,
        choice: str | None = None,
        choices: Sequence[str] | None = None,
        text: str | None = None,
        value: Any = None,
        by: str | None = None,
        comment: str | None = None,
        channel: str = "python",
        response: str | None = None,
        digest: str | None = None,
    ) -> Decision:
        """Answer a request, by request id or by the id of a run that waits for one request.

        ``response`` is a one-word answer as the DBOS guide sends it (``"confirm"``/``"deny"``
        for an approval, an option for a choice, the text of a text request), instead of the
        other fields. ``digest``: for a tool call, the digest of the call being answered
        (``request.tool.digest``); an answer for another call raises StaleAnswerError.

        Returns the decision. Raises NotFoundError, NotWaitingError, NotAllowedError (``by`` is
        not an assignee, or is the run's requester where that is forbidden), InvalidAnswerError,
        AlreadyDecidedError (a different answer came first) or DeadlinePassedError (the answer
        is recorded as late). Sending the same answer again returns the same decision.
        """
        return self.answer(
            target,
            Reply(
                approve=approve,
                choice=choice,
                choices=choices,
                text=text,
                value=value,
                response=response,
                by=by,
                comment=comment,
                channel=channel,
                digest=digest,
            ),
        )

    respond_async = awaitable(respond)

    def vote(
        self,
        target: str,
        *,
        approve: bool,
        by: str | None = None,
        comment: str | None = None,
        channel: str = "python",
        digest: str | None = None,
    ) -> Vote:
        """Vote on a request that needs several approvals (``hitl.Quorum``), by request id or
        by the id of a run that waits for one request; ``by`` None: the default responder.

        Returns the ``Vote``: the vote, the tally after it, and the request's decision when this
        vote met the rule (the run resumes as after an answer). Raises NotFoundError,
        NotWaitingError, NotAllowedError (not one of the quorum's people, or the run's requester
        where that is forbidden), AlreadyVotedError (a vote is cast once), AlreadyDecidedError (the
        votes, or the deadline, decided already), DeadlinePassedError (recorded as late) or
        InvalidAnswerError (the request takes one answer, not votes).
        """
        return voting.vote(
            self.database,
            target,
            approve=approve,
            by=by or default_responder(),
            comment=comment,
            channel=channel,
            digest=digest,
            executor_id=self.executor_id,
            hot_waits=self.hot_waits,
        )

    vote_async = awaitable(vote)

    def answer(self, target: str, reply: Reply) -> Decision:
        """Answer ``target`` with ``reply``, the value every channel sends (by None: the
        default responder). See ``respond``."""
        sent = replace(reply, by=reply.by or default_responder())
        return answering.answer(
            self.database, target, sent, executor_id=self.executor_id, hot_waits=self.hot_waits
        )

    def respond_many(
        self,
        targets: Iterable[str],
        *,
        approve: bool | None = None,
        choice: str | None = None,
        text: str | None = None,
        value: Any = None,
        by: str | None = None,
        comment: str | None = None,
        channel: str = "python",
        response: str | None = None,
    ) -> BulkResult:
        """Give the same answer to many requests ("approve these 40"), each one on its own.

        Each answer is validated, stored and audited as a single answer would be (the same
        decisions, the same errors): a request is either fully answered or untouched, also when
        the process dies mid-way. They are stored a few hundred per transaction (1,000 in well
        under a second). The result lists the decisions and, for each failure, its error.
        """
        return self.answer_many(
            targets,
            Reply(
                approve=approve,
                choice=choice,
                text=text,
                value=value,
                response=response,
                by=by,
                comment=comment,
                channel=channel,
            ),
        )

    respond_many_async = awaitable(respond_many)

    def answer_many(self, targets: Iterable[str], reply: Reply) -> BulkResult:
        """Send the same ``reply`` to each target, each on its own (see ``respond_many``)."""
        sent = replace(reply, by=reply.by or default_responder())
        result = BulkResult({}, {})
        for target, outcome in answer_many(
            self.database, targets, sent, executor_id=self.executor_id, hot_waits=self.hot_waits
        ).items():
            if isinstance(outcome, Decision):
                result.decided[target] = outcome
            else:
                result.failed[target] = outcome
        return result

    # -- what-if forks -------------------------------------------------------------------------

    def fork(
        self,
        run_id: str,
        *,
        at: str,
        answer: Answer | Mapping[str, Any],
        fork_id: str | None = None,
        by: str | None = None,
    ) -> str:
        """Start a what-if fork of a run at one of its requests; returns the fork's run id.

        The fork is a new run from the checkpoint just before request ``at``: the steps before it
        are reused (not run again), the requests before it keep their decisions, and ``at`` is
        asked again and decided at once with ``answer`` (a ``hitl.Answer``, or the keywords of
        ``hitl.respond`` as a dict: ``{"approve": False}``), by ``by`` (default: the default
        responder), through the ``what-if`` channel. Then the fork goes on on its own. The
        original run and its requests are left as they are (a waiting run keeps waiting).

        The fork runs in the process that runs the original (as a parked run resumes there).
        Raises, with nothing started: InvalidAnswerError, NotAllowedError (``by`` may not
        answer the request), NotFoundError (no such run or request, or the request belongs to
        another run), HitlError (the request cannot be forked: asked by an older version, or at
        or after a tool call) or ValueError (``fork_id`` names another run). ``fork_id``: the
        fork's run id (default: ``<run_id>-whatif-<8 hex digits>``); the same one twice starts
        the fork once.
        """
        return forking.fork(
            self.database,
            run_id,
            at=at,
            answer=answer,
            by=by or default_responder(),
            fork_id=fork_id,
        )

    fork_async = awaitable(fork)

    def fork_origin(self, run_id: str) -> tuple[str, str] | None:
        """The run and request a what-if fork was forked from and at; None for another run."""
        check_id(run_id)
        with self.database.autocommit.connect() as conn:
            return fork_origin(conn, run_id)

    # -- queueing runs for workers -------------------------------------------------------------

    def enqueue(
        self,
        agent: str,
        *args: Any,
        run_id: str | None = None,
        requester: str | None = None,
        **kwargs: Any,
    ) -> str:
        """Queue a run of the agent named ``agent`` for the workers; returns its run id.

        Needs no agent code: a worker (``hitl worker MODULE``) that defines the agent runs it.
        The same ``run_id`` twice queues it once.
        """
        calls = [(args, kwargs)]
        return enqueue_runs(self.database, agent, calls, run_ids=[run_id], requester=requester)[0]

    enqueue_async = awaitable(enqueue)

    def enqueue_many(
        self,
        agent: str,
        calls: Iterable[tuple[Sequence[Any], dict[str, Any]]],
        *,
        requester: str | None = None,
    ) -> list[str]:
        """Queue many runs of ``agent`` at once (one transaction): ``calls`` are (args, kwargs)."""
        prepared = [(tuple(args), dict(kwargs)) for args, kwargs in calls]
        return enqueue_runs(self.database, agent, prepared, requester=requester)

    # -- reading -------------------------------------------------------------------------------

    def inbox(
        self,
        *,
        agent: str | Sequence[str] | None = None,
        kind: str | Sequence[str] | None = None,
        assignee: str | None = None,
        overdue: bool | None = None,
        older_than: Timeout | None = None,
        search: str | None = None,
        sort: SortKey = DEFAULT_SORT,
        descending: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> Inbox:
        """Every request waiting for a human, across all processes, filtered and sorted.

        ``agent``/``kind``: one or several; ``assignee``: requests naming this person;
        ``overdue``: only past (True) or not past (False) their deadline; ``older_than``: asked
        at least this long ago (``"1h"``); ``search``: words in the title; ``sort`` by
        requested_at, deadline, agent or title; ``limit``/``offset`` to page.
        """
        return self.read_inbox(
            InboxFilter(
                agent=agent,
                kind=kind,
                assignee=assignee,
                overdue=overdue,
                older_than=older_than,
                search=search,
                sort=sort,
                descending=descending,
                limit=limit,
                offset=offset,
            )
        )

    inbox_async = awaitable(inbox)

    def read_inbox(self, spec: InboxFilter) -> Inbox:
        """The inbox read with ``spec``, the filter every face builds from its own input."""
        dialect = self.database.engine.dialect.name
        if dialect == "postgresql" and sorts_in_database(spec, dialect):
            with self.database.engine.begin() as conn:  # sorts every waiting request in memory
                found = query_inbox(conn, spec, whole=True)
        else:
            with self.database.autocommit.connect() as conn:
                found = query_inbox(conn, spec)
        found.store = self
        return found

    def inbox_counts(self, spec: InboxFilter) -> InboxCounts:
        """How many requests wait under ``spec``, and for which agents, without reading them."""
        with self.database.autocommit.connect() as conn:
            return count_inbox(conn, spec)

    def inbox_cursor(self, run_ids: Collection[str] = ()) -> InboxCursor:
        """A cheap look for changes of the inbox: read one before reading the inbox; an equal one
        later (for the runs of the rows shown) means that nothing shown has changed, apart from
        what time changes (deadlines passing)."""
        with self.database.autocommit.connect() as conn:
            return inbox_cursor(conn, run_ids)

    def run_rows(
        self, *, agent: str | None = None, waiting: bool | None = None, run_id: str | None = None
    ) -> Rows:
        """One row per run (for ``hitl.agents()``); ``waiting``: only runs waiting for a human
        (True), or only the others (False); ``run_id``: only that run (no row before it starts)."""
        if run_id is not None:
            check_id(run_id)
        with self.database.autocommit.connect() as conn:
            return run_rows(conn, agent, waiting=waiting, run_id=run_id)

    def history_rows(self, run_id: str | None = None) -> Rows:
        """Every status transition (for ``hitl.history()``); NotFoundError for an unknown run."""
        with self.database.autocommit.connect() as conn:
            found = history_rows(conn, run_id)
        if run_id is not None and not found.rows:
            self.run_state(run_id)
        return found

    def decision_rows(self, run_id: str | None = None) -> Rows:
        """Every decision (for ``hitl.decisions()``); NotFoundError for an unknown run."""
        with self.database.autocommit.connect() as conn:
            found = decision_rows(conn, run_id)
        if run_id is not None and not found.rows:
            self.run_state(run_id)
        return found

    def request(self, request_id: str) -> Request:
        """One request, open or decided."""
        check_id(request_id)
        with self.database.autocommit.connect() as conn:
            row = load_request(conn, request_id)
            votes = votes_of(conn, [request_id]) if _has_quorum(row) else {}
        if row is None:
            raise NotFoundError(f"No request has the id {request_id!r}.")
        return request_from_row(row, votes.get(request_id, ()))

    def requests(self, run_id: str, *, open_only: bool = False) -> list[Request]:
        """The requests of one run, oldest first."""
        check_id(run_id)
        with self.database.autocommit.connect() as conn:
            rows = requests_of_run(conn, run_id)
            votes = votes_of(conn, [r.request_id for r in rows if _has_quorum(r)])
        found = [request_from_row(r, votes.get(r.request_id, ())) for r in rows]
        return [r for r in found if r.is_open] if open_only else found

    def status(self, run_id: str) -> StatusEvent | None:
        """A run's current status (None before its first transition)."""
        check_id(run_id)
        with self.database.autocommit.connect() as conn:
            return latest_status(conn, run_id)

    def history(self, run_id: str) -> list[StatusEvent]:
        """A run's status transitions, in order."""
        check_id(run_id)
        with self.database.autocommit.connect() as conn:
            return history(conn, run_id)

    def run_state(self, run_id: str) -> str:
        """DBOS's state of a run: PENDING, ENQUEUED, DELAYED (parked), SUCCESS, ERROR, CANCELLED..."""
        state = self._run_state(run_id)
        if state is None:
            raise NotFoundError(f"No run has the id {run_id!r}.")
        return state

    def _run_state(self, run_id: str) -> str | None:
        check_id(run_id)
        with self.database.autocommit.connect() as conn:
            return run_state(conn, run_id)

    # -- run control ---------------------------------------------------------------------------

    def result(self, run_id: str, timeout: float | None = None) -> Any:
        """Wait for a run to finish and return its result.

        Raises ResultTimeoutError (the run keeps going), RunCancelledError or RunFailedError.
        """
        give_up = None if timeout is None else time.monotonic() + timeout
        while (state := self.run_state(run_id)) not in FINAL_RUN_STATES:
            if give_up is not None and time.monotonic() >= give_up:
                raise ResultTimeoutError(
                    f"Run {run_id!r} did not finish within {timeout} s (it is {run_state_word(state)}); "
                    "it keeps running, call result() again to wait longer."
                )
            time.sleep(RESULT_POLL_S)
        if state == "CANCELLED":
            raise RunCancelledError(f"Run {run_id!r} was cancelled.")
        try:
            return self.database.client.retrieve_workflow(run_id).get_result()
        except Exception as error:
            if awaited_a_cancelled_run(error):
                raise RunCancelledError(f"Run {run_id!r} was cancelled.") from error
            with self.database.autocommit.connect() as conn:
                failure = load_failure(conn, run_id)
            raise run_failed(run_id, error, failure) from cause_of(error, failure)

    result_async = awaitable(result)

    def cancel(self, run_id: str, *, by: str | None = None, channel: str = "python") -> None:
        """Cancel a run: it stops at once, also while it waits for a human (hot or parked), and
        its open requests close as ``cancelled`` (they take no answer any more).

        Authorised like an answer: NotAllowedError when ``by`` may not answer one of the run's
        open requests (assignees, the requester rule). Cancelling a run that has ended changes
        nothing; NotFoundError for an unknown id.
        """
        canceller = by or default_responder()
        if self.run_state(run_id) in FINAL_RUN_STATES:
            return
        for request in self.requests(run_id, open_only=True):
            check_responder(request, canceller)
        self.database.client.cancel_workflow(run_id)
        current = self.status(run_id)
        at = now_ms()
        with self.database.engine.begin() as conn:
            close_for_cancel(conn, run_id, by=canceller, channel=channel, at_ms=at)
            append_status(
                conn,
                run_id=run_id,
                key=Status.CANCELLED.value,
                agent=current.agent if current else "",
                status=Status.CANCELLED.value,
                detail=f"cancelled by {canceller}",
                progress=None,
                at_ms=at,
            )
            # Tells a hot wait at once (announced on Postgres; the poller sees the closed
            # requests on SQLite); a parked run's row is CANCELLED now and is never dispatched.
            wake(conn, run_id, now_ms=at, announce_on=ANSWERS_CHANNEL)
            note_change(conn, run_id)


def _has_quorum(row: Any) -> bool:
    """Whether a stored request's row (or None) declares a quorum (its votes are worth reading)."""
    return row is not None and bool((row.spec or {}).get("quorum"))


@dataclass
class BulkResult:
    """What a bulk answer did: the decision per answered request, the error per refused one."""

    decided: dict[str, Decision]
    failed: dict[str, AnswerError]

    @property
    def ok(self) -> bool:
        """True when every request was answered."""
        return not self.failed

    def __repr__(self) -> str:
        lines = [f"BulkResult: {len(self.decided)} answered, {len(self.failed)} refused"]
        lines += [f"  {target}: {type(e).__name__}: {e}" for target, e in self.failed.items()]
        return "\n".join(lines)
