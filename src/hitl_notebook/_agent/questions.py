"""Questions an agent asks a human, described before they are asked (and checked at once)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from hitl_notebook._core.answers import model_path
from hitl_notebook._core.models import Answer, RequestKind, ToolCall
from hitl_notebook._core.notify import Notify
from hitl_notebook._core.quorum import Quorum
from hitl_notebook._core.times import Timeout, deadline_ms
from hitl_notebook._core.values import check_json, check_text, check_texts

__all__ = ["OnTimeout", "Question"]

OnTimeout = Literal["raise", "approve", "reject"]


@dataclass(frozen=True)
class Question:
    """One question for ``Agent.ask``; build it with ``Question.approval/edit/choice/text``.

    >>> decisions = self.ask(
    ...     hitl.Question.approval("Refund?", proposal=refund, timeout="4h", on_timeout="reject"),
    ...     hitl.Question.choice("Carrier?", ["ups", "dhl"], default="ups", timeout="4h"),
    ... )

    Who may answer: ``assignees`` (empty: anyone) and ``allow_requester=False`` (the person who
    started the run may not answer, e.g. approve their own refund). The store enforces both, for
    every channel.
    """

    kind: RequestKind
    title: str
    body: str | None = None
    options: tuple[str, ...] | None = None
    proposal: BaseModel | None = None
    timeout: Timeout | None = None
    timeout_answer: Answer | None = None
    assignees: tuple[str, ...] = field(default=())
    key: str | None = None
    allow_requester: bool = True
    tool: ToolCall | None = None
    """The tool call asked about (``hitl.approval_required`` sets it; its arguments are the
    proposal)."""
    notify: Notify | None = None
    """How the request reaches people away from the notebook (channels, reminders, escalation)."""
    quorum: Quorum | None = None
    """The approvals an approval or edit needs (``hitl.Quorum``): people vote on it."""

    def __post_init__(self) -> None:
        check_text(self.title, "title")
        if not self.title.strip():
            raise ValueError("A question needs a title: what the human is asked.")
        check_texts([self.body], "body")
        check_texts(self.options or (), "an option")
        check_texts(self.assignees, "an assignee")
        check_texts([self.key], "key")
        if self.timeout_answer is not None:
            check_texts([self.timeout_answer.choice, self.timeout_answer.text], "default")
        if self.proposal is not None:
            check_json(self.proposal.model_dump(mode="json"), "proposal")
        deadline_ms(self.timeout, start_ms=0)
        if self.quorum is not None:
            if not isinstance(self.quorum, Quorum):
                raise TypeError(f"quorum is a hitl.Quorum(k, of=[...]), not {self.quorum!r}")
            if self.kind not in (RequestKind.APPROVAL, RequestKind.EDIT):
                raise ValueError("Only an approval or an edit takes a quorum of votes.")

    @classmethod
    def approval(
        cls,
        title: str,
        *,
        body: str | None = None,
        proposal: BaseModel | None = None,
        timeout: Timeout | None = None,
        on_timeout: OnTimeout = "raise",
        assignees: Sequence[str] = (),
        key: str | None = None,
        allow_requester: bool = True,
        notify: Notify | None = None,
        quorum: Quorum | None = None,
    ) -> Question:
        """Approve or reject; a pydantic ``proposal`` may be edited before approving. With a
        ``quorum`` (``hitl.Quorum(2, of=[...])``) several people vote instead of one answering."""
        return cls(
            RequestKind.APPROVAL,
            title,
            body,
            None,
            proposal,
            timeout,
            _approval_default(on_timeout),
            tuple(assignees),
            key,
            allow_requester,
            None,
            notify,
            quorum,
        )

    @classmethod
    def edit(
        cls,
        title: str,
        proposal: BaseModel,
        *,
        body: str | None = None,
        timeout: Timeout | None = None,
        on_timeout: OnTimeout = "raise",
        assignees: Sequence[str] = (),
        key: str | None = None,
        allow_requester: bool = True,
        notify: Notify | None = None,
        quorum: Quorum | None = None,
    ) -> Question:
        """Review and edit a pydantic ``proposal``, then submit it (or reject it); with a
        ``quorum``, people vote to approve it as proposed or reject it."""
        if not isinstance(proposal, BaseModel):
            raise TypeError(
                f"An edit needs a pydantic model instance as proposal, not {proposal!r}"
            )
        return cls(
            RequestKind.EDIT,
            title,
            body,
            None,
            proposal,
            timeout,
            _approval_default(on_timeout),
            tuple(assignees),
            key,
            allow_requester,
            None,
            notify,
            quorum,
        )

    @classmethod
    def choice(
        cls,
        title: str,
        options: Sequence[str],
        *,
        body: str | None = None,
        timeout: Timeout | None = None,
        default: str | None = None,
        assignees: Sequence[str] = (),
        key: str | None = None,
        allow_requester: bool = True,
        notify: Notify | None = None,
    ) -> Question:
        """Pick one of ``options``; at the deadline ``default`` applies (without one, it raises)."""
        choices = tuple(str(option) for option in options)
        if len(choices) < 2 or len(set(choices)) != len(choices):
            raise ValueError(f"A choice needs at least two distinct options, got {list(choices)}")
        if default is not None and default not in choices:
            raise ValueError(f"The default {default!r} is not one of the options {list(choices)}")
        answer = Answer(choice=default) if default is not None else None
        return cls(
            RequestKind.CHOICE,
            title,
            body,
            choices,
            None,
            timeout,
            answer,
            tuple(assignees),
            key,
            allow_requester,
            None,
            notify,
        )

    @classmethod
    def text(
        cls,
        title: str,
        *,
        body: str | None = None,
        timeout: Timeout | None = None,
        default: str | None = None,
        assignees: Sequence[str] = (),
        key: str | None = None,
        allow_requester: bool = True,
        notify: Notify | None = None,
    ) -> Question:
        """A free-text answer; at the deadline ``default`` applies (without one, it raises)."""
        answer = Answer(text=default) if default is not None else None
        return cls(
            RequestKind.TEXT,
            title,
            body,
            None,
            None,
            timeout,
            answer,
            tuple(assignees),
            key,
            allow_requester,
            None,
            notify,
        )

    def request_fields(
        self, request_id: str, run_id: str, agent: str, requester: str | None = None
    ) -> dict[str, Any]:
        """The fields of the stored request (all but its times, which the storing step stamps)."""
        fields: dict[str, Any] = {
            "request_id": request_id,
            "run_id": run_id,
            "agent": agent,
            "kind": self.kind,
            "title": self.title,
            "body": self.body,
            "options": list(self.options) if self.options is not None else None,
            "assignees": list(self.assignees),
            "requester": requester,
            "allow_requester": self.allow_requester,
        }
        if self.proposal is not None:
            fields |= {
                "proposal": self.proposal.model_dump(mode="json"),
                "proposal_schema": _schema(type(self.proposal)),
                "proposal_model": model_path(type(self.proposal)),
            }
        if self.timeout_answer is not None:
            fields |= {"on_timeout": "default", "timeout_answer": self.timeout_answer}
        if self.tool is not None:
            fields["tool"] = self.tool
        if self.quorum is not None:
            fields["quorum"] = self.quorum
        return fields


@functools.lru_cache(maxsize=256)
def _schema(model: type[BaseModel]) -> dict[str, Any]:
    """A proposal model's JSON schema, made once per class (it takes a fraction of a millisecond,
    as long as storing the request). Stored as JSON, never changed in place."""
    return model.model_json_schema()


def _approval_default(on_timeout: str) -> Answer | None:
    if on_timeout not in ("raise", "approve", "reject"):
        raise ValueError(f"on_timeout must be 'raise', 'approve' or 'reject', not {on_timeout!r}")
    return None if on_timeout == "raise" else Answer(approve=on_timeout == "approve")
