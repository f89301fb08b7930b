"""Odd input through the `hitl` command, on both databases: stored exactly, or one line of error;
afterwards the inbox and every frame still build, through the command too."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings

import hitl_notebook as hitl
from tests.agents import FreeEditor, Writer
from tests.test_cli_input import invoke
from tests.test_odd_input import everything_still_reads, fits_everywhere, odd_json, odd_text

pytestmark = pytest.mark.usefixtures("runtime")

odd = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def the_command_still_reads(db_url: str) -> None:
    """`hitl inbox`, `agents`, `history` and `decisions` (tables, JSON, CSV) all work."""
    for command in ("inbox", "agents", "history", "decisions"):
        for form in ([], ["--json"], ["--csv"]):
            done = invoke(command, *form, "--db", db_url)
            assert done.exit_code == 0, (command, form, done.output)


def error_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    return lines[0]


@odd
@given(text=odd_text, comment=odd_text, by=odd_text)
def test_odd_text_answers_through_the_command_are_stored_or_refused_in_one_line(
    db_url: str, text: str, comment: str, by: str
) -> None:
    """--answer, --comment and --by with NUL, lone surrogates, huge text: kept as sent or one
    line saying which field, and the run keeps waiting."""
    run = Writer.start()
    request = run.wait_for_request()
    done = invoke(
        "respond", request.request_id, "--answer", text, "--comment", comment, "--by", by,
        "--json", "--db", db_url,
    )  # fmt: skip
    if all(fits_everywhere(v) for v in (text, comment, by)) and text.strip():
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout)["value"] == text
        assert run.result(timeout=30) == text
    else:  # 2: a lone surrogate is what invalid UTF-8 in argv becomes, a usage error
        assert done.exit_code in (1, 2), done.output
        assert any(name in error_line(done.output) for name in ("answer", "comment", "by", "empty"))
        assert run.requests(open_only=True) == [request]
        run.cancel(by="tests")
    everything_still_reads()
    the_command_still_reads(db_url)


@odd
@given(data=odd_json)
@example(data={"\n": "\x00"})  # a key with a newline, quoted in the one line of error
def test_odd_edited_values_through_the_command_are_stored_or_refused_in_one_line(
    db_url: str, data: Any
) -> None:
    """--edit-json with NaN, Infinity, lone surrogates, NUL, deep nesting: stored exactly or one
    line of error (Python's json writes NaN and Infinity, which JSON has not)."""
    run = FreeEditor.start()
    request = run.wait_for_request()
    edit = json.dumps({"data": data})
    done = invoke("respond", request.request_id, "--edit-json", edit, "--json", "--db", db_url)
    if fits_everywhere(data):
        assert done.exit_code == 0, done.output
        assert run.result(timeout=30) == data
    else:
        assert done.exit_code in (1, 2), done.output
        error_line(done.output)
        assert run.requests(open_only=True) == [request]
        run.cancel(by="tests")
    everything_still_reads()
    the_command_still_reads(db_url)


@odd
@given(search=odd_text, agent=odd_text)
def test_odd_filters_through_the_command_list_or_refuse_in_one_line(
    db_url: str, search: str, agent: str
) -> None:
    """`hitl inbox --search/--agent` with odd text: an (empty) inbox, or one line of error."""
    done = invoke("inbox", "--search", search, "--agent", agent, "--json", "--db", db_url)
    if fits_everywhere(search) and fits_everywhere(agent):
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout) == []
    else:
        assert done.exit_code in (1, 2), done.output
        error_line(done.output)
    assert hitl.inbox().items == []
