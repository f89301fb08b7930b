"""The pytest plugin works in a fresh project: no conftest, only the installed package's fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hitl_notebook.testing.pytest_plugin import ENV_DATABASE

PROJECT_TEST = """
import time
from datetime import timedelta

import hitl_notebook as hitl


class Refund(hitl.Agent):
    def run(self, amount: float) -> str:
        decision = self.request_approval(
            f"Refund {amount:.0f} EUR?", timeout="4h", on_timeout="reject"
        )
        return decision.outcome.value


def test_small_refunds_are_approved_and_big_ones_time_out(hitl_runtime, hitl_human, hitl_clock):
    hitl_human.approve(title="Refund 5 *").ignore()
    started = time.monotonic()
    assert hitl_human.run_until(Refund.start(5.0)) == "approved"
    assert hitl_human.run_until(Refund.start(500.0)) == "timed_out"
    assert time.monotonic() - started < 5
    waits = hitl.decisions().set_index("outcome")["wait"]
    assert waits["timed_out"] >= timedelta(hours=4)
    assert hitl_runtime.database_url.startswith("{scheme}")
"""

QUICK = [
    option
    for plugin in ("cacheprovider", "nbval", "langsmith_plugin", "hypothesispytest", "schemathesis")
    for option in ("-p", f"no:{plugin}")
]
"""Other installed plugins the test project does not use (they take seconds to import);
hitl_notebook's still loads through its entry point."""


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_fresh_project_uses_the_fixtures_without_a_conftest(tmp_path: Path, kind: str) -> None:
    """``python -m pytest`` in a new directory finds hitl_runtime and hitl_human by the entry
    point, on the database ``HITL_TEST_DATABASE`` names."""
    project = tmp_path / "project"
    project.mkdir()
    test = PROJECT_TEST.replace("{scheme}", "sqlite" if kind == "sqlite" else "postgresql")
    (project / "test_refunds.py").write_text(textwrap.dedent(test))
    env = {**os.environ, ENV_DATABASE: kind, "HITL_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *QUICK, "test_refunds.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    """The plugin loads in every pytest session: it must not bring SQLAlchemy, DBOS or pandas."""
    code = (
        "import sys, hitl_notebook.testing.pytest_plugin; "
        "print(sorted(m for m in ('sqlalchemy', 'dbos', 'pandas') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
