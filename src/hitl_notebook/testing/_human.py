"""A simulated human: answers requests by rules, in the test's process, through the real store.

>>> human = testing.Human(by="alice", clock=clock)
>>> human.approve(when=lambda r: r.proposal["amount"] < 100).reject(comment="too big")
>>> human.run_until(run)                   # answers, and moves the clock to what is due next

Rules are tried in the order they were given; the first that matches a request decides what is
done with it, once. A request no rule matches is left alone (its deadline passes). The human
reads the inbox (``Store.inbox``) and answers with ``Store.respond`` (``Store.vote`` for a request
that needs several approvals), like any other channel; what it did is kept in ``answered`` and
``refused`` (an answer the store refused: too late, invalid, not allowed...).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Any, Unpack, cast

from pydantic import BaseModel

from hitl_notebook._agent.handle import RunHandle
from hitl_notebook._core.errors import AnswerError
from hitl_notebook._core.models import Decision, Request, Vote
from hitl_notebook._core.times import from_ms, now_ms, to_ms
from hitl_notebook._store.default import store as default_store
from hitl_notebook._store.store import FINAL_RUN_STATES, Store
from hitl_notebook.testing._clock import Clock
from hitl_notebook.testing._rules import (
    RULE_OPTIONS,
    Action,
    Fields,
    Filters,
    Replay,
    Rule,
    RuleOptions,
    When,
    check_keywords,
    simple,
)

__all__ = ["Answered", "Human"]

POLL_S = 0.02
"""How often ``running`` and ``run_until`` look at the inbox."""
PAST_DEADLINE_MS = 100
"""``run_until`` moves the clock this far past a deadline: more than the runtime's slack after
one (``_agent.program.DEADLINE_SLACK_MS``), so a parked run is due when the clock gets there."""


@dataclass(frozen=True)
class Answered:
    """One answer the human sent: to which request, with what, and what the store made of it."""

    request: Request
    answer: dict[str, Any]
    """The keywords sent to ``Store.respond`` (``approve``, ``value``, ...)."""
    by: str
    at: datetime
    """When it was sent, on the clock."""
    decision: Decision | None = None
    """The request's decision, when the answer (or vote) decided it."""
    vote: Vote | None = None
    """For a request that needs several approvals: the vote cast."""
    error: AnswerError | None = None
    """Why the store refused the answer (``DeadlinePassedError``...); None when it took it."""

    @property
    def ok(self) -> bool:
        """True when the store took the answer."""
        return self.error is None


@dataclass
class _Plan:
    request: Request
    action: Action
    due_ms: int | None

    @property
    def answers_late(self) -> bool:
        deadline = self.request.deadline
        return deadline is not None and self.due_ms is not None and self.due_ms > to_ms(deadline)


@dataclass(eq=False)
class Human:
    """A person who answers requests by rules (see the module's docstring).

    ``store``: the store to read and answer through (default: the launched runtime's, as
    ``hitl.store()``); ``clock``: the ``testing.Clock`` that ``after=`` delays and deadlines are
    read on, which ``run_until`` moves forward; ``channel``: recorded with each answer.
    """

    by: str = "simulated human"
    _: KW_ONLY
    clock: Clock | None = None
    store: Store | None = None
    channel: str = "simulated"
    answered: list[Answered] = field(default_factory=list, init=False)
    """Every answer the store took, in order."""
    refused: list[Answered] = field(default_factory=list, init=False)
    """Every answer the store refused, in order, with its error."""
    _rules: list[Rule] = field(default_factory=list, init=False, repr=False)
    _plans: dict[str, _Plan] = field(default_factory=dict, init=False, repr=False)
    _seen: dict[str, Request] = field(default_factory=dict, init=False, repr=False)
    _done: set[str] = field(default_factory=set, init=False, repr=False)
    _asking: set[str] = field(default_factory=set, init=False, repr=False)
    """The runs with an open request at the last look (``step``)."""
    _settling: set[str] = field(default_factory=set, init=False, repr=False)
    """Runs answered, or whose deadline the clock passed, that have not yet asked again or ended:
    the clock waits for them, so what they record after the answer reads at its moment."""
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    # -- rules ---------------------------------------------------------------------------------
    # Every rule takes ``when`` (a ``Request -> bool``, or ``testing.match(...)``) and the
    # options of ``RuleOptions``: the filters ``agent``, ``kind`` and ``title`` (globs),
    # ``after`` (answer that long after the request was made, on the clock), ``late`` (answer
    # only once the deadline has passed: the refusal is recorded) and ``comment``. Each returns
    # the human, to chain rules.

    def approve(self, when: When = None, **options: Unpack[RuleOptions]) -> Human:
        """Approve the requests that match (a vote to approve, where several approvals are
        needed).

        >>> human.approve(agent="Refund*", when=lambda r: r.proposal["amount"] < 100, after="2h")
        """
        return self._add(lambda _r: {"approve": True}, when, options)

    def reject(self, when: When = None, **options: Unpack[RuleOptions]) -> Human:
        """Reject the requests that match (a vote to reject, where several approvals are needed)."""
        return self._add(lambda _r: {"approve": False}, when, options)

    def edit(
        self,
        to: Mapping[str, Any] | Callable[[Request], Mapping[str, Any] | BaseModel],
        when: When = None,
        **options: Unpack[RuleOptions],
    ) -> Human:
        """Approve with an edited proposal: ``to`` is merged into the proposal, or a function
        of the request that returns the edited proposal (a dict or the proposal's model)."""

        def edited(request: Request) -> dict[str, Any]:
            if callable(to):
                return {"approve": True, "value": to(request)}
            return {"approve": True, "value": {**(request.proposal or {}), **to}}

        return self._add(edited, when, options)

    def choose(
        self, option: str | Sequence[str], when: When = None, **options: Unpack[RuleOptions]
    ) -> Human:
        """Choose ``option``, or several options (a list) where several may be chosen."""
        if isinstance(option, str):
            return self._add(lambda _r: {"choice": option}, when, options)
        chosen = list(option)
        check_keywords(["choices"])
        return self._add(lambda _r: {"choices": chosen}, when, options)

    def write(
        self,
        text: str | Callable[[Request], str],
        when: When = None,
        **options: Unpack[RuleOptions],
    ) -> Human:
        """Answer with ``text`` (or a function of the request that returns it)."""
        return self._add(lambda r: {"text": text(r) if callable(text) else text}, when, options)

    def fill(self, value: Any, when: When = None, **options: Unpack[RuleOptions]) -> Human:
        """Answer with ``value`` (a dict or a model; or a function of the request that returns
        it): for requests that ask for a value to be filled in."""
        return self._add(lambda r: {"value": value(r) if callable(value) else value}, when, options)

    def answer(self, when: When = None, **fields: Any) -> Human:
        """Answer with any keywords of ``hitl.respond`` (``approve=``, ``choice=``, ``value=``...),
        given with the rule's options.

        >>> human.answer(title="Carrier?", choice="ups", after="10m")
        """
        options = cast("RuleOptions", {k: fields.pop(k) for k in RULE_OPTIONS & fields.keys()})
        check_keywords(fields)
        return self._add(lambda _r: dict(fields), when, options)

    def ignore(self, when: When = None, **filters: Unpack[Filters]) -> Human:
        """Never answer the requests that match: their deadline passes."""
        return self._add(None, when, cast("RuleOptions", filters))

    def replay(self, decisions: Any) -> Human:
        """Answer as recorded in ``decisions``, a ``hitl.decisions()`` frame (from any
        database): each recorded decision once, to the request with the same key in its run
        (its id without the run id) and title, else the same title, else the same key; after the
        wait it recorded (on the clock), by whom it recorded. A recorded timeout is not answered."""
        rows = decisions.to_dict("records") if hasattr(decisions, "to_dict") else decisions
        with self._lock:
            self._rules.append(Replay(rows))
        return self

    def _add(self, fields: Fields | None, when: When, options: RuleOptions) -> Human:
        rule = simple(fields, when, options)
        with self._lock:
            self._rules.append(rule)
        return self

    # -- answering -----------------------------------------------------------------------------

    def step(self) -> list[Answered]:
        """One pass: answer every request whose rule is due now; returns what was sent."""
        with self._lock:
            reading = self.store or default_store()
            waiting = reading.inbox()
            open_ids = {item.request_id for item in waiting}
            self._asking = {item.run_id for item in waiting}
            for request_id in self._seen.keys() - open_ids:
                del self._seen[request_id]  # decided by someone else, or cancelled
            for request_id in open_ids - self._done - self._plans.keys():
                self._plan(reading, request_id)
            sent = []
            for request_id, plan in list(self._plans.items()):
                if request_id not in open_ids and not plan.answers_late:
                    self._forget(request_id)  # decided or cancelled meanwhile
                elif plan.due_ms is not None and plan.due_ms <= now_ms():
                    sent.append(self._send(reading, plan))
                    self._settling.add(plan.request.run_id)
                    self._forget(request_id)
            return sent

    @contextlib.contextmanager
    def running(self) -> Iterator[Human]:
        """Answer in a background thread while the block runs (a look every 20 ms); an error
        in the thread is raised when the block ends."""
        stop = threading.Event()
        failed: list[BaseException] = []

        def answer_until_stopped() -> None:
            while not stop.is_set():
                try:
                    self.step()
                except Exception as error:  # raised in the test's thread when the block ends
                    failed.append(error)
                    return
                stop.wait(POLL_S)

        thread = threading.Thread(target=answer_until_stopped, name="hitl-human", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=10)
        if failed:
            raise failed[0]

    def run_until(self, until: RunHandle | Callable[[], Any], *, timeout: float = 30.0) -> Any:
        """Answer what is due until the run ends (its result is returned, or its error raised)
        or ``until()`` returns something truthy (returned). With a clock, when nothing is due
        now, the clock moves to the next moment something is: an answer's ``after``, or the
        deadline of an open request (a moment past it). It moves over the requests it has
        seen: to share the clock fairly between several runs, wait until each asks
        (``run.wait_for_request()``) first. ``timeout``: in real seconds.

        TimeoutError when it does not end within ``timeout``."""
        done = _finished(until)
        give_up = time.monotonic() + timeout
        while not (reached := done()):
            if not self.step() and not self._move_clock():
                time.sleep(POLL_S)
            if time.monotonic() >= give_up:
                raise TimeoutError(self._stuck(until, timeout))
        if isinstance(until, RunHandle):
            return until.result(timeout=max(1.0, give_up - time.monotonic()))
        return reached

    def _plan(self, reading: Store, request_id: str) -> None:
        request = self._seen.get(request_id) or reading.request(request_id)
        for rule in self._rules:
            action = rule.action_for(request)
            if action is not None:
                self._plans[request_id] = _Plan(request, action, action.due_ms(request))
                self._seen.pop(request_id, None)
                return
        self._seen[request_id] = request  # no rule yet: looked at again when rules are added

    def _forget(self, request_id: str) -> None:
        del self._plans[request_id]
        self._done.add(request_id)

    def _send(self, reading: Store, plan: _Plan) -> Answered:
        assert plan.action.fields is not None
        request = plan.request
        fields = plan.action.fields(request)
        by = plan.action.by or self.by
        comment = plan.action.comment
        record = Answered(request, fields, by, from_ms(now_ms()))
        try:
            if request.quorum is not None and fields.keys() == {"approve"}:
                vote = reading.vote(
                    request.request_id,
                    approve=fields["approve"],
                    by=by,
                    comment=comment,
                    channel=self.channel,
                )
                record = dataclasses.replace(record, decision=vote.decision, vote=vote)
            else:
                decision = reading.respond(
                    request.request_id, **fields, by=by, comment=comment, channel=self.channel
                )
                record = dataclasses.replace(record, decision=decision)
        except AnswerError as error:
            record = dataclasses.replace(record, error=error)
            self.refused.append(record)
            return record
        self.answered.append(record)
        return record

    def _move_clock(self) -> bool:
        """Move the clock to the next moment something is due; False when there is no clock or
        nothing to move to."""
        if self.clock is None or self._unsettled():
            return False
        now = now_ms()
        moments = [plan.due_ms for plan in self._plans.values() if plan.due_ms is not None]
        deadlines = [
            to_ms(request.deadline)
            for request in _requests(self._plans.values(), self._seen.values())
            if request.deadline is not None
        ]
        moments += [deadline + PAST_DEADLINE_MS for deadline in deadlines]
        future = [moment for moment in moments if moment > now]
        if not future:
            return False
        self.clock.set(from_ms(min(future)))
        self._settling |= {
            request.run_id
            for request in _requests(self._plans.values(), self._seen.values())
            if request.deadline is not None and to_ms(request.deadline) < now_ms()
        }
        return True

    def _unsettled(self) -> bool:
        """Whether a run answered (or timed out) by the last move has yet to ask again or end
        (asking: at the last look, which ``run_until`` takes just before)."""
        reading = self.store or default_store()
        self._settling = {
            run_id
            for run_id in self._settling
            if run_id not in self._asking and reading.run_state(run_id) not in FINAL_RUN_STATES
        }
        return bool(self._settling)

    def _stuck(self, until: RunHandle | Callable[[], Any], timeout: float) -> str:
        what = f"Run {until.id!r}" if isinstance(until, RunHandle) else "The condition"
        waiting = [
            f"{request.title!r} ({request.request_id})"
            for request in _requests(self._plans.values(), self._seen.values())
            if request.deadline is None
        ]
        hint = (
            f"; nothing answers these requests, which have no deadline: {', '.join(waiting)}"
            if waiting
            else ""
        )
        return f"{what} was not reached within {timeout} s{hint}."


def _finished(until: RunHandle | Callable[[], Any]) -> Callable[[], Any]:
    if isinstance(until, RunHandle):
        return lambda: until.store.run_state(until.id) in FINAL_RUN_STATES
    return until


def _requests(plans: Iterable[_Plan], unplanned: Iterable[Request]) -> list[Request]:
    """The requests the human saw open: those it plans to answer (or ignore), and the others."""
    return [plan.request for plan in plans] + list(unplanned)
