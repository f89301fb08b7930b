"""A tool call from the command line: `hitl show` has the tool, its digest, its arguments as a
table and what an edit changed; `hitl inbox` marks tool calls (readable at 80 columns);
`hitl respond --digest` binds the answer to the call shown. SQLite and Postgres."""

from __future__ import annotations

import pytest

import hitl_notebook as hitl
from hitl_notebook import testing
from tests.test_cli import hitl_all, hitl_cli, ok_json
from tests.tool_shop import ToolShop

pytestmark = pytest.mark.usefixtures("runtime")


def _asked(amount: float, order_id: str = "A-1") -> tuple[hitl.RunHandle, hitl.Request, str]:
    run = ToolShop.start(amount, order_id)
    testing.wait_until(lambda: run.requests(open_only=True), timeout=30, message="the tool call")
    (request,) = run.requests(open_only=True)
    assert request.tool is not None
    return run, request, request.tool.digest


def test_show_and_inbox_present_a_tool_call(db_url: str) -> None:
    """`hitl show` names the tool, its docstring, digest and arguments; `hitl inbox` marks it,
    also at 80 columns; `hitl inbox --json` has the tool and the digest."""
    _run, request, digest = _asked(80)
    shown, listed, as_json = hitl_all(
        ["show", request.request_id, "--db", db_url],
        ["inbox", "--db", db_url],
        ["inbox", "--json", "--db", db_url],
    )
    assert shown.returncode == 0, shown.stderr
    for words in ("tool call (approval)", "refund (call 1 of the run)", digest, "Refund part"):
        assert words in shown.stdout
    lines = shown.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if "argument" in line and "editable" in line)
    assert lines[header + 2].split() == ["order_id", "A-1", "no"]
    assert lines[header + 3].split() == ["amount", "80.0", "yes"]
    assert "proposal" not in shown.stdout  # the arguments table says it

    assert listed.returncode == 0, listed.stderr
    assert "tool: refund" in listed.stdout
    assert "tool call: Run" in listed.stdout
    (item,) = ok_json(as_json)
    assert (item["tool"], item["digest"]) == ("refund", digest)
    assert item["proposal"] == {"order_id": "A-1", "amount": 80.0}

    narrow = hitl_cli("inbox", "--db", db_url, columns=80)
    assert narrow.returncode == 0, narrow.stderr
    assert "tool call:" in narrow.stdout
    assert request.request_id in narrow.stdout
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80


def test_respond_with_a_stale_digest_is_refused_and_stores_nothing(db_url: str) -> None:
    """--digest of another call: exit 1, a clear message, the request still open; the right
    digest is taken, and --json shows the tool and digest of the decision."""
    run, request, digest = _asked(80)
    _other, _, other_digest = _asked(90, "B-2")
    stale = hitl_cli(
        "respond", request.request_id, "--approve", "--digest", other_digest, "--db", db_url
    )
    assert stale.returncode == 1
    assert "another tool call" in stale.stderr
    assert "Nothing was stored" in stale.stderr
    assert hitl.store().request(request.request_id).is_open
    assert hitl.decisions(run.id).empty

    several = hitl_cli(
        "respond", request.request_id, "x", "--approve", "--digest", digest, "--db", db_url
    )
    assert several.returncode == 2
    assert "one ID" in several.stderr

    done = hitl_cli(
        "respond",
        request.request_id,
        "--approve",
        "--digest",
        digest,
        "--by",
        "carol",
        "--json",
        "--db",
        db_url,
    )
    decision = ok_json(done)
    assert (decision["outcome"], decision["tool"], decision["digest"]) == (
        "approved",
        "refund",
        digest,
    )
    assert run.result(timeout=30) == "refunded 80.0 on A-1"


def test_an_edit_from_the_command_line_is_checked_and_shown(db_url: str) -> None:
    """Editing order_id is refused (not editable); editing amount is taken and `hitl show`
    then lists what changed: argument, proposed, approved."""
    run, request, digest = _asked(80)
    refused = hitl_cli(
        "respond",
        request.request_id,
        "--edit-json",
        '{"order_id": "Z-9", "amount": 80}',
        "--digest",
        digest,
        "--db",
        db_url,
    )
    assert refused.returncode == 1
    assert "order_id: may not be edited" in refused.stderr
    assert hitl.store().request(request.request_id).is_open

    edited = hitl_cli(
        "respond",
        request.request_id,
        "--edit-json",
        '{"order_id": "A-1", "amount": 50}',
        "--digest",
        digest,
        "--by",
        "carol",
        "--db",
        db_url,
    )
    assert edited.returncode == 0, edited.stderr
    assert run.result(timeout=30) == "refunded 50.0 on A-1"
    shown = hitl_cli("show", request.request_id, "--db", db_url)
    assert shown.returncode == 0, shown.stderr
    assert "edited by carol via cli" in shown.stdout
    lines = shown.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if "proposed" in line and "approved" in line)
    assert lines[header].split()[:4] == ["changed", "argument", "proposed", "approved"]
    name, proposed, approved = lines[header + 2].split()
    # the edit as stored: as sent (50) where the `hitl` process cannot import the argument model
    assert (name, proposed, float(approved)) == ("amount", "80.0", 50.0)
