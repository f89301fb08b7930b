"""The `hitl` command, run as a separate process with no agent code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import hitl_notebook as hitl
from hitl_notebook import testing
from tests.agents import Chooser, Editor

HITL = str(Path(sys.executable).with_name("hitl"))


def hitl_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HITL, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.usefixtures("runtime")
def test_respond_and_status_from_the_command_line(db_url: str) -> None:
    """`hitl respond` answers a run of this process; `hitl status` shows its history."""
    run = Chooser.start()
    testing.wait_for_request(run)
    done = hitl_cli(
        "respond", run.id, "--choose", "green", "--by", "cli-user", "--db", db_url, "--json"
    )
    assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    assert (decision["outcome"], decision["by"], decision["channel"]) == (
        "chose",
        "cli-user",
        "cli",
    )
    assert run.result(timeout=30) == "chose:green"
    shown = hitl_cli("status", run.id, "--db", db_url)
    assert shown.returncode == 0, shown.stderr
    assert "resumed" in shown.stdout
    assert "finished" in shown.stdout


@pytest.mark.usefixtures("runtime")
def test_respond_errors_exit_non_zero_with_the_typed_message(db_url: str) -> None:
    """Bad answers, unknown ids and missing options fail with exit status 1 and say why."""
    run = Editor.start()
    request = testing.wait_for_request(run)
    invalid = hitl_cli(
        "respond", request.request_id, "--edit-json", '{"order_id": "E-1"}', "--db", db_url
    )
    assert invalid.returncode == 1
    assert "InvalidAnswerError" in invalid.stderr
    assert "amount" in invalid.stderr
    unknown = hitl_cli("respond", "nope", "--approve", "--db", db_url)
    assert unknown.returncode == 1
    assert "NotFoundError" in unknown.stderr
    nothing = hitl_cli("respond", request.request_id, "--db", db_url)
    assert nothing.returncode == 1
    assert "exactly one of" in nothing.stderr
    not_json = hitl_cli("respond", request.request_id, "--edit-json", "{", "--db", db_url)
    assert not_json.returncode == 1
    assert "not valid JSON" in not_json.stderr
    assert run.requests(open_only=True) == [request]
    assert hitl.respond(request.request_id, approve=True).outcome == "approved"


def test_db_prints_the_database_in_use(tmp_path: Path) -> None:
    """`hitl db` resolves the database the way launch() does."""
    shown = hitl_cli("db", "--db", str(tmp_path / "x.sqlite"))
    assert shown.stdout.strip() == f"sqlite:///{tmp_path / 'x.sqlite'}"


def test_a_database_without_hitl_data_is_a_clear_error(tmp_path: Path) -> None:
    """Pointing the CLI at a missing database says how to fix it."""
    missing = hitl_cli("respond", "x", "--approve", "--db", str(tmp_path / "none.sqlite"))
    assert missing.returncode == 1
    assert "no database file" in missing.stderr


def test_demo_starts_agents_and_answers_them(tmp_path: Path) -> None:
    """The terminal demo runs end to end on a fresh database."""
    shown = hitl_cli("demo", "--agents", "3", "--db", str(tmp_path / "demo.sqlite"))
    assert shown.returncode == 0, shown.stderr
    assert "refunded 10.00 EUR (edited by demo-human)" in shown.stdout
    assert "not refunded (rejected)" in shown.stdout
