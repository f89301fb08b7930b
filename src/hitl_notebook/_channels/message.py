"""What every channel says about an event, in people's words: a headline per event, the answers a
request allows, its facts, how it was decided, and a plain-text rendering (e-mail's text part,
apprise). Each channel formats these its own way (Block Kit, HTML) and escapes for its format.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from hitl_notebook._core.models import Request, RequestKind, who_decided
from hitl_notebook._core.notify import EventKind, Notification

__all__ = [
    "HEADLINES",
    "answers",
    "decision_line",
    "facts",
    "headline",
    "plain_text",
    "subject",
    "when",
]

HEADLINES: Mapping[EventKind, str] = {
    "requested": "Waiting for your answer",
    "reminder": "Reminder: still waiting for your answer",
    "escalated": "Escalated to you: waiting for an answer",
    "decided": "Decided",
    "timed_out": "Timed out",
}
SUBJECT_PREFIXES: Mapping[EventKind, str] = {
    "requested": "",
    "reminder": "Reminder: ",
    "escalated": "Escalated: ",
    "decided": "Decided: ",
    "timed_out": "Timed out: ",
}


def headline(notification: Notification) -> str:
    """What happened, in a few words."""
    return HEADLINES[notification.event]


def answers(request: Request) -> list[str]:
    """The one-click answers a request allows: approve and reject, or its options (a text
    request, a multiple choice and an input request have none: they are answered on a page)."""
    if request.kind in (RequestKind.APPROVAL, RequestKind.EDIT):
        return ["approve", "reject"]
    if request.kind is RequestKind.CHOICE and not request.multiple:
        return list(request.options or [])
    return []


def when(moment: datetime) -> str:
    """A moment for people who may be anywhere: ``2025-03-01 14:30 UTC``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def facts(request: Request) -> list[tuple[str, str]]:
    """(label, value) pairs about a request: agent, run, tool, for whom, deadline."""
    found = [("Agent", request.agent), ("Run", request.run_id)]
    if request.tool is not None:
        found.append(("Tool", request.tool.name))
    if request.assignees:
        found.append(("For", ", ".join(request.assignees)))
    if request.deadline is not None:
        found.append(("Deadline", when(request.deadline)))
    return found


def decision_line(request: Request) -> str | None:
    """How a decided request was decided (None while it is open)."""
    decision = request.decision
    if decision is None:
        return None
    if decision.timed_out:
        applied = (
            "the default applied: " + ("approve" if decision.approved else "reject")
            if decision.approved is not None
            else "nobody answered"
        )
        return f"Timed out at {when(decision.at)}: {applied}."
    words = {
        "approved": "Approved",
        "rejected": "Rejected",
        "edited": "Approved with edits",
        "answered": "Answered",
        "chose": "Chose "
        + (", ".join(decision.value) if isinstance(decision.value, list) else str(decision.value)),
    }
    line = f"{words.get(decision.outcome.value, decision.outcome.value.capitalize())} by "
    line += (
        f"{who_decided(decision.by, decision.outcome)} ({decision.channel}) at {when(decision.at)}."
    )
    if decision.comment:
        line += f" Comment: {decision.comment}"
    return line


def subject(notification: Notification) -> str:
    """A one-line subject: ``Reminder: [agent] title``, whitespace collapsed."""
    request = notification.request
    text = f"{SUBJECT_PREFIXES[notification.event]}[{request.agent}] {request.title}"
    return " ".join(text.split())


def plain_text(notification: Notification, links: Mapping[str, str] | None = None) -> str:
    """The notification as plain text, with ``links`` (an answer's name to its URL) if given."""
    request = notification.request
    lines = [headline(notification), "", request.title]
    if request.body:
        lines += ["", request.body]
    lines.append("")
    lines += [f"{label}: {value}" for label, value in facts(request)]
    decided = decision_line(request)
    if decided:
        lines += ["", decided]
    if links and request.is_open:
        lines.append("")
        lines += [f"{name.capitalize()}: {url}" for name, url in links.items()]
    return "\n".join(lines)
