"""Function agents for the multi-process tests: a kernel (``runner.py --agents``) and a worker
(``hitl worker``) load this file, as they load the class agents' modules."""

from __future__ import annotations

import os

import hitl_notebook as hitl


def mark(path: str, line: str) -> str:
    """A side effect outside the database: one line per call, counted by the test."""
    with open(path, "a") as f:
        f.write(line + "\n")
    return line


@hitl.agent
def counting_refund(ctx: hitl.Agent, timeout: float | None, on_timeout: str) -> dict[str, object]:
    """Marks before and after one approval (the function form of the kernels' ``Counting``)."""
    counter = os.environ["HITL_TEST_COUNTER"]
    hitl.step(mark, counter, f"before {ctx.run_id}")
    decision = hitl.request_approval("Go ahead?", timeout=timeout, on_timeout=on_timeout)
    hitl.step(mark, counter, f"after {ctx.run_id}")
    return {"outcome": decision.outcome.value, "by": decision.by, "pid": os.getpid()}


@hitl.agent(name="ship-order")
async def ship_order(order: int) -> dict[str, object]:
    """Marks before and after one approval, async and without ``ctx`` (for the workers)."""
    counter = os.environ["HITL_TEST_COUNTER"]
    await hitl.step_async(mark, counter, f"before {order}")
    decision = await hitl.request_approval_async(f"Ship order {order}?", allow_requester=False)
    await hitl.step_async(mark, counter, f"after {order}")
    return {"order": order, "by": decision.by, "pid": os.getpid()}
