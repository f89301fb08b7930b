"""The `hitl` command, run as a separate process with no agent code."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._frames import AGENT_COLUMNS, DECISION_COLUMNS, HISTORY_COLUMNS
from tests.agents import Assigned, Chooser, Editor, Reporter, Writer

HITL = str(Path(sys.executable).with_name("hitl"))


def hitl_cli(*args: str, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run `hitl` with its output to a pipe, as wide as ``columns`` (default: not wrapped).

    The environment is passed as Python sees it: a library may have put COLUMNS into the
    process's own environment behind os.environ's back (readline does).
    """
    env = {key: value for key, value in os.environ.items() if key not in {"COLUMNS", "LINES"}}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [HITL, *args], capture_output=True, text=True, timeout=120, check=False, env=env
    )


def hitl_all(*commands: Sequence[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run several `hitl` commands at once (each spends most of its ~2 s importing)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda args: hitl_cli(*args), commands))


def ok_json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def ok_csv(done: subprocess.CompletedProcess[str]) -> pd.DataFrame:
    assert done.returncode == 0, done.stderr
    return pd.read_csv(io.StringIO(done.stdout))


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
    assert nothing.returncode == 2
    assert "exactly one of" in nothing.stderr
    not_json = hitl_cli("respond", request.request_id, "--edit-json", "{", "--db", db_url)
    assert not_json.returncode == 2
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


# -- hitl inbox --------------------------------------------------------------------------------


def _inbox_snapshot(db_url: str) -> dict[str, str]:
    """Seven waiting requests, one of them overdue, and no process watching them any more.

    The runtime is shut down once every run waits, as when the service running the agents is
    down: the requests stay open, and the short deadline passes without its timeout being applied.
    """
    with testing.launched(db_url, executor="pytest"):
        runs = {
            "which": Chooser.start(),
            "within_1h": Chooser.start(3600.0, "red"),
            "say": Writer.start(),
            "ship": Assigned.start(["ana", "bo"], "Ship order 7 today?"),
            "refund": Assigned.start(["bo"], "Refund order 9?"),
            "fix": Editor.start(),
        }
        ids = {name: run.wait_for_request().request_id for name, run in runs.items()}
        late = Chooser.start(4.0, "red")  # last: the runtime stops before its deadline
        ids["late"] = late.wait_for_request().request_id
    deadline = hitl.connect(db_url).request(ids["late"]).deadline
    assert deadline is not None
    time.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()) + 0.2)
    assert hitl.connect(db_url).request(ids["late"]).is_open
    return ids


def test_inbox_lists_filters_sorts_and_pages(db_url: str) -> None:
    """`hitl inbox` shows a table or JSON; every filter, sort and paging option has its effect."""
    ids = _inbox_snapshot(db_url)
    db = ["--db", db_url]
    commands: dict[str, list[str]] = {
        "table": [],
        "all": ["--json"],
        "agents": ["--agent", "Writer", "--agent", "Editor", "--json"],
        "kinds": ["--kind", "approval", "--kind", "text", "--json"],
        "ana": ["--assignee", "ana", "--json"],
        "overdue": ["--overdue", "--json"],
        "not_overdue": ["--not-overdue", "--json"],
        "old": ["--older-than", "1h", "--json"],
        "search": ["--search", "ORDER", "--json"],
        "deadline": ["--sort", "deadline", "--json"],
        "deadline_desc": ["--sort", "deadline", "--desc", "--json"],
        "title": ["--sort", "title", "--json"],
        "agent_desc": ["--sort", "agent", "--desc", "--json"],
        "page": ["--limit", "2", "--offset", "1", "--json"],
        "bad_age": ["--older-than", "soon"],
    }
    results = hitl_all(*(["inbox", *c, *db] for c in commands.values()))
    done = dict(zip(commands, results, strict=True))
    got = {name: ok_json(result) for name, result in done.items() if "--json" in commands[name]}

    def names(items: list[dict[str, Any]]) -> set[str]:
        by_id = {request_id: name for name, request_id in ids.items()}
        return {by_id[item["request_id"]] for item in items}

    everything = got["all"]
    assert names(everything) == set(ids)
    assert [item["requested_at"] for item in everything] == sorted(
        item["requested_at"] for item in everything
    )
    ship = next(item for item in everything if item["request_id"] == ids["ship"])
    assert ship["agent"] == "Assigned"
    assert (ship["kind"], ship["title"], ship["assignees"]) == (
        "approval",
        "Ship order 7 today?",
        ["ana", "bo"],
    )
    assert (ship["run_state"], ship["overdue"]) == ("waiting", False)
    assert ship["deadline"] is None
    assert ship["time_left"] is None
    datetime.fromisoformat(ship["requested_at"])
    which = next(item for item in everything if item["request_id"] == ids["which"])
    assert which["options"] == ["red", "green", "blue"]
    fix = next(item for item in everything if item["request_id"] == ids["fix"])
    assert fix["proposal"] == {"order_id": "E-1", "amount": 5.0, "note": ""}
    late = next(item for item in everything if item["request_id"] == ids["late"])
    assert late["overdue"] is True
    assert late["time_left"] < 0
    assert datetime.fromisoformat(late["deadline"]) < datetime.now(UTC)
    within = next(item for item in everything if item["request_id"] == ids["within_1h"])
    assert 3000 < within["time_left"] <= 3600

    assert names(got["agents"]) == {"say", "fix"}
    assert names(got["kinds"]) == {"ship", "refund", "say"}
    assert names(got["ana"]) == {"ship"}
    assert names(got["overdue"]) == {"late"}
    assert names(got["not_overdue"]) == set(ids) - {"late"}
    assert got["old"] == []
    assert names(got["search"]) == {"ship", "refund"}
    assert [item["request_id"] for item in got["deadline"][:2]] == [ids["late"], ids["within_1h"]]
    assert [item["request_id"] for item in got["deadline_desc"][:2]] == [
        ids["within_1h"],
        ids["late"],
    ]
    assert [item["deadline"] for item in got["deadline"][2:]] == [None] * 5
    titles = [item["title"] for item in got["title"]]
    assert titles == sorted(titles)
    assert titles[0] == "Fix the refund"
    agents = [item["agent"] for item in got["agent_desc"]]
    assert agents == sorted(agents, reverse=True)
    assert agents[0] == "Writer"
    order = [item["request_id"] for item in everything]
    assert [item["request_id"] for item in got["page"]] == order[1:3]

    assert done["bad_age"].returncode == 2
    assert "--older-than" in done["bad_age"].stderr
    assert "'soon'" in done["bad_age"].stderr

    table = done["table"]
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith("7 requests are waiting")
    rows = {name: _row(table.stdout, request_id) for name, request_id in ids.items()}
    assert "Ship order 7 today?" in rows["ship"]
    assert "approval" in rows["ship"]
    assert "waiting" in rows["ship"]
    assert "overdue" in rows["late"]
    assert not any("overdue" in row for name, row in rows.items() if name != "late")
    assert "59m" in rows["within_1h"] or "1h00m" in rows["within_1h"]


def _row(table: str, request_id: str) -> str:
    """The line of a rendered table that shows ``request_id`` (ids are never wrapped)."""
    (line,) = [line for line in table.splitlines() if request_id in line]
    return line


def test_an_empty_inbox_says_so(db_url: str) -> None:
    """No waiting request: a sentence for people, an empty array for scripts."""
    with testing.launched(db_url, executor="pytest"):
        pass
    table, as_json = hitl_all(["inbox", "--db", db_url], ["inbox", "--json", "--db", db_url])
    assert table.returncode == 0, table.stderr
    assert "No request is waiting" in table.stdout
    assert ok_json(as_json) == []


# -- hitl respond with several targets ---------------------------------------------------------


@pytest.mark.usefixtures("runtime")
def test_bulk_respond_applies_the_valid_answers_and_reports_the_others(db_url: str) -> None:
    """One answer for many requests: each valid one is applied, each refused one is reported."""
    writers = [Writer.start() for _ in range(4)]
    chooser = Chooser.start()
    first, second, third, fourth = [run.wait_for_request().request_id for run in writers]
    choice = chooser.wait_for_request().request_id
    hitl.respond(third, text="earlier", by="bob")
    done = hitl_cli(
        "respond", first, "nope", second, third, choice, first,
        "--answer", "ship it", "--by", "alice", "--db", db_url,
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines] == [first, "nope", second, third, choice]
    assert lines[0].startswith(f'{first}: answered "ship it" by alice at ')
    assert lines[2].startswith(f'{second}: answered "ship it" by alice at ')
    assert lines[1].startswith("nope: error: NotFoundError: ")
    assert lines[3].startswith(f"{third}: error: AlreadyDecidedError: ")
    assert "already decided by bob" in lines[3]
    assert lines[4].startswith(f"{choice}: error: InvalidAnswerError: ")
    assert "3 of 5 answers were refused" in done.stderr
    assert [run.result(timeout=30) for run in writers[:3]] == ["ship it", "ship it", "earlier"]
    assert chooser.requests(open_only=True)[0].request_id == choice

    as_json = hitl_cli(
        "respond", fourth, choice, second, "--choose", "red", "--by", "carol",
        "--comment", "bulk", "--json", "--db", db_url,
    )  # fmt: skip
    assert as_json.returncode == 1
    result = json.loads(as_json.stdout)
    assert set(result["decided"]) == {choice}
    decided = result["decided"][choice]
    assert (decided["outcome"], decided["value"], decided["by"]) == ("chose", "red", "carol")
    assert (decided["channel"], decided["comment"]) == ("cli", "bulk")
    assert {target: error["error"] for target, error in result["failed"].items()} == {
        fourth: "InvalidAnswerError",
        second: "AlreadyDecidedError",
    }
    assert "already decided by alice" in result["failed"][second]["message"]
    assert chooser.result(timeout=30) == "chose:red"
    assert writers[3].requests(open_only=True)[0].request_id == fourth


@pytest.mark.usefixtures("runtime")
def test_bulk_respond_exits_zero_when_every_answer_is_applied(db_url: str) -> None:
    """Several targets, all answered: one line each and status 0."""
    runs = [Writer.start() for _ in range(3)]
    ids = [run.wait_for_request().request_id for run in runs]
    done = hitl_cli("respond", *ids, "--answer", "ok", "--by", "dana", "--db", db_url)
    assert done.returncode == 0, done.stderr
    assert [line.split(": ")[0] for line in done.stdout.splitlines()] == ids
    assert [run.result(timeout=30) for run in runs] == ["ok", "ok", "ok"]


# -- hitl history, agents, decisions -----------------------------------------------------------


@pytest.mark.usefixtures("hot_runtime")
def test_history_agents_and_decisions_as_tables_csv_and_json(db_url: str) -> None:
    """The three frames from the command line: tables, CSV with every documented column, JSON."""
    chooser, writer = Chooser.start(), Writer.start()
    choice, text = chooser.wait_for_request().request_id, writer.wait_for_request().request_id
    hitl.respond(choice, choice="green", by="alice", comment="looks right")
    hitl.respond(text, text='say "hi", then\nleave', by="bob")
    reporter = Reporter.start(2)
    assert [chooser.result(timeout=30), reporter.result(timeout=30)] == ["chose:green", 2]
    writer.result(timeout=30)
    waiting = Writer.start()
    waiting.wait_for_request()
    db = ["--db", db_url]
    commands: dict[str, list[str]] = {
        "history": ["history"],
        "history_run_csv": ["history", reporter.id, "--csv"],
        "history_json": ["history", "--json"],
        "history_csv": ["history", "--csv"],
        "agents": ["agents"],
        "agents_csv": ["agents", "--csv"],
        "agents_one_json": ["agents", "--agent", "Writer", "--json"],
        "decisions": ["decisions"],
        "decisions_csv": ["decisions", "--csv"],
        "decisions_run_json": ["decisions", chooser.id, "--json"],
        "no_decisions": ["decisions", reporter.id],
        "unknown_history": ["history", "[/nope]"],  # not rich markup either
        "unknown_decisions": ["decisions", "nope", "--json"],
        "both": ["agents", "--csv", "--json"],
    }
    done = dict(zip(commands, hitl_all(*([*c, *db] for c in commands.values())), strict=True))

    # history
    history = ok_csv(done["history_csv"])
    assert list(history.columns) == list(HISTORY_COLUMNS)
    expected = hitl.history(via=hitl.connect(db_url))
    assert list(history["run_id"]) == list(expected["run_id"])
    assert list(history["status"]) == list(expected["status"])
    assert list(history["seq"]) == list(expected["seq"])
    assert list(pd.to_datetime(history["at"])) == list(expected["at"])
    one_run = ok_csv(done["history_run_csv"])
    assert list(one_run.columns) == list(HISTORY_COLUMNS)
    assert set(one_run["run_id"]) == {reporter.id}
    assert list(one_run["status"]) == ["working", "crunching", "crunching", "finished"]
    assert list(one_run["progress"].dropna()) == [0.5, 1.0, 1.0]
    records = ok_json(done["history_json"])
    assert [r["status"] for r in records] == list(expected["status"])
    assert all(set(r) == set(HISTORY_COLUMNS) for r in records)
    assert datetime.fromisoformat(records[0]["at"]).tzinfo is not None
    table = done["history"]
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith(f"{len(expected)} status transitions")
    assert "crunching" in _rows_of(table.stdout, reporter.id)[1]

    # agents
    agents = ok_csv(done["agents_csv"])
    assert list(agents.columns) == list(AGENT_COLUMNS)
    assert set(agents["run_id"]) == {chooser.id, writer.id, reporter.id, waiting.id}
    by_run = agents.set_index("run_id")
    assert by_run.loc[waiting.id, "status"] == "waiting"
    assert by_run.loc[waiting.id, "open_requests"] == 1
    assert by_run.loc[reporter.id, "outcome"] == "finished"
    writers = ok_json(done["agents_one_json"])
    assert {r["run_id"] for r in writers} == {writer.id, waiting.id}
    assert all(set(r) == set(AGENT_COLUMNS) for r in writers)
    still = next(r for r in writers if r["run_id"] == waiting.id)
    assert (still["outcome"], still["finished"], still["run_state"]) == (None, None, "waiting")
    assert "waiting" in _rows_of(done["agents"].stdout, waiting.id)[0]

    # decisions
    decisions = ok_csv(done["decisions_csv"])
    assert list(decisions.columns) == list(DECISION_COLUMNS)
    assert list(decisions["request_id"]) == [choice, text]
    assert list(decisions["by"]) == ["alice", "bob"]
    assert [json.loads(v) for v in decisions["value"]] == ["green", 'say "hi", then\nleave']
    assert list(decisions["wait"] > 0) == [True, True]  # seconds
    (chose,) = ok_json(done["decisions_run_json"])
    assert set(chose) == set(DECISION_COLUMNS)
    assert (chose["request_id"], chose["outcome"], chose["value"]) == (choice, "chose", "green")
    assert (chose["by"], chose["comment"], chose["timed_out"]) == ("alice", "looks right", False)
    assert chose["wait"] > 0
    assert chose["deadline"] is None
    assert "alice" in _rows_of(done["decisions"].stdout, choice)[0]
    assert done["no_decisions"].returncode == 0, done["no_decisions"].stderr
    assert done["no_decisions"].stdout.strip() == "No decisions."

    # errors
    for name, run_id in (("unknown_history", "[/nope]"), ("unknown_decisions", "nope")):
        assert done[name].returncode == 1
        assert f"NotFoundError: No run has the id '{run_id}'" in done[name].stderr
        assert done[name].stdout == ""
    assert done["both"].returncode == 2
    assert "at most one of --csv, --json" in done["both"].stderr


def _rows_of(table: str, run_id: str) -> list[str]:
    return [line for line in table.splitlines() if run_id in line]
