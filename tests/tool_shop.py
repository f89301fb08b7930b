"""A tool that waits for approval, and the agent that calls it: what the inbox, CLI and HTTP
tests show and answer (module-level, so the tool's argument model resolves in every process)."""

from __future__ import annotations

import hitl_notebook as hitl


@hitl.approval_required(editable=["amount"])
def refund(order_id: str, amount: float) -> str:
    """Refund part of an order."""
    return f"refunded {amount} on {order_id}"


class ToolShop(hitl.Agent):
    """Calls ``refund`` once; a person approves, edits (the amount only) or denies the call."""

    def run(self, amount: float, order_id: str = "A-1") -> str:
        try:
            return refund(order_id, amount)
        except hitl.ToolDenied as denied:
            return f"denied: {denied.comment}"
