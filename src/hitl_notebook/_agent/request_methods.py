"""The request methods every agent has: approval, edit, choice and text, sync and awaitable.

Each builds one ``Question`` and asks it with ``ask`` / ``ask_async``, which ``Agent`` defines.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from pydantic import BaseModel

from hitl_notebook._agent.questions import OnTimeout, Question
from hitl_notebook._core.models import Decision
from hitl_notebook._core.times import Timeout

__all__ = ["RequestMethods"]


class RequestMethods:
    """``request_approval``, ``request_edit``, ``request_choice``, ``request_text`` and twins."""

    ask: Callable[..., list[Decision]]
    ask_async: Callable[..., Awaitable[list[Decision]]]

    def request_approval(
        self,
        title: str,
        *,
        body: str | None = None,
        proposal: BaseModel | None = None,
        timeout: Timeout | None = None,
        on_timeout: OnTimeout = "raise",
        assignees: Sequence[str] = (),
        key: str | None = None,
        allow_requester: bool = True,
    ) -> Decision:
        """Ask a human to approve or reject; a ``proposal`` (pydantic model) may be edited first.

        ``decision.approved`` says whether to go ahead; ``decision.value`` is the (possibly edited)
        proposal as an instance of its model. At the deadline ``on_timeout`` applies: approve,
        reject, or raise RequestTimeoutError.
        """
        question = Question.approval(
            title,
            body=body,
            proposal=proposal,
            timeout=timeout,
            on_timeout=on_timeout,
            assignees=assignees,
            key=key,
            allow_requester=allow_requester,
        )
        return self.ask(question)[0]

    async def request_approval_async(
        self,
        title: str,
        *,
        body: str | None = None,
        proposal: BaseModel | None = None,
        timeout: Timeout | None = None,
        on_timeout: OnTimeout = "raise",
        assignees: Sequence[str] = (),
        key: str | None = None,
        allow_requester: bool = True,
    ) -> Decision:
        """Awaitable twin of ``request_approval``."""
        question = Question.approval(
            title,
            body=body,
            proposal=proposal,
            timeout=timeout,
            on_timeout=on_timeout,
            assignees=assignees,
            key=key,
            allow_requester=allow_requester,
        )
        return (await self.ask_async(question))[0]

    def request_edit(
        self,
        title: str,
        proposal: BaseModel,
        *,
        body: str | None = None,
        timeout: Timeout | None = None,
        on_timeout: OnTimeout = "raise",
        assignees: Sequence[str] = (),
        key: str | None = None,
        allow_requester: bool = True,
    ) -> Decision:
        """Ask a human to review and edit ``proposal``; ``decision.value`` is the edited model."""
        question = Question.edit(
            title,
            proposal,
            body=body,
            timeout=timeout,
            on_timeout=on_timeout,
            assignees=assignees,
            key=key,
            allow_requester=allow_requester,
        )
        return self.ask(question)[0]

    async def request_edit_async(
        self,
        title: str,
        proposal: BaseModel,
        *,
        body: str | None = None,
        timeout: Timeout | None = None,
        on_timeout: OnTimeout = "raise",
        assignees: Sequence[str] = (),
        key: str | None = None,
        allow_requester: bool = True,
    ) -> Decision:
        """Awaitable twin of ``request_edit``."""
        question = Question.edit(
            title,
            proposal,
            body=body,
            timeout=timeout,
            on_timeout=on_timeout,
            assignees=assignees,
            key=key,
            allow_requester=allow_requester,
        )
        return (await self.ask_async(question))[0]

    def request_choice(
        self,
        title: str,
        options: Sequence[str],
        *,
        body: str | None = None,
        timeout: Timeout | None = None,
        default: str | None = None,
        assignees: Sequence[str] = (),
        key: str | None = None,
        allow_requester: bool = True,
    ) -> Decision:
        """Ask a human to pick one of ``options``; at the deadline ``default`` applies (or it raises)."""
        question = Question.choice(
            title,
            options,
            body=body,
            timeout=timeout,
            default=default,
            assignees=assignees,
            key=key,
            allow_requester=allow_requester,
        )
        return self.ask(question)[0]

    async def request_choice_async(
        self,
        title: str,
        options: Sequence[str],
        *,
        body: str | None = None,
        timeout: Timeout | None = None,
        default: str | None = None,
        assignees: Sequence[str] = (),
        key: str | None = None,
        allow_requester: bool = True,
    ) -> Decision:
        """Awaitable twin of ``request_choice``."""
        question = Question.choice(
            title,
            options,
            body=body,
            timeout=timeout,
            default=default,
            assignees=assignees,
            key=key,
            allow_requester=allow_requester,
        )
        return (await self.ask_async(question))[0]

    def request_text(
        self,
        title: str,
        *,
        body: str | None = None,
        timeout: Timeout | None = None,
        default: str | None = None,
        assignees: Sequence[str] = (),
        key: str | None = None,
        allow_requester: bool = True,
    ) -> Decision:
        """Ask a human for a free-text answer; at the deadline ``default`` applies (or it raises)."""
        question = Question.text(
            title,
            body=body,
            timeout=timeout,
            default=default,
            assignees=assignees,
            key=key,
            allow_requester=allow_requester,
        )
        return self.ask(question)[0]

    async def request_text_async(
        self,
        title: str,
        *,
        body: str | None = None,
        timeout: Timeout | None = None,
        default: str | None = None,
        assignees: Sequence[str] = (),
        key: str | None = None,
        allow_requester: bool = True,
    ) -> Decision:
        """Awaitable twin of ``request_text``."""
        question = Question.text(
            title,
            body=body,
            timeout=timeout,
            default=default,
            assignees=assignees,
            key=key,
            allow_requester=allow_requester,
        )
        return (await self.ask_async(question))[0]
