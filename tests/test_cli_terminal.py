"""`hitl` as people read it: a request or a run in full (`hitl show`), cancelling a run (`hitl
cancel`), tables that fit 80 columns, counted words, plain help, people's words for run states."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator

import pytest
from pydantic import BaseModel
from rich.cells import cell_len
from typer.testing import CliRunner, Result

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._service.cli import app
from tests.agents import Assigned, Chooser, Editor, Reporter, Waiter, Writer
from tests.test_cli import hitl_all, hitl_cli
from tests.test_cli_input import one_line_error

DBOS_WORDS = ("PENDING", "DELAYED", "ENQUEUED", "SUCCESS", "ERROR", "CANCELLED")


class Parcel(BaseModel):
    carrier: str
    days: int


class Dispatcher(hitl.Agent):
    """An approval with everything a request can carry."""

    def run(self) -> bool | None:
        return self.request_approval(
            "Ship order 7 to Berlin?",
            body="Two parcels; the customer asked for express.",
            proposal=Parcel(carrier="dhl", days=2),
            assignees=["ana", "bo"],
            allow_requester=False,
            timeout="2h",
            on_timeout="reject",
        ).approved


def invoke(*args: str, columns: int = 100) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns)})


def shown(*args: str) -> str:
    """What `hitl ARGS` prints, each line without the spaces that pad it to its table's width."""
    done = invoke(*args)
    assert done.exit_code == 0, done.output
    return "\n".join(line.rstrip() for line in done.stdout.splitlines())


@pytest.fixture
def sqlite_runtime() -> Iterator[str]:
    """A runtime on a fresh SQLite file (for what does not depend on the database)."""
    url = testing.fresh_database("sqlite")
    with testing.launched(url, executor="pytest"):
        yield url


@pytest.mark.usefixtures("runtime")
def test_show_prints_a_request_and_its_run_in_full(db_url: str) -> None:
    """`hitl show REQUEST_ID`: title, body, proposal, deadline and what happens at it, who may
    answer, state, decision, the run's history; `hitl show RUN_ID`: each request of the run."""
    run = Dispatcher.start(requester="carol")
    request = run.wait_for_request()
    choice = Chooser.start(3600.0, "red")
    choice_request = choice.wait_for_request()
    db = ["--db", db_url]
    text = shown("show", request.request_id, *db)
    for expected in (
        f"request          {request.request_id}",
        "kind             approval",
        "title            Ship order 7 to Berlin?",
        "body             Two parcels; the customer asked for express.",
        "proposal         carrier: dhl\n                 days: 2",
        "at the deadline  rejects (the request's default)",
        "who may answer   ana, bo, but not carol (who started the run)",
        "state            open: waiting for an answer",
        f"run {run.id} (Dispatcher): waiting",
    ):
        assert expected in text, expected
    assert re.search(r"deadline +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \(in (1h5\dm|2h00m)\)", text)
    assert re.search(r"\n *2 +waiting +Ship order 7 to Berlin\? +\d{4}-", text)  # history
    options = shown("show", choice_request.request_id, *db)
    assert "options          red, green, blue" in options
    assert 'at the deadline  chooses "red" (the request\'s default)' in options

    hitl.respond(request.request_id, approve=True, by="ana", comment="before noon")
    assert run.result(timeout=30) is True
    decided = shown("show", request.request_id, *db)
    assert "state            decided" in decided
    assert "decision         approved by ana via python" in decided
    assert re.search(r"decided at +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \(after \d+s\)", decided)
    assert 'value            {"carrier": "dhl", "days": 2}' in decided
    assert "comment          before noon" in decided
    assert f"run {run.id} (Dispatcher): done" in decided
    whole_run = shown("show", run.id, *db)
    assert whole_run.startswith(f"run {run.id} (Dispatcher): done\n")
    assert f"request          {request.request_id}" in whole_run
    assert "\nhistory\n" in whole_run
    for view in (text, options, decided, whole_run):
        assert not any(word in view for word in DBOS_WORDS)


@pytest.mark.usefixtures("runtime")
def test_cancel_stops_a_waiting_run_and_says_what_it_did(db_url: str) -> None:
    """`hitl cancel RUN_ID --by NAME` from another process: the run ends as cancelled, its request
    takes no answer; cancelling again or an unknown id says so."""
    run = Waiter.start()
    request = run.wait_for_request()
    db = ["--db", db_url]
    done = hitl_cli("cancel", run.id, "--by", "ops", *db)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"Cancelled run {run.id} (by ops).",
        f"  Its request {request.request_id} (Anything?) takes no answer any more.",
    ]
    with pytest.raises(hitl.RunCancelledError):
        run.result(timeout=30)
    answered, again, unknown, history = hitl_all(
        ["respond", request.request_id, "--answer", "too late", *db],
        ["cancel", run.id, *db],
        ["cancel", "no-such-run", *db],
        ["history", run.id, "--json", *db],
    )
    assert answered.returncode == 1
    assert one_line_error(answered.stderr).startswith("error: NotWaitingError: ")
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"Run {run.id} has already ended (cancelled); nothing to cancel.\n"
    assert unknown.returncode == 1
    assert "NotFoundError: No run has the id 'no-such-run'" in one_line_error(unknown.stderr)
    assert json.loads(history.stdout)[-1]["detail"] == "cancelled by ops"


LONG_TITLE = "Refund the whole order 7 including shipping and the gift wrap the customer paid for"


def test_tables_fit_80_columns_with_ids_and_times_whole(sqlite_runtime: str) -> None:
    """At 80 columns every table and view fits: ids and timestamps stay whole on one line, long
    text wraps (columns that do not fit are named under the table)."""
    waiting = Assigned.start(["ana"], LONG_TITLE)
    chooser, writer, editor = Chooser.start(3600.0, "red"), Writer.start(), Editor.start()
    for run in (waiting, chooser, writer, editor):
        run.wait_for_request()
    hitl.respond(writer.id, text=LONG_TITLE, by="somebody-with-a-long-name@example.com")
    hitl.respond(editor.id, approve=True, value={"order_id": "E-1", "amount": 2}, by="bo")
    Reporter.start(2).result(timeout=30)
    for run in (writer, editor):
        run.result(timeout=30)
    request_id = waiting.requests()[0].request_id
    run_ids = list(hitl.agents()["run_id"])
    db = ["--db", sqlite_runtime]
    views = {
        "inbox": (["inbox"], [request_id, chooser.requests()[0].request_id]),
        "agents": (["agents"], run_ids),
        "history": (["history"], run_ids),
        "decisions": (["decisions"], [writer.requests()[0].request_id]),
        "show": (["show", request_id], [request_id, waiting.id]),
        "show run": (["show", waiting.id], [request_id, waiting.id]),
        "status": (["status", waiting.id], [waiting.id]),
        "history run": (["history", waiting.id], []),
    }
    for name, (args, ids) in views.items():
        done = invoke(*args, *db, columns=80)
        assert done.exit_code == 0, (name, done.output)
        lines = done.stdout.splitlines()
        assert max(cell_len(line) for line in lines) <= 80, (name, done.stdout)
        for whole in ids:
            assert any(whole in line for line in lines), (name, whole, done.stdout)
        dates = re.findall(r"\d{4}-\d\d-\d\d.{0,10}", done.stdout)
        assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", d) for d in dates), (name, dates)
        assert not any(word in done.stdout for word in DBOS_WORDS), name
    inbox = invoke("inbox", *db, columns=80).stdout
    assert " ".join(inbox.split()).count("Refund the whole order 7 including") == 1
    assert "gift wrap" in inbox  # wrapped, not cut
    history = invoke("history", *db, columns=80).stdout
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", history)  # the times stay at 80
    wide = invoke("decisions", *db, columns=200).stdout
    assert "Hidden at this width" not in wide
    assert "somebody-with-a-long-name@example.com" in wide


def test_counts_read_as_english(sqlite_runtime: str) -> None:
    """Counts agree with their nouns: 1 request is waiting, 2 requests are waiting, 1 run."""
    db = ["--db", sqlite_runtime]
    first = Writer.start()
    first.wait_for_request()
    assert invoke("inbox", *db).stdout.startswith("1 request is waiting (as of ")
    assert invoke("agents", *db).stdout.startswith("1 run\n")
    assert invoke("decisions", *db).stdout == "No decisions.\n"
    second = Writer.start()
    second.wait_for_request()
    assert invoke("inbox", *db).stdout.startswith("2 requests are waiting (as of ")
    assert invoke("agents", *db).stdout.startswith("2 runs\n")
    hitl.respond(first.id, text="yes")
    first.result(timeout=30)
    assert invoke("decisions", *db).stdout.startswith("1 decision\n")
    assert invoke("history", first.id, *db).stdout.startswith("4 status transitions\n")
    bulk = invoke("respond", second.id, "no-such-id", "--answer", "ok", *db)
    assert bulk.exit_code == 1
    assert one_line_error(bulk.stderr) == "error: 1 of 2 answers was refused."


def test_help_is_plain_text_with_no_python_types() -> None:
    """--help shows NAME, TEXT, DURATION... (no <bool>, <str>), and "[service]" survives."""
    top = invoke("--help")
    assert top.exit_code == 0
    assert "hitl-notebook[service]" in top.stdout
    names = re.findall(r"^  (\w+) ", top.stdout.split("Commands:")[1], flags=re.MULTILINE)
    assert {"inbox", "show", "respond", "cancel", "status", "serve", "worker"} <= set(names)
    for name in names:
        done = invoke(name, "--help")
        assert done.exit_code == 0, name
        assert not re.search(r"<\w", done.stdout), (name, done.stdout)
    assert "[service]" in invoke("serve", "--help").stdout
    assert "--older-than DURATION" in invoke("inbox", "--help").stdout
    assert "--by NAME" in invoke("cancel", "--help").stdout


def test_the_service_extra_hint_keeps_its_brackets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without uvicorn, `hitl serve` says pip install 'hitl-notebook[service]' in full."""
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn raises ImportError
    done = invoke("serve")
    assert done.exit_code == 1
    assert one_line_error(done.stderr).endswith("pip install 'hitl-notebook[service]'.")


def test_run_states_read_in_peoples_words(db_url: str) -> None:
    """A parked run reads "parked" in the inbox, agents, show and their JSON; no DBOS word."""
    with testing.launched(db_url, executor="pytest", park_after="0.2s"):
        run = Waiter.start()
        request = run.wait_for_request()
        store = hitl.connect(db_url)
        testing.wait_until(lambda: store.run_state(run.id) == "DELAYED", message="parked")
        db = ["--db", db_url]
        inbox, inbox_json = invoke("inbox", *db, columns=200), invoke("inbox", "--json", *db)
        agents, agents_json = invoke("agents", *db), invoke("agents", "--json", *db)
        shown, status = invoke("show", request.request_id, *db), invoke("status", run.id, *db)
    assert re.search(rf"{request.request_id} .*parked", inbox.stdout)
    assert [item["run_state"] for item in json.loads(inbox_json.stdout)] == ["parked"]
    assert re.search(rf"{run.id} .*parked", agents.stdout)
    assert [item["run_state"] for item in json.loads(agents_json.stdout)] == ["parked"]
    assert f"run {run.id} (Waiter): parked" in shown.stdout
    assert f"run {run.id} (Waiter): parked" in status.stdout
    for done in (inbox, inbox_json, agents, agents_json, shown, status):
        assert done.exit_code == 0, done.output
        assert not any(word in done.stdout for word in DBOS_WORDS)


def test_a_deadline_passed_by_less_than_a_second_reads_overdue() -> None:
    """Time left is rounded toward zero for display, but its sign is kept: -0.4 s is overdue."""
    from datetime import timedelta  # noqa: PLC0415 - only this test needs it

    from hitl_notebook._service.cli_render import span  # noqa: PLC0415 - the renderer itself

    assert span(timedelta(seconds=-0.4)) == "overdue 0s"
    assert span(timedelta(seconds=-61)) == "overdue 1m01s"
    assert span(timedelta(seconds=0.4)) == "0s"
    assert span(timedelta(hours=3, minutes=20)) == "3h20m"
