"""Agents used by the in-process tests."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

import hitl_notebook as hitl


class Refund(BaseModel):
    order_id: str
    amount: float = Field(ge=0, le=1000)
    note: str = ""


def draft(order_id: str) -> Refund:
    return Refund(order_id=order_id, amount=42.0)


def count(path: str, line: str) -> None:
    """A side effect outside the database: one line appended per call."""
    with open(path, "a") as f:
        f.write(line + "\n")


class Approver(hitl.Agent):
    """Asks one approval with an editable proposal."""

    def run(
        self, order_id: str, counter: str, timeout: float | None = None, on_timeout: str = "raise"
    ) -> dict[str, object]:
        proposal = self.step(draft, order_id)
        self.step(count, counter, f"before {self.run_id}")
        decision = self.request_approval(
            "Refund?",
            proposal=proposal,
            timeout=timeout,
            on_timeout=on_timeout,  # type: ignore[arg-type]
        )
        self.step(count, counter, f"after {self.run_id}")
        value = (
            decision.value.model_dump() if isinstance(decision.value, Refund) else decision.value
        )
        return {
            "outcome": decision.outcome.value,
            "approved": decision.approved,
            "value": value,
            "by": decision.by,
            "pid": self.step(os.getpid),
        }


class Chooser(hitl.Agent):
    def run(self, timeout: hitl.Timeout | None = None, default: str | None = None) -> str:
        decision = self.request_choice(
            "Which?", ["red", "green", "blue"], timeout=timeout, default=default
        )
        return f"{decision.outcome}:{decision.value}"


class Writer(hitl.Agent):
    def run(self) -> str:
        return str(self.request_text("Say something").value)


class Editor(hitl.Agent):
    def run(self) -> dict[str, object]:
        decision = self.request_edit("Fix the refund", Refund(order_id="E-1", amount=5))
        value = decision.value.model_dump() if isinstance(decision.value, Refund) else None
        return {"outcome": decision.outcome.value, "value": value}


class Parallel(hitl.Agent):
    """An async agent asking three questions at once."""

    async def run(self) -> list[str]:
        decisions = await self.ask_async(
            hitl.Question.text("first?"),
            hitl.Question.text("second?"),
            hitl.Question.choice("third?", ["a", "b"]),
        )
        return [str(d.value) for d in decisions]


class Gatherer(hitl.Agent):
    """Waits for two requests with asyncio.gather, which the SDK refuses (not replay-safe)."""

    async def run(self) -> None:
        await asyncio.gather(self.request_text_async("one?"), self.request_text_async("two?"))


class Reporter(hitl.Agent):
    """Publishes custom statuses with progress."""

    def run(self, steps: int) -> int:
        for i in range(steps):
            self.status("crunching", f"part {i + 1} of {steps}", progress=(i + 1) / steps)
        return steps


class Failing(hitl.Agent):
    def run(self) -> None:
        raise ValueError("the model said no")


class Waiter(hitl.Agent):
    """Waits for a text answer forever (used for cancel and invalid-answer tests)."""

    def run(self, path: str = "") -> str:
        decision = self.request_text("Anything?")
        if path:
            Path(path).write_text(str(decision.value))
        return str(decision.value)


class Interviewer(hitl.Agent):
    """Asks several questions in a row."""

    def run(self, count: int) -> list[str]:
        return [str(self.request_text(f"question {i}").value) for i in range(count)]


class Assigned(hitl.Agent):
    """Asks an approval of named people."""

    def run(self, assignees: list[str], title: str) -> bool | None:
        return self.request_approval(title, assignees=assignees).approved


class Guarded(hitl.Agent):
    """Asks an approval its requester may not give, optionally of named people."""

    def run(self, assignees: list[str]) -> str | None:
        decision = self.request_approval(
            "Approve my own refund?", assignees=assignees, allow_requester=False
        )
        return decision.by


class AsyncGuarded(hitl.Agent):
    """The async face of Guarded: a choice its requester may not make."""

    async def run(self) -> object:
        decision = await self.request_choice_async(
            "Pick a carrier", ["ups", "dhl"], allow_requester=False
        )
        return decision.value


class AsyncWaiter(hitl.Agent):
    """The async face of Waiter: waits for a text answer forever."""

    async def run(self) -> str:
        return str((await self.request_text_async("Anything, async?")).value)


class PaymentDeclined(Exception):
    """An exception whose constructor takes more than a message (it cannot be rebuilt from args)."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        super().__init__(f"{code}: {reason}")


class StatusError(Exception):
    """Keyword-only arguments, as httpx's errors take them."""

    def __init__(self, message: str, *, status: int) -> None:
        self.status = status
        super().__init__(message)


class Declining(hitl.Agent):
    """Fails with an exception of the kind named by ``kind``."""

    def run(self, kind: str) -> None:
        if kind == "payment":
            raise PaymentDeclined(402, "card declined")
        if kind == "status":
            raise StatusError("server said 503", status=503)
        raise ValueError("plain and simple")


class FreeForm(BaseModel):
    """A proposal whose one field takes any JSON value."""

    data: Any = None


class FreeEditor(hitl.Agent):
    """Asks for an edit of a free-form proposal and returns the edited data."""

    def run(self) -> object:
        decision = self.request_edit("Edit anything", FreeForm(data={"start": 1}))
        return decision.value.data if isinstance(decision.value, FreeForm) else None


class Asker(hitl.Agent):
    """Asks a choice with the given title, body and options (for odd-input tests)."""

    def run(self, title: str, options: list[str], body: str | None) -> object:
        return self.request_choice(title, options, body=body).value


class KeyedSteps(hitl.Agent):
    """Returns the step keys of two steps."""

    def run(self) -> list[str]:
        return [self.step(hitl.step_key), self.step(hitl.step_key)]
