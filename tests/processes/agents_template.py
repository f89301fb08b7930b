"""Agent module for the multi-process tests; the tests copy it with another VERSION to edit it."""

from __future__ import annotations

import os
import signal

import hitl_notebook as hitl

VERSION = "v1"


def mark(path: str, line: str) -> str:
    """A side effect outside the database: one line per call, counted by the test."""
    with open(path, "a") as f:
        f.write(line + "\n")
    return line


class Counting(hitl.Agent):
    def run(self, timeout: float | None, on_timeout: str) -> dict[str, object]:
        counter = os.environ["HITL_TEST_COUNTER"]
        self.step(mark, counter, f"before {self.run_id}")
        decision = self.request_approval("Go ahead?", timeout=timeout, on_timeout=on_timeout)
        self.step(mark, counter, f"after {self.run_id}")
        return {
            "outcome": decision.outcome.value,
            "approved": decision.approved,
            "by": decision.by,
            "pid": os.getpid(),
            "version": VERSION,
        }


def pay(counter: str, ledger: str, amount: int) -> str:
    """A payment API that deduplicates by idempotency key; dies the first time after paying."""
    key = hitl.step_key()
    mark(counter, f"paid {key}")
    with open(ledger, "a+") as f:
        f.seek(0)
        if key not in f.read().split():
            f.write(f"{key} {amount}\n")
    if not os.path.exists(counter + ".died"):
        open(counter + ".died", "w").close()
        os.kill(os.getpid(), signal.SIGKILL)  # after the side effect, before the step's record
    return key


class Paying(hitl.Agent):
    def run(self, timeout: float | None, on_timeout: str) -> str:
        counter = os.environ["HITL_TEST_COUNTER"]
        self.request_approval("Pay?", timeout=timeout, on_timeout=on_timeout)
        return self.step(pay, counter, counter + ".ledger", 42)


@hitl.approval_required(title="Pay out {amount}?")
def pay_out(amount: int) -> str:
    """Pays out; the first time it dies before paying (after the approval, inside its step)."""
    counter = os.environ["HITL_TEST_COUNTER"]
    if not os.path.exists(counter + ".died"):
        open(counter + ".died", "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return mark(counter, f"paid {amount}")


class Tooling(hitl.Agent):
    def run(self, timeout: float | None, on_timeout: str) -> str:
        return pay_out(42)
