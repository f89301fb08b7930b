"""The public API is exactly what __all__ lists; nothing leaks by accident."""

from __future__ import annotations

import hitl_notebook as hitl
from hitl_notebook import channels, http


def test_public_names_are_pinned() -> None:
    """Adding or removing a public name is a deliberate change to this list."""
    assert sorted(hitl.__all__) == [
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


def test_every_public_name_exists_and_is_documented() -> None:
    """Each exported object is importable and carries a docstring."""
    for name in hitl.__all__:
        obj = getattr(hitl, name)
        if name not in ("__version__", "Timeout"):  # a type alias has no docstring of its own
            assert obj.__doc__, f"{name} has no docstring"


def test_the_http_module_exports_the_router_the_app_and_auth() -> None:
    """hitl_notebook.http is the public face of the HTTP API."""
    assert sorted(http.__all__) == [
        "Authenticate",
        "TokenAuth",
        "create_app",
        "create_link_router",
        "create_router",
        "create_slack_router",
    ]


def test_the_channels_module_exports_the_channels_and_their_configuration() -> None:
    """hitl_notebook.channels is where a process's notification channels are made and set."""
    assert sorted(channels.__all__) == [
        "Apprise",
        "Channels",
        "DeliveryFailed",
        "Directory",
        "Email",
        "LinkMaker",
        "Notification",
        "Notifier",
        "RetryLater",
        "Slack",
        "Webhook",
        "configure",
        "configure_from_environment",
        "configured",
        "verify_signature",
    ]
    assert repr(channels.Webhook).startswith("<class 'hitl_notebook.channels.Webhook'")


def test_the_plot_module_exports_its_figures() -> None:
    """hitl_notebook.plot (also ``hitl.plot``, loaded on first use) makes the figures."""
    from hitl_notebook import plot  # noqa: PLC0415 - matplotlib: only this test needs it

    assert sorted(plot.__all__) == [
        "FINISH_MARKERS",
        "SEGMENT_COLORS",
        "approval_rate",
        "time_to_decision",
        "time_unit",
        "timeline",
    ]
    assert hitl.plot is plot
