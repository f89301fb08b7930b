"""An agent's own exception survives its run: type, message and traceback, in any process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import hitl_notebook as hitl
from tests.agents import Declining

pytestmark = pytest.mark.usefixtures("runtime")


@pytest.mark.parametrize(
    ("kind", "error_type", "message"),
    [
        ("payment", "tests.agents.PaymentDeclined", "402: card declined"),
        ("status", "tests.agents.StatusError", "server said 503"),
    ],
)
def test_an_exception_that_cannot_be_rebuilt_keeps_its_type_message_and_traceback(
    kind: str, error_type: str, message: str
) -> None:
    """A constructor with more than a message, or keyword-only arguments: nothing is lost."""
    run = Declining.start(kind)
    with pytest.raises(hitl.RunFailedError) as failed:
        run.result(timeout=30)
    error = failed.value
    assert (error.error_type, error.error_message) == (error_type, message)
    assert error.traceback is not None
    assert "in run" in error.traceback
    assert error_type.rpartition(".")[2] in error.traceback
    assert f"failed: {error_type.rpartition('.')[2]}: {message}" in str(error)
    cause = error.__cause__
    assert isinstance(cause, hitl.AgentError)
    assert (cause.error_type, cause.error_message) == (error_type, message)


def test_an_exception_that_rebuilds_is_the_cause_with_its_traceback() -> None:
    """A plain exception comes back as itself, with the agent's traceback in the error."""
    run = Declining.start("plain")
    with pytest.raises(hitl.RunFailedError) as failed:
        run.result(timeout=30)
    assert isinstance(failed.value.__cause__, ValueError)
    assert str(failed.value.__cause__) == "plain and simple"
    assert failed.value.error_type == "ValueError"
    assert "raise ValueError" in (failed.value.traceback or "")


def test_a_process_without_the_agents_code_reads_the_failure(db_url: str, tmp_path: Path) -> None:
    """Where the exception's class cannot even be imported, its type and message still arrive."""
    run = Declining.start("payment")
    with pytest.raises(hitl.RunFailedError):
        run.result(timeout=30)
    script = (
        "import hitl_notebook as hitl, sys\n"
        f"store = hitl.connect({db_url!r})\n"
        "try:\n"
        f"    store.result({run.id!r}, timeout=10)\n"
        "except hitl.RunFailedError as error:\n"
        "    print(error.error_type, '|', error.error_message, '|', type(error.__cause__).__name__)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-I", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert shown.stdout.strip() == "tests.agents.PaymentDeclined | 402: card declined | AgentError"
