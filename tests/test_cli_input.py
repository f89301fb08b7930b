"""What `hitl` does with input it cannot use: one line on stderr, never a traceback; exit status 2
for a wrong command line, 1 for an error of hitl_notebook (or anything else); messages in the
command line's words."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._service import cli_read as _cli_read
from hitl_notebook._service.cli import app
from tests.agents import Chooser, Editor, Writer
from tests.test_cli import HITL


def one_line_error(stderr: str) -> str:
    """The one line an error prints (and that it is one line, without a traceback)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def sqlite_runtime() -> Iterator[str]:
    """A runtime on a fresh SQLite file (for what does not depend on the database)."""
    url = testing.fresh_database("sqlite")
    with testing.launched(url, executor="pytest"):
        yield url


def test_arguments_that_are_not_utf8_are_refused_in_one_line(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 in an argument (the shell's $'\\xff') are a usage error naming
    the option, not a UnicodeEncodeError traceback."""
    db = ["--db", str(tmp_path / "hitl.sqlite")]
    cases: list[tuple[str, list[bytes]]] = [
        ("argument 2", [b"respond", b"\xff", b"--approve"]),
        ("--search", [b"inbox", b"--search", b"\xff"]),
        ("--search", [b"inbox", b"--search=caf\xe9"]),
        ("--comment", [b"respond", b"x", b"--approve", b"--comment", b"\xc3"]),
    ]

    def run(args: list[bytes]) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [HITL.encode(), *args, *(a.encode() for a in db)],
            capture_output=True,
            timeout=120,
            check=False,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(run, [args for _, args in cases]))
    for (name, args), result in zip(cases, done, strict=True):
        assert result.returncode == 2, (args, result.stderr)
        line = one_line_error(result.stderr.decode())
        assert line.startswith(f"error: {name}: b'"), line
        assert "not valid UTF-8" in line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["inbox", "--older-than", "soon"], "--older-than: Cannot read 'soon'"),
        (["inbox", "--older-than", "1e400s"], "--older-than: Cannot read '1e400s'"),
        (["inbox", "--older-than", "1m s"], "--older-than: Cannot read '1m s'"),
        (["inbox", "--older-than", "1M"], "units are lowercase"),
        (["inbox", "--older-than", "1000000000d"], "too long"),
        (["inbox", "--sort", "bogus"], "'--sort': 'bogus' is not one of"),
        (["inbox", "--kind", "bogus"], "'--kind': 'bogus' is not one of"),
        (["inbox", "--limit", "nan"], "'--limit'"),
        (["inbox", "--limit", "inf"], "'--limit'"),
        (["inbox", "--limit", "-1"], "'--limit'"),
        (["inbox", "--csv", "--json"], "at most one of --csv, --json"),
        (["inbox", "--bogus"], "No such option: --bogus"),
        (["serve", "--port", "nan"], "'--port'"),
        (["worker", "agents.py", "--concurrency", "inf"], "'--concurrency'"),
        (["demo", "--agents", "0"], "'--agents'"),
        (["respond", "X"], "exactly one of --approve, --reject"),
        (["respond", "X", "--approve", "--reject"], "exactly one of --approve, --reject"),
        (["respond", "X", "--edit-json", '{"amount": NaN}'], "NaN is not a number in JSON"),
        (["respond", "X", "--edit-json", '{"amount": -Infinity}'], "-Infinity is not a number"),
        (["respond", "X", "--edit-json", "[1]"], "takes a JSON object"),
        (["respond", "X", "--edit-json", "{"], "--edit-json is not valid JSON"),
        (["respond", "X", "--edit-json", "[" * 100_000], "nested too deeply"),
        (["nosuchcommand"], "No such command 'nosuchcommand'"),
    ],
)
def test_a_wrong_command_line_is_a_one_line_usage_error(args: list[str], says: str) -> None:
    """Bad durations, sort keys, numbers (NaN, inf), JSON and options: exit status 2, one line
    that names the option, before any database is opened."""
    done = invoke(*args, "--db", "/nonexistent/hitl.sqlite")
    assert done.exit_code == 2, done.output
    assert says in one_line_error(done.stderr)


def test_an_unexpected_error_is_one_line_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """An error that is not hitl_notebook's (a bug, a database driver's) is named in one line."""

    def broken(database: str | None = None) -> None:
        raise RuntimeError("the driver broke\nwith a second line of detail")

    monkeypatch.setattr(_cli_read, "connect", broken)
    done = invoke("inbox")
    assert done.exit_code == 1
    assert one_line_error(done.stderr) == "error: RuntimeError: the driver broke"


def test_errors_say_what_to_type_not_what_to_call(sqlite_runtime: str) -> None:
    """The store's messages name Python arguments; the CLI says --choose, --answer, `hitl inbox`."""
    chooser, writer, editor = Chooser.start(), Writer.start(), Editor.start()
    choice, text = chooser.wait_for_request(), writer.wait_for_request()
    edit = editor.wait_for_request()
    db = ["--db", sqlite_runtime]
    approved = invoke("respond", choice.request_id, "--approve", *db)
    chosen = invoke("respond", text.request_id, "--choose", "red", *db)
    unknown = invoke("respond", "no-such-id", "--approve", *db)
    shown = invoke("show", "no-such-id", *db)
    for done in (approved, chosen, unknown, shown):
        assert done.exit_code == 1, done.output
    line = one_line_error(approved.stderr)
    assert "--approve/--reject does not apply to a choice request" in line
    assert "answered with --choose OPTION" in line
    line = one_line_error(chosen.stderr)
    assert "--choose does not apply to a text request" in line
    assert "answered with --answer TEXT" in line
    for done in (unknown, shown):
        assert "list waiting requests with `hitl inbox`" in one_line_error(done.stderr)
    everything = approved.stderr + chosen.stderr + unknown.stderr + shown.stderr
    for python in ("choice=", "text=", "approve=", "hitl.inbox()"):
        assert python not in everything
    deep = {"order_id": "E-1", "amount": 1, "note": json.loads("[" * 300 + "]" * 300)}
    too_deep = invoke("respond", edit.request_id, "--edit-json", json.dumps(deep), *db)
    assert too_deep.exit_code == 1
    assert one_line_error(too_deep.stderr).startswith("error: InvalidAnswerError: ")
    assert [hitl.store().request(r.request_id).is_open for r in (choice, text, edit)] == [
        True,
        True,
        True,
    ]
    assert hitl.respond(choice.request_id, choice="red").outcome == "chose"
