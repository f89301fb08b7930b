"""Tools that need approval and agents that call them, for tests/test_tool_approval.py.

Module-level, so each tool's argument model resolves (``tests.tool_agents:refund.Args``) and the
store validates an edit with the class, not only its JSON schema.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

import hitl_notebook as hitl

CALLS: list[tuple[str, Any]] = []
"""Every real tool call, in the test process (outside the database)."""
AMOUNT = {"value": 120.0}
"""What ``Drifting`` refunds: not a step, so a test can change it between two executions."""


def small_amounts(args: Any) -> hitl.Verdict | None:
    """Refunds under 50 need nobody; over 900 are never made."""
    if args.amount < 50:
        return hitl.Verdict.approve("under 50: no review needed")
    if args.amount > 900:
        return hitl.Verdict.deny("over 900: refunds that large go through finance")
    return None


@hitl.approval_required(
    title="Refund {amount} on order {order_id}?",
    editable=["amount", "note"],
    policy=small_amounts,
)
def refund(
    order_id: str, amount: Annotated[float, Field(ge=0, le=1000)], note: str = ""
) -> dict[str, Any]:
    """Refund part of an order to the customer's card."""
    CALLS.append(("refund", (order_id, amount, note)))
    return {"order_id": order_id, "amount": amount, "note": note}


@hitl.approval_required(on_deny="message", timeout=0.5, on_timeout="reject")
def send_email(to: str, subject: str) -> str:
    """Send an e-mail."""
    CALLS.append(("send_email", (to, subject)))
    return f"sent {subject!r} to {to}"


@hitl.approval_required(on_deny="message")
def send_letter(to: str, subject: str) -> str:
    """Post a letter (no deadline: a person answers it)."""
    CALLS.append(("send_letter", (to, subject)))
    return f"posted {subject!r} to {to}"


@hitl.approval_required(timeout=0.5, on_timeout="approve", editable=[])
def archive(ticket: int) -> str:
    """Archive a ticket."""
    CALLS.append(("archive", ticket))
    return f"archived {ticket}"


@hitl.approval_required(assignees=["finance"], allow_requester=False)
async def wire(account: str, amount: float) -> str:
    """Wire money to an account."""
    CALLS.append(("wire", (account, amount)))
    return f"wired {amount} to {account}"


class Refunding(hitl.Agent):
    """Refunds each amount in turn; a denied refund ends the run with the denial."""

    def run(self, order_id: str, *amounts: float) -> list[Any]:
        results: list[Any] = []
        for amount in amounts:
            try:
                results.append(refund(order_id, amount))
            except hitl.ToolDenied as denied:
                results.append({"denied": str(denied), "by": denied.by, "comment": denied.comment})
        return results


class Mailing(hitl.Agent):
    def run(self, to: str) -> str:
        return send_email(to, "Your refund")


class Posting(hitl.Agent):
    def run(self, to: str) -> str:
        return send_letter(to, "Your refund")


class Archiving(hitl.Agent):
    def run(self, ticket: int) -> str:
        return archive(ticket)


class Wiring(hitl.Agent):
    async def run(self, account: str, amount: float) -> str:
        return await wire(account, amount)


class Drifting(hitl.Agent):
    """Refunds an amount read from outside the run (not a step): not deterministic."""

    def run(self) -> Any:
        return refund("A-9", AMOUNT["value"])


def tool_calls(name: str) -> list[Any]:
    return [args for tool, args in CALLS if tool == name]
