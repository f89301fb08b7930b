"""Agents as plain functions (``@hitl.agent``) and the module-level faces a run's code calls
(``hitl.request_approval``...), on SQLite and Postgres, in this process, a killed kernel and a worker."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._agent import run_faces
from hitl_notebook._agent.request_methods import RequestMethods
from hitl_notebook._agent.workflow import agent_class
from hitl_notebook.http import TokenAuth, create_app
from tests.kernels import Kernels, wait_until_waiting
from tests.processes.function_agents import ship_order
from tests.test_workers import Workers, prepare

FUNCTION_AGENTS = Path(__file__).parent / "processes" / "function_agents.py"


class Order:
    """Counts the drafts a run makes: a step runs once, however often its run resumes."""

    drafted: list[str] = []  # noqa: RUF012 (one list for the test process, read by the tests)

    @classmethod
    def draft(cls, order_id: str) -> dict[str, object]:
        cls.drafted.append(order_id)
        return {"order_id": order_id, "amount": 42}


@hitl.agent
def refund_order(ctx: hitl.Agent, order_id: str, *, note: str = "") -> dict[str, Any]:
    """Drafts a refund and asks for an approval, through ``ctx`` and the module-level faces."""
    proposal = ctx.step(Order.draft, order_id)
    hitl.status("working", f"asking about {order_id}", progress=0.5)
    decision = hitl.request_approval(f"Refund {order_id}?", body=note or None)
    return {"outcome": decision.outcome.value, "by": decision.by, "run": ctx.run_id, **proposal}


NOTIFY = hitl.Notify(channels=())


@hitl.agent(name="async-survey", notify=NOTIFY)
async def survey(topic: str) -> list[str]:
    """An async function without ``ctx``: a step, a choice and a text asked together."""
    await hitl.step_async(Order.draft, topic)
    await hitl.status_async("asking", topic)
    decisions = await hitl.ask_async(
        hitl.Question.choice(f"Colour of {topic}?", ["red", "green"]),
        hitl.Question.text("Why?"),
    )
    return [str(decision.value) for decision in decisions]


class FacesInAClass(hitl.Agent):
    """A class agent whose code calls the module-level faces."""

    def run(self) -> str:
        (chosen,) = hitl.ask(hitl.Question.choice("Pick", ["a", "b"]))
        text = hitl.request_text("Say")
        return f"{chosen.value}:{text.value}"


def test_a_function_agent_runs_waits_for_its_answer_and_returns(runtime: hitl.Runtime) -> None:
    """start → waiting → answered → result; ctx and the module-level faces act on the one run."""
    Order.drafted.clear()
    run = refund_order.start("A-1", note="twice charged")
    request = testing.wait_for_request(run)
    assert (request.title, request.body, request.agent) == (
        "Refund A-1?",
        "twice charged",
        "refund_order",
    )
    published = [(e.status, e.detail, e.progress) for e in run.history()]
    assert ("working", "asking about A-1", 0.5) in published
    run.approve(by="alice")
    assert run.result(timeout=30) == {
        "outcome": "approved",
        "by": "alice",
        "run": run.id,
        "order_id": "A-1",
        "amount": 42,
    }
    assert (run.agent, Order.drafted) == ("refund_order", ["A-1"])


def test_an_async_function_agent_asks_together_and_is_started_with_options(
    runtime: hitl.Runtime,
) -> None:
    """An async function, started from a running loop with options: one run per run_id."""
    Order.drafted.clear()

    async def cell() -> list[str]:
        first = await survey.options(run_id="survey-1", requester="carol").start_async("tea")
        again = survey.options(run_id="survey-1").start("coffee")
        assert (first.id, again.id, first.agent) == ("survey-1", "survey-1", "async-survey")
        requests = await asyncio.to_thread(
            testing.wait_until, lambda: _all_open(first, 2), timeout=30
        )
        assert {r.requester for r in requests} == {"carol"}
        assert all(r.notify is not None for r in requests)  # the agent's Notify reached them
        chooser, writer = sorted(requests, key=lambda r: r.kind != "choice")
        await hitl.respond_async(chooser.request_id, choice="green", by="bob")
        await hitl.respond_async(writer.request_id, text="calm", by="bob")
        return list(await first.result_async(timeout=30))

    assert asyncio.run(cell()) == ["green", "calm"]
    assert Order.drafted.count("tea") == 1


def _all_open(run: hitl.RunHandle, count: int) -> list[hitl.Request] | None:
    """The run's open requests once there are ``count`` of them."""
    found = run.requests(open_only=True)
    return found if len(found) == count else None


def test_the_module_level_faces_work_in_a_class_agent(runtime: hitl.Runtime) -> None:
    """hitl.ask and hitl.request_text find a class agent's run too."""
    run = FacesInAClass.start()
    hitl.respond(testing.wait_for_request(run).request_id, choice="b", by="bob")
    testing.wait_until(lambda: run.requests(open_only=True), timeout=30)
    run.respond(text="hi", by="bob")
    assert run.result(timeout=30) == "b:hi"


def test_a_function_agent_starts_over_http_by_its_name(runtime: hitl.Runtime) -> None:
    """POST /agents starts a function agent as it starts a class: runs find it by name."""
    auth = TokenAuth({"alice": "alice-token-123"})
    with TestClient(create_app(hitl.store(), auth)) as client:
        started = client.post(
            "/agents",
            json={"agent": "refund_order", "args": ["H-1"]},
            headers={"Authorization": "Bearer alice-token-123"},
        )
    assert started.status_code == 201, started.text
    run = hitl.run(started.json()["run_id"])
    assert testing.wait_for_request(run).requester == "alice"
    run.reject(by="bob")
    assert run.result(timeout=30)["outcome"] == "rejected"


def test_a_run_uses_the_latest_definition_of_its_function(runtime: hitl.Runtime) -> None:
    """The same function defined again (a notebook cell run again) replaces it: runs use the new code."""
    old, new = _defined("old"), _defined("new")
    assert old.agent_class is not new.agent_class
    assert old.start().result(timeout=30) == "new"


def _defined(version: str) -> hitl.FunctionAgent[Any, Any]:
    @hitl.agent(name="redefined")
    def redefined() -> str:
        return version

    return redefined


ALL_FACES = [name for name in hitl.__all__ if name in vars(RequestMethods)] + [
    "ask",
    "ask_async",
    "status",
    "status_async",
    "step",
    "step_async",
]
ARGUMENTS: dict[str, tuple[Any, ...]] = {
    "request_edit": ("Fix", hitl.Answer(approve=True)),
    "request_choice": ("Pick", ["a"]),
    "ask": (hitl.Question.text("Say"),),
    "status": ("working",),
    "step": (Order.draft, "A-1"),
}


@pytest.mark.parametrize("name", ALL_FACES)
def test_the_module_level_faces_outside_a_run_raise_hitl_error(name: str) -> None:
    """Outside a run each face says it works only inside one, and nothing runs."""
    Order.drafted.clear()
    face = getattr(hitl, name)
    arguments = ARGUMENTS.get(name.removesuffix("_async"), ("Title",))
    with pytest.raises(hitl.HitlError, match=rf"hitl\.{name} works only inside an agent's run"):
        _called(face, arguments)
    assert Order.drafted == []


def _called(face: Any, arguments: tuple[Any, ...]) -> Any:
    """The face's result, awaited if it is async."""
    if inspect.iscoroutinefunction(face):
        return asyncio.run(face(*arguments))
    return face(*arguments)


def test_every_request_method_has_a_module_level_face() -> None:
    """A request kind added to RequestMethods has its face, with the method's signature and doc."""
    methods = [name for name in vars(RequestMethods) if name.startswith("request_")]
    assert {"request_approval", "request_text_async"} <= set(methods)
    for name in methods:
        method, face = getattr(RequestMethods, name), getattr(run_faces, name)
        assert inspect.iscoroutinefunction(face) == inspect.iscoroutinefunction(method)
        assert [*inspect.signature(face).parameters] == [*inspect.signature(method).parameters][1:]
        assert (face.__name__, face.__doc__) == (name, method.__doc__)


def test_the_decorated_function_is_still_the_function() -> None:
    """Called, it runs the plain function; help() and signatures show the function's."""
    assert refund_order.__doc__ == refund_order.__wrapped__.__doc__
    assert [*inspect.signature(refund_order).parameters] == ["ctx", "order_id", "note"]
    assert "Drafts a refund" in inspect.getdoc(refund_order)  # type: ignore[operator]
    assert survey.agent_class.agent_name == survey.agent_name == "async-survey"
    assert survey.notify is NOTIFY  # what the agent class has, the decorated function has too
    with pytest.raises(hitl.HitlError, match=r"hitl\.step_async works only inside an agent's run"):
        asyncio.run(survey("tea"))

    @hitl.agent
    def plain_sum(a: int, b: int) -> int:
        return a + b

    assert plain_sum(2, 3) == 5
    assert repr(plain_sum) == "<function agent 'plain_sum'>"


def test_a_name_is_one_agents_and_a_clash_is_refused_either_way() -> None:
    """Another function, or a class, under a function agent's name is refused with what to do."""

    @hitl.agent(name="taken-by-function")
    def first() -> None: ...

    with pytest.raises(ValueError, match=r"already defined .*@hitl.agent\(name=\.\.\.\)"):

        @hitl.agent(name="taken-by-function")
        def second() -> None: ...

    with pytest.raises(ValueError, match=r"belongs to the function agent .*agent_name"):

        class Clashing(hitl.Agent):
            agent_name = "taken-by-function"

            def run(self) -> None: ...

    class TakenByClass(hitl.Agent):
        def run(self) -> None: ...

    with pytest.raises(ValueError, match="'TakenByClass' is already defined"):

        @hitl.agent(name="TakenByClass")
        def third() -> None: ...


def _unnamed() -> None: ...
def _ctx_later(order_id: str, ctx: hitl.Agent) -> None: ...
def _ctx_keyword(*, ctx: hitl.Agent) -> None: ...
def _run_id_parameter(run_id: str) -> None: ...
def _requester_parameter(order_id: str, requester: str) -> None: ...


@pytest.mark.parametrize(
    ("function", "options", "error", "message"),
    [
        (_ctx_later, {}, TypeError, "ctx, the run's agent, is the first parameter"),
        (_ctx_keyword, {}, TypeError, "ctx, the run's agent, is the first parameter"),
        (_run_id_parameter, {}, TypeError, "parameter named 'run_id'.*rename it"),
        (_requester_parameter, {}, TypeError, "parameter named 'requester'"),
        (lambda: None, {}, TypeError, "A lambda has no name"),
        (Order, {}, TypeError, "decorates a function.*subclass hitl.Agent"),
        (Order.draft, {}, TypeError, "decorates a function"),
        (_unnamed, {"name": ""}, ValueError, "name cannot be empty"),
        (_unnamed, {"name": "  "}, ValueError, "name cannot be empty"),
        (_unnamed, {"name": "a\x00b"}, ValueError, "NUL character"),
        (_unnamed, {"name": "a\ud800"}, ValueError, "lone surrogate"),
        (_unnamed, {"name": 7}, TypeError, "name is text"),
        (_unnamed, {"notify": "slack"}, TypeError, "notify is a hitl.Notify"),
    ],
)
def test_a_definition_that_cannot_run_is_refused_when_decorated(
    function: Any, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    """What would fail at a run's start fails at the decorator, saying what to change."""
    name = options.get("name")
    with pytest.raises(error, match=message):
        hitl.agent(**options)(function)
    assert not isinstance(name, str) or agent_class(name) is None


@pytest.mark.slow
def test_sigkill_while_a_function_agent_waits_then_restart_resumes_it(
    kernels: Kernels, db_url: str
) -> None:
    """A killed kernel's function-agent runs resume once in the restarted kernel, which defines
    the function again; the steps before the wait ran once."""
    kernels.agents = FUNCTION_AGENTS
    first, run_ids = kernels.launch("kernel-a", "start", "2", "--agent", "counting_refund")
    store = hitl.connect(db_url)
    wait_until_waiting(store, run_ids)
    kernels.kill(first)

    kernels.restart_and_approve_from_a_third_process(run_ids)


class FunctionWorkers(Workers):
    agents = FUNCTION_AGENTS


@pytest.fixture
def workers(db_url: str, tmp_path: Path) -> Iterator[FunctionWorkers]:
    started = FunctionWorkers(prepare(db_url), tmp_path)
    yield started
    started.close()


@pytest.mark.slow
@pytest.mark.xdist_group("processes")
def test_an_enqueued_function_agent_runs_on_a_worker(
    workers: FunctionWorkers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """enqueue from code that runs nothing: a `hitl worker` runs the async function agent."""
    monkeypatch.setenv("HITL_DATABASE_URL", workers.db_url)
    worker, _ = workers.start("worker-a", concurrency=10)
    queued = ship_order.options(run_id="by-function", requester="carol").enqueue(7)
    assert (queued.id, queued.agent) == ("by-function", "ship-order")
    request = queued.wait_for_request(timeout=60)
    assert (request.requester, request.title) == ("carol", "Ship order 7?")
    with pytest.raises(hitl.NotAllowedError):
        queued.approve(by="carol")
    queued.approve(by="bob")
    assert queued.result(timeout=60) == {"order": 7, "by": "bob", "pid": worker.pid}
    assert workers.lines() == {"before 7": 1, "after 7": 1}


def test_a_function_agent_starts_many_runs_at_once(runtime: hitl.Runtime) -> None:
    """``start_many`` on a function agent starts one run per item, each with its arguments."""
    runs = refund_order.start_many(
        [("M-1",), hitl.Args("M-2", note="second")], run_ids=["many-1", "many-2"]
    )
    assert [run.id for run in runs] == ["many-1", "many-2"]
    bodies = {testing.wait_for_request(run).body for run in runs}
    assert bodies == {None, "second"}
    assert hitl.respond_many([run.id for run in runs], approve=True, by="alice").ok
    assert [run.result(timeout=30)["order_id"] for run in runs] == ["M-1", "M-2"]
