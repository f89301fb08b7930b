"""The Agent class: a run is a durable DBOS workflow whose code reads top to bottom.

Every agent runs through one DBOS workflow (``_agent.workflow``), so a kernel that restarts,
launches, and only then defines its agents in a later cell still resumes their runs. Sync and
async agents wait for humans through the same durable programs (``_agent.program``), and a run
that waits longer than ``park_after`` parks: its code unwinds and it holds nothing until its
answer or deadline brings it back (``_runtime.waiting``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, ClassVar, ParamSpec, TypeVar, cast

from dbos import DBOS, DBOSContextSetAuth, SetWorkflowID
from pydantic import BaseModel

from hitl_notebook._agent.args import Args, planned_runs
from hitl_notebook._agent.handle import RunHandle
from hitl_notebook._agent.program import ask, write_status
from hitl_notebook._agent.questions import Question
from hitl_notebook._agent.request_methods import RequestMethods
from hitl_notebook._agent.workflow import register, run_agent
from hitl_notebook._core.errors import HitlError, RequestTimeoutError
from hitl_notebook._core.models import Decision
from hitl_notebook._core.notify import Notify
from hitl_notebook._core.sync_async import Program, call, run_async, run_sync
from hitl_notebook._core.values import check_text, check_texts
from hitl_notebook._db.database import Database
from hitl_notebook._runtime.launch import current, on_loop
from hitl_notebook._runtime.schedule import configured
from hitl_notebook._runtime.starting import start_here
from hitl_notebook._store.default import store
from hitl_notebook._store.queueing import encode_payload

__all__ = ["Agent", "step_key", "typed_decision"]

P = ParamSpec("P")
T = TypeVar("T")


class Agent(RequestMethods):
    """Subclass this and write ``run`` (sync or ``async``); start runs with ``YourAgent.start(...)``.

    >>> class RefundAgent(hitl.Agent):
    ...     def run(self, order_id: str) -> str:
    ...         self.status("working", "drafting refund")
    ...         proposal = self.step(draft_refund, order_id)
    ...         decision = self.request_approval("Refund this order?", proposal=proposal,
    ...                                          timeout="4h", on_timeout="reject")
    ...         if decision.approved:
    ...             self.step(pay_refund, decision.value)
    ...         return decision.outcome

    Inside ``run``, side effects belong in ``self.step(...)``: a step's result is recorded once,
    and a run that resumes (after parking, a restart or a crash) gets the recorded result
    instead of running the step again. A step is at-least-once, though: if the process dies
    inside it, after its side effect and before its result is recorded, it runs again on
    recovery. Give side effects that must not repeat the step's ``hitl.step_key()`` as an
    idempotency key (a payment API then deduplicates). The agent is created anew for each
    execution, so keep state in local variables and steps, not on ``self``.
    A run that parks unwinds with a ``BaseException``: ``finally`` blocks run then, and code must
    not catch ``BaseException`` around a request.
    """

    agent_name: ClassVar[str]
    """The agent type; defaults to the class name. Runs find their class by this name."""

    run: Callable[..., Any]
    """What a run does: define ``run(self, ...)`` (sync) or ``async def run(self, ...)``."""

    notify: ClassVar[Notify | None] = None
    """How this agent's requests reach people (``hitl.Notify``), unless a request says otherwise."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "agent_name" not in cls.__dict__:
            cls.agent_name = cls.__name__
        if not any("run" in base.__dict__ for base in cls.__mro__ if base not in (Agent, object)):
            raise TypeError(f"{cls.__name__} must define run(self, ...).")
        register(cls)

    def __init__(self) -> None:
        self._database: Database | None = None
        self._run_id = ""
        self._requests = 0
        self._statuses = 0
        self._tool_calls = 0
        self._asking = False

    # -- starting runs -------------------------------------------------------------------------

    @classmethod
    def start(
        cls, *args: Any, run_id: str | None = None, requester: str | None = None, **kwargs: Any
    ) -> RunHandle:
        """Start a run with ``run(*args, **kwargs)`` in this process.

        The same ``run_id`` twice starts it once. ``requester``: who asks for the run (recorded;
        requests with ``allow_requester=False`` refuse this person's answers).
        """
        current()
        return on_loop(cls.start_async(*args, run_id=run_id, requester=requester, **kwargs))

    @classmethod
    async def start_async(
        cls, *args: Any, run_id: str | None = None, requester: str | None = None, **kwargs: Any
    ) -> RunHandle:
        """Awaitable twin of ``start``."""
        current()
        check_texts([run_id], "run_id")
        check_texts([requester], "requester")
        payload = encode_payload(args, kwargs)
        with (
            SetWorkflowID(run_id) if run_id else contextlib.nullcontext(),
            DBOSContextSetAuth(requester, None),
        ):
            handle = await DBOS.start_workflow_async(run_agent, cls.agent_name, payload)
        return RunHandle(handle.workflow_id, agent=cls.agent_name)

    @classmethod
    def start_many(
        cls,
        calls: Iterable[tuple[Any, ...] | Args],
        *,
        run_ids: Sequence[str] | None = None,
        requester: str | None = None,
    ) -> list[RunHandle]:
        """Start one run per item of ``calls`` in this process, a thousand per transaction.

        An item is a tuple of positional arguments, or ``hitl.Args(*args, **kwargs)``. Each
        run is started once or not at all, also if the process dies during the call: give
        ``run_ids`` (one per item) to call again after a crash, which starts the runs that
        are missing and returns handles to all (a run id that exists starts nothing new).

        >>> runs = RefundAgent.start_many([("A-1",), ("A-2",)], run_ids=["r-A-1", "r-A-2"])

        The runs of each thousand begin as soon as that thousand is stored.
        """
        runtime = current()
        check_texts([requester], "requester")
        if run_ids is None and DBOS.workflow_id is not None:
            raise HitlError(
                "Inside a run, give start_many run_ids (made from self.run_id): a run that "
                "resumes replays its code, and new ids would start the runs again."
            )
        planned = planned_runs(calls, run_ids)
        start_here(
            runtime.database,
            run_agent,
            cls.agent_name,
            [(run_id, (cls.agent_name, payload)) for run_id, payload in planned],
            requester=requester,
        )
        return [RunHandle(run_id, agent=cls.agent_name) for run_id, _ in planned]

    @classmethod
    async def start_many_async(
        cls,
        calls: Iterable[tuple[Any, ...] | Args],
        *,
        run_ids: Sequence[str] | None = None,
        requester: str | None = None,
    ) -> list[RunHandle]:
        """Awaitable twin of ``start_many``."""
        return await run_async(
            call(cls.start_many, list(calls), run_ids=run_ids, requester=requester)
        )

    @classmethod
    def enqueue(
        cls, *args: Any, run_id: str | None = None, requester: str | None = None, **kwargs: Any
    ) -> RunHandle:
        """Queue a run for the workers (``hitl worker``) instead of running it here.

        Needs only the database: the store of the launched runtime, or of the configured one.
        """
        run = store().enqueue(cls.agent_name, *args, run_id=run_id, requester=requester, **kwargs)
        return RunHandle(run, agent=cls.agent_name)

    # -- inside a run --------------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        """The id of the run being executed."""
        return self._run_id

    def status(
        self, status: str, detail: str | None = None, *, progress: float | None = None
    ) -> None:
        """Publish the run's current status (any word) with an optional detail and progress 0..1."""
        run_sync(self._status_program(status, detail, progress))

    async def status_async(
        self, status: str, detail: str | None = None, *, progress: float | None = None
    ) -> None:
        """Awaitable twin of ``status``."""
        await run_async(self._status_program(status, detail, progress))

    def step(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` as a durable step: its result is recorded, and a run that
        resumes gets the recorded result without running it again.

        At least once: a process that dies inside the step, after its side effect and before
        the result is recorded, runs it again on recovery; inside ``fn``, ``hitl.step_key()``
        is a key that stays the same across such repeats, for an idempotent API call.
        """
        return DBOS.run_step({"name": _step_name(fn)}, fn, *args, **kwargs)

    async def step_async(
        self, fn: Callable[P, Awaitable[T]] | Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Awaitable twin of ``step``; ``fn`` may be sync (it then runs in a worker thread) or async."""
        return cast("T", await DBOS.run_step_async({"name": _step_name(fn)}, fn, *args, **kwargs))

    def ask(self, *questions: Question) -> list[Decision]:
        """Ask several questions at once; returns their decisions, in order, once all are decided.

        The run asks one batch at a time: to wait for several answers in parallel, put them in
        one ``ask`` (asyncio.gather over requests would not replay deterministically).
        """
        return run_sync(self._ask_program(questions))

    async def ask_async(self, *questions: Question) -> list[Decision]:
        """Awaitable twin of ``ask``."""
        return await run_async(self._ask_program(questions))

    # -- programs (the logic, once, for both faces) ----------------------------------------------

    @property
    def _db(self) -> Database:
        if self._database is None:
            raise HitlError("Agent methods work only inside a run: start runs with Agent.start().")
        return self._database

    def _status_program(
        self, status: str, detail: str | None, progress: float | None
    ) -> Program[None]:
        if progress is not None and not 0.0 <= progress <= 1.0:
            raise ValueError(f"progress is a fraction from 0 to 1, got {progress}")
        check_text(status, "status")
        check_texts([detail], "detail")
        self._statuses += 1
        return write_status(
            self._db,
            key=f"s{self._statuses}",
            agent=self.agent_name,
            status=status,
            detail=detail,
            progress=progress,
        )

    def _ask_program(self, questions: Sequence[Question]) -> Program[list[Decision]]:
        if not questions:
            raise ValueError("ask() needs at least one question.")
        if self._asking:
            raise HitlError(
                "This run is already waiting for an answer. To wait for several answers at once, "
                "ask them together: self.ask(Question.text(...), Question.choice(...))."
            )
        drafts = [(self._request_fields(question), question.timeout) for question in questions]
        if len({fields["request_id"] for fields, _ in drafts}) != len(drafts):
            raise ValueError("Two questions in one ask() have the same key.")
        self._asking = True
        try:
            decisions = yield from ask(drafts)
        finally:
            self._asking = False
        return [typed_decision(d, q.value_model) for d, q in zip(decisions, questions, strict=True)]

    def _request_fields(self, question: Question) -> dict[str, Any]:
        """The stored fields of the run's next request: its id is the run's and the question's
        key (or its index among the run's requests)."""
        self._requests += 1
        request_id = f"{self._run_id}.{question.key or f'r{self._requests}'}"
        fields = question.request_fields(
            request_id, self._run_id, self.agent_name, DBOS.authenticated_user
        )
        notify = question.notify or type(self).notify
        if notify is not None:
            fields["notify"] = notify.as_json()
            fields["notify"]["channels"] = list(notify.channels) or configured().names
        return fields

    def _next_tool_call(self) -> int:
        """The index of the run's next tool call that needs approval (1, 2...)."""
        self._tool_calls += 1
        return self._tool_calls


def step_key() -> str:
    """The idempotency key of the step being executed: its run's id and its index in the run
    (``"refund-A-1001:2"``), the same each time the step runs again after a crash.

    >>> def pay_refund(refund: Refund) -> None:
    ...     payments.refund(refund.order_id, refund.amount, idempotency_key=hitl.step_key())

    Raises HitlError outside a step (call it in a function given to ``Agent.step``).
    """
    run_id: str | None = DBOS.workflow_id
    step: int | None = DBOS.step_id
    if run_id is None or step is None:
        raise HitlError(
            "step_key() works only inside a step: call it in a function run by self.step(...)."
        )
    return f"{run_id}:{step}"


def typed_decision(decision: Decision, model: type[BaseModel] | None) -> Decision:
    """Raise at a deadline without a default; give an edited proposal, or a filled form, back
    as its model."""
    if decision.timed_out and decision.value is None and decision.approved is None:
        assert decision.deadline is not None
        raise RequestTimeoutError(decision.request_id, decision.deadline)
    if model is not None and isinstance(decision.value, dict):
        return decision.model_copy(update={"value": model.model_validate(decision.value)})
    return decision


def _step_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
