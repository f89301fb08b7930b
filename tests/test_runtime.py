"""The runtime: database lookup, notebook-safe launch, executor identity, shutdown and relaunch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._db.config import default_sqlite_path, resolve_database_url
from hitl_notebook._db.database import Database
from hitl_notebook._runtime.identity import claim_executor
from tests.agents import Parallel, Writer


def test_default_database_is_a_stable_file_independent_of_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two notebooks in different folders share the one embedded default database."""
    monkeypatch.chdir(tmp_path)
    first = resolve_database_url()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert resolve_database_url() == first == f"sqlite:///{default_sqlite_path()}"
    assert default_sqlite_path().is_absolute()


def test_database_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Argument, then $HITL_DATABASE_URL, then $DBOS_SYSTEM_DATABASE_URL, then dbos-config.yaml."""
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "dbos-config.yaml").write_text("name: hitl\nsystem_database_url: ${TEAM_DB}\n")
    monkeypatch.chdir(project / "notebooks")
    monkeypatch.setenv("TEAM_DB", "postgresql://team@db:5432/hitl")
    assert resolve_database_url() == "postgresql://team@db:5432/hitl"
    monkeypatch.setenv("DBOS_SYSTEM_DATABASE_URL", "postgresql://dbos@db:5432/x")
    assert resolve_database_url() == "postgresql://dbos@db:5432/x"
    monkeypatch.setenv("HITL_DATABASE_URL", "sqlite:///env.sqlite")
    assert resolve_database_url() == "sqlite:///env.sqlite"
    assert resolve_database_url(str(tmp_path / "a.sqlite")) == f"sqlite:///{tmp_path / 'a.sqlite'}"


def test_a_dbos_config_without_a_url_means_dbos_own_default_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`${VAR}` with VAR unset means "not configured": DBOS's default file for the app's name,
    beside the yaml (what the dbos CLI uses there), also from a folder below it."""
    (tmp_path / "dbos-config.yaml").write_text(
        "name: my-app\nsystem_database_url: ${NOT_SET_HERE}\n"
    )
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    monkeypatch.delenv("NOT_SET_HERE", raising=False)
    assert resolve_database_url() == f"sqlite:///{tmp_path.resolve() / 'my_app.sqlite'}"


def test_a_bad_url_is_a_clear_configuration_error() -> None:
    """A URL of an unsupported kind says what is accepted."""
    with pytest.raises(hitl.ConfigurationError, match="neither sqlite"):
        resolve_database_url("mysql://root@localhost/x")


def test_relaunching_is_harmless_and_another_database_is_an_explicit_error(db_url: str) -> None:
    """Re-running the launch cell returns the running runtime; a different database needs reconfigure."""
    with testing.launched(db_url, executor="pytest") as runtime:
        assert hitl.launch(db_url, executor="pytest") is runtime
        other = testing.fresh_database("sqlite")
        with pytest.raises(hitl.ConfigurationError, match="already launched"):
            hitl.launch(other, executor="pytest")
        moved = hitl.launch(other, executor="pytest", reconfigure=True)
        assert moved.database_url == other
        assert moved is not runtime


def test_park_after_is_checked_and_changing_it_needs_reconfigure(db_url: str) -> None:
    with pytest.raises(ValueError, match="Cannot read 'soon' as a duration"):
        hitl.launch(db_url, executor="pytest", park_after="soon")
    with testing.launched(db_url, executor="pytest", park_after="2m") as runtime:
        assert runtime.park_after_s == 120
        assert hitl.launch(db_url, executor="pytest", park_after=120) is runtime
        with pytest.raises(hitl.ConfigurationError, match="reconfigure=True"):
            hitl.launch(db_url, executor="pytest", park_after=None)
        assert hitl.launch(db_url, executor="pytest", park_after=None, reconfigure=True)


def test_sdk_calls_before_launch_say_what_to_do() -> None:
    """Starting an agent before launch raises NotLaunchedError."""
    with pytest.raises(hitl.NotLaunchedError, match=r"hitl.launch\(\)"):
        Writer.start()


def test_waiting_runs_survive_shutdown_and_relaunch_in_the_same_process(db_url: str) -> None:
    """Shutting down leaves sync and async runs pending; after relaunch they are answered and finish."""
    with testing.launched(db_url, executor="pytest"):
        sync_run = Writer.start()
        async_run = Parallel.start()
        testing.wait_for_request(sync_run)
        testing.wait_until(lambda: len(async_run.requests(open_only=True)) == 3)
    store = hitl.connect(db_url)
    assert store.run_state(sync_run.id) == "PENDING"
    assert store.run_state(async_run.id) == "PENDING"
    with testing.launched(db_url, executor="pytest"):
        human = testing.Human().write("after relaunch", agent="Writer").choose("a", kind="choice")
        assert len(human.write("x").step()) == 4
        assert sync_run.result(timeout=30) == "after relaunch"
        assert async_run.result(timeout=30) == ["x", "x", "a"]


def test_live_processes_with_one_label_get_distinct_identities(db_url: str) -> None:
    """A second claim on a live label gets the next slot; a released one is taken again."""
    database = Database(db_url, create=True)
    first = claim_executor(database, "notebook.ipynb")
    try:
        # Same pid: a relaunch in this process takes its own identity back.
        again = claim_executor(database, "notebook.ipynb")
        assert again.executor_id == first.executor_id
        with database.engine.begin() as conn:
            conn.exec_driver_sql(
                f"UPDATE {'hitl_executors' if database.is_sqlite else 'hitl.hitl_executors'} "
                f"SET pid = {os.getppid()} WHERE executor_id = '{first.executor_id}'"
            )
        second = claim_executor(database, "notebook.ipynb")
        assert second.executor_id == f"{first.executor_id}-2"
        second.release()
        assert claim_executor(database, "notebook.ipynb").executor_id == second.executor_id
    finally:
        database.close()


def _launch_in_a_new_process(url: str, log_level: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import hitl_notebook as hitl\n"
        f"hitl.launch({url!r}, executor='quiet', log_level={log_level!r})\n"
        "hitl.shutdown()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )


def test_launch_is_quiet_by_default_and_dbos_logs_on_request(tmp_path: Path) -> None:
    """A first launch (with its ~120 migrations) prints nothing; log_level='INFO' shows DBOS's logs."""
    quiet = _launch_in_a_new_process(f"sqlite:///{tmp_path / 'q.sqlite'}", "WARNING")
    assert (quiet.stdout, quiet.stderr) == ("", "")
    chatty = _launch_in_a_new_process(f"sqlite:///{tmp_path / 'c.sqlite'}", "INFO")
    assert "DBOS launched" in chatty.stderr


@pytest.mark.usefixtures("runtime")
def test_the_dbos_cli_sees_the_same_runs(db_url: str) -> None:
    """`dbos workflow list -s <url>` lists hitl runs (the workflow is named hitl.agent)."""
    run = Writer.start(run_id="visible-to-dbos")
    testing.wait_for_request(run)
    listed = subprocess.run(
        [str(Path(sys.executable).with_name("dbos")), "workflow", "list", "-s", db_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = {row["workflow_id"]: row for row in json.loads(listed.stdout)}
    assert rows["visible-to-dbos"]["name"] == "hitl.agent"


def test_the_dbos_cli_in_a_project_folder_sees_the_sdks_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beside a dbos-config.yaml without a URL, plain `dbos workflow list` and hitl agree."""
    (tmp_path / "dbos-config.yaml").write_text(
        "name: refunds\nlanguage: python\nsystem_database_url: ${DBOS_SYSTEM_DATABASE_URL}\n"
    )
    monkeypatch.chdir(tmp_path)
    with testing.launched(resolve_database_url(), executor="pytest"):
        run = Writer.start(run_id="seen-by-the-dbos-cli")
        testing.wait_for_request(run)
        listed = subprocess.run(
            [str(Path(sys.executable).with_name("dbos")), "workflow", "list"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
            cwd=tmp_path,
        )
        run.cancel(by="tests")
    assert "seen-by-the-dbos-cli" in {row["workflow_id"] for row in json.loads(listed.stdout)}
    assert sorted(p.name for p in tmp_path.glob("*.sqlite")) == ["refunds.sqlite"]
