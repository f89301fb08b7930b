"""What a process imports: heavy libraries load only where they are used, and public names read
as ``hitl_notebook.X``.

``import hitl_notebook`` and ``hitl --help`` load no SQLAlchemy, DBOS or pandas; ``hitl inbox``
reads with SQLAlchemy alone; workers and the HTTP API build no frames and draw no widgets. Each
case runs in a new process, which reports the top-level packages it imported when it exits.
(How long each takes is measured by ``bench/startup.py``, not asserted here.)
"""

from __future__ import annotations

import inspect
import pickle
import subprocess
import sys
import textwrap
import typing
from datetime import UTC, datetime
from pathlib import Path
from types import FunctionType

import pytest

import hitl_notebook as hitl
from hitl_notebook import testing

WIDGETS = {"anywidget", "ipywidgets", "markdown_it"}
FRAMES = {"pandas", "pyarrow", "numpy"}
ENGINE = {"dbos", "sqlalchemy"}


def _imported(code: str, tmp_path: Path) -> set[str]:
    """The top-level packages a new Python process imported running ``code`` (until it exits)."""
    report = tmp_path / "imported.txt"
    prologue = textwrap.dedent(
        f"""
        import atexit, sys
        atexit.register(
            lambda: open({str(report)!r}, "w").write(
                " ".join(sorted({{m.partition(".")[0] for m in sys.modules}}))
            )
        )
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", prologue + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(report.read_text().split())


def _hitl(*args: str) -> str:
    """Code that runs the ``hitl`` command with ``args``, as its entry point does."""
    return f"import sys\nsys.argv = ['hitl', *{list(args)!r}]\n" + (
        "from hitl_notebook._service.cli import main\nmain()\n"
    )


@pytest.fixture(scope="module")
def sqlite_url() -> typing.Iterator[str]:
    """An empty SQLite database with the tables a first launch makes."""
    url = testing.fresh_database("sqlite", prepared=True)
    yield url
    testing.drop_database(url)


def test_importing_hitl_notebook_loads_no_pandas_database_engine_or_widgets(
    tmp_path: Path,
) -> None:
    """`import hitl_notebook` is the domain only: the rest loads when a name is first used."""
    imported = _imported("import hitl_notebook", tmp_path)
    assert "hitl_notebook" in imported
    assert imported.isdisjoint(FRAMES | ENGINE | WIDGETS | {"fastapi"})


def test_the_frames_load_when_one_is_first_used(tmp_path: Path) -> None:
    """`hitl.history` (a frame) brings pandas; `hitl.Store` brings SQLAlchemy, not pandas."""
    assert "pandas" in _imported("import hitl_notebook as hitl\nhitl.history", tmp_path)
    imported = _imported("import hitl_notebook as hitl\nhitl.Store", tmp_path)
    assert "sqlalchemy" in imported
    assert imported.isdisjoint(FRAMES | WIDGETS)


def test_hitl_help_loads_no_pandas_database_engine_service_or_widgets(tmp_path: Path) -> None:
    """`hitl --help` imports what the commands' options need, nothing they run with."""
    imported = _imported(_hitl("--help"), tmp_path)
    assert "typer" in imported
    assert imported.isdisjoint(FRAMES | ENGINE | WIDGETS | {"fastapi", "uvicorn"})


def test_hitl_inbox_reads_with_sqlalchemy_alone(tmp_path: Path, sqlite_url: str) -> None:
    """The inbox table needs the database, not DBOS, pandas or the widgets; its JSON is a frame."""
    imported = _imported(_hitl("inbox", "--db", sqlite_url), tmp_path)
    assert "sqlalchemy" in imported
    assert imported.isdisjoint(FRAMES | WIDGETS | {"dbos", "fastapi"})
    assert "pandas" in _imported(_hitl("inbox", "--json", "--db", sqlite_url), tmp_path)


def test_workers_and_the_http_api_build_no_frames_and_draw_no_widgets(
    tmp_path: Path, sqlite_url: str
) -> None:
    """A worker that launched and an HTTP app that answered a request loaded neither."""
    code = f"""
        from fastapi.testclient import TestClient

        import hitl_notebook as hitl
        from hitl_notebook.http import TokenAuth, create_app
        from hitl_notebook._service.worker import start_worker

        start_worker("tests.agents", database={sqlite_url!r})
        token = "t" * 32
        app = create_app(hitl.connect({sqlite_url!r}), TokenAuth({{"alice": token}}))
        reply = TestClient(app).get("/agents/waiting", headers={{"Authorization": f"Bearer {{token}}"}})
        assert reply.status_code == 200, reply.text
        hitl.shutdown()
        """
    imported = _imported(code, tmp_path)
    assert {"dbos", "fastapi"} <= imported
    assert imported.isdisjoint(FRAMES | WIDGETS)


def test_public_functions_and_classes_are_named_hitl_notebook() -> None:
    """Reprs, tracebacks and docs say ``hitl_notebook.NotFoundError``, not its private module;
    a class that declares annotations keeps its module, where they resolve."""
    for name in hitl.__all__:
        value = getattr(hitl, name)
        if isinstance(value, FunctionType) or (
            isinstance(value, type) and not inspect.get_annotations(value)
        ):
            assert value.__module__ == "hitl_notebook", name
        if isinstance(value, type):
            typing.get_type_hints(value)  # resolves, whatever the module named
    assert repr(hitl.NotFoundError) == "<class 'hitl_notebook.NotFoundError'>"
    assert sorted(set(hitl.__all__) - set(dir(hitl))) == []


def test_errors_and_decisions_pickled_here_unpickle_in_a_new_process() -> None:
    """DBOS pickles a run's result or exception; a process that imported nothing else reads it."""
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    values = [
        hitl.AgentError("shop.PaymentDeclined", "card declined", "Traceback ..."),
        hitl.AlreadyDecidedError("r-1", "approved", "alice", now),
        hitl.DeadlinePassedError("r-1", now, now),
        hitl.InvalidAnswerError("r-1", ["amount: too large"]),
        hitl.NotAllowedError("r-1", "bob", "not an assignee"),
        hitl.RequestTimeoutError("r-1", now),
        hitl.RunFailedError("run-1", "shop.PaymentDeclined", "card declined", "Traceback ..."),
        hitl.NotFoundError("no such run"),
        hitl.Decision(
            request_id="r-1",
            run_id="run-1",
            kind=hitl.RequestKind.APPROVAL,
            outcome=hitl.Outcome.APPROVED,
            approved=True,
            by="alice",
            at=now,
            channel="cli",
            requested_at=now,
        ),
        hitl.Answer(approve=True),
        hitl.Status.WAITING,
    ]
    code = (
        "import pickle, sys\n"
        "for value in pickle.loads(sys.stdin.buffer.read()):\n"
        "    print(type(value).__module__, type(value).__name__, repr(str(value)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=pickle.dumps(values),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    expected = [f"{type(v).__module__} {type(v).__name__} {str(v)!r}" for v in values]
    assert done.stdout.decode().splitlines() == expected
