"""hitl_notebook: durable human-in-the-loop agents for Jupyter and Python services, built on DBOS.

Layers, each a package that imports only the ones before it (``tests/test_layers.py`` checks):

1. ``_core``: the domain, no I/O: models, errors, times, values, failures, the answer rule, who
   may answer, the sync/async mechanism, the display hook (``views``).
2. ``_db``: the SDK's tables and statements, where the database is, the DBOS-internals quarantine.
3. ``_store``: everything a process with only the URL does: answer, read the inbox and the rows
   behind the frames, queue runs for workers, take DBOS messages as answers.
4. ``_runtime``: the only DBOS launch, executor identity, one poller per process, waiting hot then
   parked, starting many runs at once, batched writes, retries. It hands the store its executor
   id and the hook that wakes its hot runs (``use_launched``, ``Store(hot_waits=...)``), never
   the other way.
5. ``_agent``: ``Agent`` and ``@agent`` (a function made an agent), ``Args`` (one run's arguments
   for ``Agent.start_many``), the one workflow behind every run, questions and request methods,
   the module-level faces of the running agent (``request_approval``, ``ask``, ``status``,
   ``step``...), the durable program, ``RunHandle``.
6. Faces, which import the layers but not each other: ``_frames`` (pandas, loaded when a frame is
   built), ``_notebook`` (widgets; registers how an ``Inbox`` and a ``RunHandle`` show),
   ``_channels`` (notification channels, over ``_core`` and ``_db`` only) and ``_service`` (HTTP,
   workers, the ``hitl`` command; it may use the frames, the channels, and the widget's code for
   the web inbox).

This module only re-exports (the heavy names load on first use, see ``_LAZY``); the other public
modules are ``http``, ``testing``, ``channels``, ``links`` and ``plot`` (matplotlib figures over the
frames, also reachable as ``hitl.plot``), and the LLM adapters
``pydantic_ai``, ``openai_agents`` and ``langgraph`` (faces over ``_agent``, each needing its
framework's extra).

Sync and async: what has both faces is written once, and the other face is derived in
``_core/sync_async.py``, named as DBOS names them (``respond`` and ``respond_async``). Code that
runs inside a workflow (statuses, questions, the hot wait) is a program, a generator of blocking
calls and sleeps: ``run_sync`` performs them on a sync agent's thread, ``run_async`` awaits them
for an async agent (a call in a worker thread, a sleep on the event loop). A blocking function is
the program of one call, so ``awaitable(fn)`` is its ``_async`` face, with its signature and an
awaitable of its result type (``Store``'s, ``RunHandle``'s and ``hitl.respond_async``). Two pairs
come from elsewhere: ``Agent.step`` / ``step_async`` are DBOS's own steps, and ``Agent.start`` runs
``start_async`` on the runtime's event loop, where runs live (``_runtime.launch.on_loop``).
"""

from __future__ import annotations

import importlib
import inspect
from types import FunctionType
from typing import TYPE_CHECKING, Any

from hitl_notebook._core.errors import (
    AgentError,
    AlreadyDecidedError,
    AlreadyVotedError,
    AnswerError,
    ConfigurationError,
    DeadlinePassedError,
    HitlError,
    InvalidAnswerError,
    NotAllowedError,
    NotFoundError,
    NotLaunchedError,
    NotWaitingError,
    RequestTimeoutError,
    ResultTimeoutError,
    RunCancelledError,
    RunError,
    RunFailedError,
    StaleAnswerError,
    ToolDenied,
    ToolReplayError,
)
from hitl_notebook._core.models import (
    Answer,
    Decision,
    Outcome,
    Request,
    RequestKind,
    Status,
    StatusEvent,
    ToolCall,
    Vote,
)
from hitl_notebook._core.notify import (
    DeliveryFailed,
    Directory,
    Escalation,
    Notification,
    Notifier,
    Notify,
    RetryLater,
)
from hitl_notebook._core.quorum import Ballot, Quorum, Tally
from hitl_notebook._core.times import Timeout
from hitl_notebook._core.views import add_face

add_face("hitl_notebook._notebook.display")  # how an Inbox and a RunHandle show in a notebook

if TYPE_CHECKING:  # loaded on first use: see _LAZY
    from hitl_notebook._agent.agent import Agent, step_key
    from hitl_notebook._agent.args import Args
    from hitl_notebook._agent.function_agent import FunctionAgent, agent
    from hitl_notebook._agent.handle import RunHandle, run
    from hitl_notebook._agent.questions import Question
    from hitl_notebook._agent.run_faces import (
        ask,
        ask_async,
        request_approval,
        request_approval_async,
        request_choice,
        request_choice_async,
        request_edit,
        request_edit_async,
        request_input,
        request_input_async,
        request_text,
        request_text_async,
        status,
        status_async,
        step,
        step_async,
    )
    from hitl_notebook._agent.tools import (
        ApprovedTool,
        ToolApproval,
        ToolDecision,
        Verdict,
        approval_of,
        approval_required,
        decide_tool_calls,
        decide_tool_calls_async,
    )
    from hitl_notebook._db.config import default_sqlite_path
    from hitl_notebook._frames import agents, decisions, history, inbox_frame
    from hitl_notebook._runtime.launch import Runtime, launch, shutdown
    from hitl_notebook._store.default import (
        connect,
        inbox,
        respond,
        respond_async,
        respond_many,
        store,
        vote,
        vote_async,
    )
    from hitl_notebook._store.inbox import Inbox, InboxItem
    from hitl_notebook._store.inbox import SortKey as SortKey
    from hitl_notebook._store.store import BulkResult, Store

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentError",
    "AlreadyDecidedError",
    "AlreadyVotedError",
    "Answer",
    "AnswerError",
    "ApprovedTool",
    "Args",
    "Ballot",
    "BulkResult",
    "ConfigurationError",
    "DeadlinePassedError",
    "Decision",
    "DeliveryFailed",
    "Directory",
    "Escalation",
    "FunctionAgent",
    "HitlError",
    "Inbox",
    "InboxItem",
    "InvalidAnswerError",
    "NotAllowedError",
    "NotFoundError",
    "NotLaunchedError",
    "NotWaitingError",
    "Notification",
    "Notifier",
    "Notify",
    "Outcome",
    "Question",
    "Quorum",
    "Request",
    "RequestKind",
    "RequestTimeoutError",
    "ResultTimeoutError",
    "RetryLater",
    "RunCancelledError",
    "RunError",
    "RunFailedError",
    "RunHandle",
    "Runtime",
    "StaleAnswerError",
    "Status",
    "StatusEvent",
    "Store",
    "Tally",
    "Timeout",
    "ToolApproval",
    "ToolCall",
    "ToolDecision",
    "ToolDenied",
    "ToolReplayError",
    "Verdict",
    "Vote",
    "__version__",
    "agent",
    "agents",
    "approval_of",
    "approval_required",
    "ask",
    "ask_async",
    "connect",
    "decide_tool_calls",
    "decide_tool_calls_async",
    "decisions",
    "default_sqlite_path",
    "history",
    "inbox",
    "inbox_frame",
    "launch",
    "request_approval",
    "request_approval_async",
    "request_choice",
    "request_choice_async",
    "request_edit",
    "request_edit_async",
    "request_input",
    "request_input_async",
    "request_text",
    "request_text_async",
    "respond",
    "respond_async",
    "respond_many",
    "run",
    "shutdown",
    "status",
    "status_async",
    "step",
    "step_async",
    "step_key",
    "store",
    "vote",
    "vote_async",
]

_LAZY: dict[str, tuple[str, ...]] = {
    "hitl_notebook._agent.agent": ("Agent", "step_key"),
    "hitl_notebook._agent.args": ("Args",),
    "hitl_notebook._agent.function_agent": ("FunctionAgent", "agent"),
    "hitl_notebook._agent.handle": ("RunHandle", "run"),
    "hitl_notebook._agent.questions": ("Question",),
    "hitl_notebook._agent.run_faces": (
        "ask",
        "ask_async",
        "request_approval",
        "request_approval_async",
        "request_choice",
        "request_choice_async",
        "request_edit",
        "request_edit_async",
        "request_input",
        "request_input_async",
        "request_text",
        "request_text_async",
        "status",
        "status_async",
        "step",
        "step_async",
    ),
    "hitl_notebook._agent.tools": (
        "ApprovedTool",
        "ToolApproval",
        "ToolDecision",
        "Verdict",
        "approval_of",
        "approval_required",
        "decide_tool_calls",
        "decide_tool_calls_async",
    ),
    "hitl_notebook._db.config": ("default_sqlite_path",),
    "hitl_notebook._frames": ("agents", "decisions", "history", "inbox_frame"),
    "hitl_notebook._runtime.launch": ("Runtime", "launch", "shutdown"),
    "hitl_notebook._store.inbox": ("Inbox", "InboxItem", "SortKey"),
    "hitl_notebook._store.default": (
        "connect",
        "inbox",
        "respond",
        "respond_async",
        "respond_many",
        "store",
        "vote",
        "vote_async",
    ),
    "hitl_notebook._store.store": ("BulkResult", "Store"),
}
"""Public names loaded when first used, by module (the imports under TYPE_CHECKING above, for
type checkers). They bring SQLAlchemy, DBOS or pandas, about a second to import, which a process
that never uses them (``hitl --help``, a worker that builds no frame) should not pay. The
domain (``_core``: models, errors, durations) loads with the package."""

_HOME = {name: module for module, names in _LAZY.items() for name in names}

_SUBMODULES = ("plot",)
"""Public modules reachable as attributes (``hitl.plot``), imported on first use: matplotlib
loads only when a plot is asked for."""


def __getattr__(name: str) -> Any:
    """A public name of ``_LAZY``, or a module of ``_SUBMODULES``, imported on first use (PEP 562)."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = _public(getattr(importlib.import_module(module), name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME, *_SUBMODULES})


def _public(value: Any) -> Any:
    """``value`` named ``hitl_notebook.<name>`` (in reprs, tracebacks, docs and pickles) when it
    is a function or class of this package, as httpx does.

    Except a class that declares annotations (the models, the dataclasses, ``Agent``): typing,
    pydantic and FastAPI read them in the module that ``__module__`` names, which must be the one
    that imports what they name (``typing.get_type_hints(hitl.Decision)`` keeps working).
    """
    if not (isinstance(value, type | FunctionType) and value.__module__.startswith(f"{__name__}.")):
        return value
    if isinstance(value, type) and inspect.get_annotations(value):
        return value
    value.__module__ = __name__
    return value


for _name in __all__:
    if _name not in _HOME:
        _public(globals()[_name])
del _name
