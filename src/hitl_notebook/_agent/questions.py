"""Questions an agent asks a human, described before they are asked (and checked at once)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from hitl_notebook._core.answers import choice_problems, model_path
from hitl_notebook._core.models import Answer, RequestKind, ToolCall
from hitl_notebook._core.notify import Notify
from hitl_notebook._core.quorum import Quorum
from hitl_notebook._core.times import Timeout, deadline_ms
from hitl_notebook._core.values import check_json, check_text, check_texts

__all__ = ["OnTimeout", "Question"]

OnTimeout = Literal["raise", "approve", "reject"]


@dataclass(frozen=True)
class Question:
    """One question for ``Agent.ask``; build it with ``Question.approval/edit/choice/text/input``.

    >>> decisions = self.ask(
    ...     hitl.Question.approval("Refund?", proposal=refund, timeout="4h", on_timeout="reject"),
    ...     hitl.Question.choice("Carrier?", ["ups", "dhl"], default="ups", timeout="4h"),
    ...     hitl.Question.input("Shipping address?", Address, timeout="4h"),
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
    model: type[BaseModel] | None = None
    """The pydantic model an input request asks a person to fill in (``Question.input``)."""
    multiple: bool = False
    """A choice of several options, from ``min_choices`` to ``max_choices`` of them."""
    min_choices: int | None = None
    max_choices: int | None = None

    @property
    def value_model(self) -> type[BaseModel] | None:
        """The model the decision's value comes back as: the proposal's, or the form's."""
        return type(self.proposal) if self.proposal is not None else self.model

    def __post_init__(self) -> None:
        check_text(self.title, "title")
        if not self.title.strip():
            raise ValueError("A question needs a title: what the human is asked.")
        check_texts([self.body], "body")
        check_texts(self.options or (), "an option")
        check_texts(self.assignees, "an assignee")
        check_texts([self.key], "key")
        if self.timeout_answer is not None:
            default = self.timeout_answer
            check_texts([default.choice, default.text, *(default.choices or ())], "default")
            check_json(default.value, "default")
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
            proposal=proposal,
            timeout=timeout,
            timeout_answer=_approval_default(on_timeout),
            assignees=tuple(assignees),
            key=key,
            allow_requester=allow_requester,
            notify=notify,
            quorum=quorum,
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
            proposal=proposal,
            timeout=timeout,
            timeout_answer=_approval_default(on_timeout),
            assignees=tuple(assignees),
            key=key,
            allow_requester=allow_requester,
            notify=notify,
            quorum=quorum,
        )

    @classmethod
    def choice(
        cls,
        title: str,
        options: Sequence[str],
        *,
        body: str | None = None,
        timeout: Timeout | None = None,
        default: str | Sequence[str] | None = None,
        assignees: Sequence[str] = (),
        key: str | None = None,
        allow_requester: bool = True,
        notify: Notify | None = None,
        multiple: bool = False,
        min: int = 1,
        max: int | None = None,
    ) -> Question:
        """Pick one of ``options``; at the deadline ``default`` applies (without one, it raises).

        ``multiple=True``: pick several, from ``min`` to ``max`` of them (None: as many as there
        are options); the answer is ``choices=[...]``, ``decision.value`` the list of picked
        options in the options' order, and ``default`` a list of options.
        """
        choices = tuple(str(option) for option in options)
        if len(choices) < 2 or len(set(choices)) != len(choices):
            raise ValueError(f"A choice needs at least two distinct options, got {list(choices)}")
        if not multiple:
            if default is not None and default not in choices:
                raise ValueError(
                    f"The default {default!r} is not one of the options {list(choices)}"
                )
            answer = Answer(choice=str(default)) if default is not None else None
            return cls(
                RequestKind.CHOICE,
                title,
                body,
                choices,
                timeout=timeout,
                timeout_answer=answer,
                assignees=tuple(assignees),
                key=key,
                allow_requester=allow_requester,
                notify=notify,
            )
        most = len(choices) if max is None else max
        for name, count in (("min", min), ("max", most)):
            if isinstance(count, bool) or not isinstance(count, int):
                raise TypeError(f"{name} is a whole number of options, not {count!r}")
        if not 0 <= min <= most <= len(choices):
            raise ValueError(
                f"min and max must satisfy 0 <= min <= max <= {len(choices)} (the number of "
                f"options), got min={min}, max={max}"
            )
        answer = None
        if default is not None:
            if isinstance(default, str):
                raise TypeError(
                    f"The default of a multiple choice is a list of options, not {default!r}"
                )
            picked = [str(option) for option in default]
            problems = choice_problems(list(choices), picked, min, most)
            if problems:
                raise ValueError(f"The default {picked!r} does not fit: {'; '.join(problems)}")
            answer = Answer(choices=picked)
        return cls(
            RequestKind.CHOICE,
            title,
            body,
            choices,
            timeout=timeout,
            timeout_answer=answer,
            assignees=tuple(assignees),
            key=key,
            allow_requester=allow_requester,
            notify=notify,
            multiple=True,
            min_choices=min,
            max_choices=most,
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
            timeout=timeout,
            timeout_answer=answer,
            assignees=tuple(assignees),
            key=key,
            allow_requester=allow_requester,
            notify=notify,
        )

    @classmethod
    def input(
        cls,
        title: str,
        model: type[BaseModel],
        *,
        body: str | None = None,
        timeout: Timeout | None = None,
        default: BaseModel | None = None,
        assignees: Sequence[str] = (),
        key: str | None = None,
        allow_requester: bool = True,
        notify: Notify | None = None,
    ) -> Question:
        """Fill in the fields of the pydantic ``model`` from scratch (a blank form, its
        defaults filled in); ``decision.value`` is an instance of ``model``. At the deadline
        ``default`` (an instance of ``model``) applies; without one, it raises.

        An input request is answered, never declined: a person who will not fill it in
        cancels the run.
        """
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"An input request needs a pydantic model class, not {model!r}")
        answer = None
        if default is not None:
            if not isinstance(default, model):
                raise TypeError(
                    f"The default of an input request is an instance of {model.__name__}, "
                    f"not {default!r}"
                )
            answer = Answer(value=default.model_dump(mode="json"))
        return cls(
            RequestKind.INPUT,
            title,
            body,
            timeout=timeout,
            timeout_answer=answer,
            assignees=tuple(assignees),
            key=key,
            allow_requester=allow_requester,
            notify=notify,
            model=model,
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
            fields["proposal"] = self.proposal.model_dump(mode="json")
        if self.value_model is not None:
            fields |= {
                "proposal_schema": _schema(self.value_model),
                "proposal_model": model_path(self.value_model),
            }
        if self.multiple:
            fields |= {
                "multiple": True,
                "min_choices": self.min_choices,
                "max_choices": self.max_choices,
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
    """A proposal's (or a form's) model's JSON schema, made once per class (it takes a fraction
    of a millisecond, as long as storing the request). Stored as JSON, never changed in place."""
    return model.model_json_schema()


def _approval_default(on_timeout: str) -> Answer | None:
    if on_timeout not in ("raise", "approve", "reject"):
        raise ValueError(f"on_timeout must be 'raise', 'approve' or 'reject', not {on_timeout!r}")
    return None if on_timeout == "raise" else Answer(approve=on_timeout == "approve")
