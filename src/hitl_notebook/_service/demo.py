"""The terminal demo behind ``hitl demo``: refund agents that wait for a human, answered from here."""

from __future__ import annotations

import time
import uuid

from pydantic import BaseModel, Field
from rich.console import Console

from hitl_notebook._agent.agent import Agent
from hitl_notebook._agent.handle import RunHandle
from hitl_notebook._core.models import Request
from hitl_notebook._runtime.launch import launch, shutdown

__all__ = ["DemoRefund", "RefundDemoAgent", "run_demo"]


class DemoRefund(BaseModel):
    """A refund the agent proposes and a human may edit."""

    order_id: str
    amount: float = Field(ge=0, le=500, description="Refund in EUR")
    reason: str


def draft_refund(order_id: str) -> DemoRefund:
    """Pretend to look the order up and draft a refund."""
    amount = 20.0 + (sum(map(ord, order_id)) % 80)
    return DemoRefund(order_id=order_id, amount=amount, reason="parcel arrived damaged")


class RefundDemoAgent(Agent):
    """Drafts a refund, asks a human to approve it (editable), then 'pays' it."""

    agent_name = "RefundDemoAgent"

    def run(self, order_id: str) -> str:
        self.status("working", f"drafting a refund for {order_id}")
        proposal = self.step(draft_refund, order_id)
        decision = self.request_approval(
            f"Refund order {order_id}?",
            body=f"Proposed: {proposal.amount:.2f} EUR",
            proposal=proposal,
            timeout="1h",
            on_timeout="reject",
        )
        if not decision.approved:
            return f"{order_id}: not refunded ({decision.outcome.value})"
        refund = decision.value
        assert isinstance(refund, DemoRefund)
        self.status("working", f"paying {refund.amount:.2f} EUR")
        return f"{order_id}: refunded {refund.amount:.2f} EUR ({decision.outcome.value} by {decision.by})"


def run_demo(count: int, database: str | None, out: Console) -> None:
    """Start ``count`` agents, answer each (approve, edit, reject in turn), print the results."""
    runtime = launch(database, executor="hitl-demo")
    out.print(f"[bold]hitl demo[/bold] on {runtime.database_url} (executor {runtime.executor_id})")
    batch = uuid.uuid4().hex[:6]
    runs = [RefundDemoAgent.start(f"D-{batch}-{i + 1}") for i in range(count)]
    try:
        for i, run in enumerate(runs):
            request = _wait_for_request(run)
            out.print(f"  {run.id[:8]}… waits: [cyan]{request.title}[/cyan] {request.body}")
            if i % 3 == 0:
                decision = run.approve(by="demo-human", comment="looks right")
            elif i % 3 == 1:
                edited = dict(request.proposal or {}, amount=10.0)
                decision = run.approve(value=edited, by="demo-human", comment="10 EUR is enough")
            else:
                decision = run.reject(by="demo-human", comment="customer already refunded")
            out.print(f"    answered: {decision.outcome.value} by {decision.by}")
        out.print("[bold]results[/bold]")
        for run in runs:
            result = run.result(timeout=60)
            out.print(f"  {result}", soft_wrap=True)
            out.print(f"    {' -> '.join(e.status for e in run.history())}", soft_wrap=True)
    finally:
        shutdown()


def _wait_for_request(run: RunHandle, timeout: float = 60.0) -> Request:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        found = run.requests(open_only=True)
        if found:
            return found[0]
        time.sleep(0.02)
    raise TimeoutError(f"run {run.id} did not ask anything within {timeout} s")
