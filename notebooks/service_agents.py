"""The agents of notebooks/04_operate_a_service.ipynb, run by `hitl worker service_agents.py`."""

from __future__ import annotations

from pydantic import BaseModel

import hitl_notebook as hitl


class Refund(BaseModel):
    order_id: str
    amount: float


class RefundAgent(hitl.Agent):
    """Drafts a refund and asks the finance team; whoever asked for it may not approve it."""

    def run(self, order_id: str, amount: float) -> str:
        self.status("working", "drafting refund")
        decision = self.request_approval(
            f"Refund {amount:.2f} EUR for {order_id}?",
            proposal=Refund(order_id=order_id, amount=amount),
            assignees=["alice", "bob", "carol"],
            allow_requester=False,
            timeout="1d",
            on_timeout="reject",
        )
        if decision.approved:
            return (
                f"paid {decision.value.amount:.2f} EUR for {order_id} (approved by {decision.by})"
            )
        return f"no refund for {order_id} ({decision.outcome})"
