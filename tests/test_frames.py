"""History as pandas: documented columns and dtypes (also when empty) and the values in them."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import hitl_notebook as hitl
from hitl_notebook._db.database import answers
from hitl_notebook._frames import AGENT_COLUMNS, DECISION_COLUMNS, HISTORY_COLUMNS, INBOX_COLUMNS
from tests.agents import Chooser, Editor, Reporter, Writer

pytestmark = pytest.mark.usefixtures("runtime")

FRAMES = {
    "agents": (hitl.agents, AGENT_COLUMNS),
    "history": (hitl.history, HISTORY_COLUMNS),
    "decisions": (hitl.decisions, DECISION_COLUMNS),
    "inbox": (lambda: hitl.inbox_frame(hitl.inbox()), INBOX_COLUMNS),
}


def _assert_schema(frame: pd.DataFrame, columns: dict[str, str]) -> None:
    assert list(frame.columns) == list(columns)
    for name, dtype in columns.items():
        assert str(frame[name].dtype) == dtype, name


@pytest.mark.parametrize("name", list(FRAMES))
def test_empty_frames_have_their_columns_and_dtypes(name: str) -> None:
    """On an empty database every frame still has its documented columns and dtypes."""
    make, columns = FRAMES[name]
    frame = make()
    assert frame.empty
    _assert_schema(frame, columns)


@pytest.mark.parametrize("name", list(FRAMES))
def test_frames_have_their_dtypes_with_data(name: str) -> None:
    """With runs of every kind, the dtypes are the documented ones."""
    _a_bit_of_everything()
    make, columns = FRAMES[name]
    frame = make()
    assert not frame.empty
    _assert_schema(frame, columns)
    for column, dtype in columns.items():
        if dtype.startswith("datetime64"):
            assert str(frame[column].dt.tz) == "UTC"


def test_agents_frame_shows_each_run_once_with_its_state() -> None:
    """One row per run: finished runs have an outcome; waiting ones count their open requests."""
    finished, waiting = _a_bit_of_everything()
    agents = hitl.agents().set_index("run_id")
    assert len(agents) == 4
    assert agents.loc[finished.id, "outcome"] == "finished"
    assert agents.loc[finished.id, "open_requests"] == 0
    assert pd.notna(agents.loc[finished.id, "finished"])
    row = agents.loc[waiting.id]
    assert (row["status"], row["open_requests"], row["run_state"]) == ("waiting", 1, "waiting")
    assert agents.loc[finished.id, "run_state"] == "done"
    assert pd.isna(row["outcome"]) and pd.isna(row["finished"])
    assert row["waiting_since"] >= row["started"]
    assert set(hitl.agents(agent="Writer")["run_id"]) == {waiting.id}


def test_history_frame_numbers_each_runs_transitions_in_order() -> None:
    """seq counts each run's transitions from 1, in the order they happened."""
    run = Reporter.start(2)
    run.result(timeout=30)
    frame = hitl.history(run.id)
    assert list(frame["seq"]) == [1, 2, 3, 4]
    assert list(frame["status"]) == ["working", "crunching", "crunching", "finished"]
    assert list(frame["progress"].fillna(-1)) == [-1, 0.5, 1.0, 1.0]
    assert frame["at"].is_monotonic_increasing


def test_decisions_frame_records_who_when_how_long_and_late_answers() -> None:
    """A human edit and a timeout with a refused late answer, as decision rows."""
    editor, late = Editor.start(), Chooser.start(0.5, "blue")
    editor.wait_for_request()
    hitl.respond(
        editor.id,
        approve=True,
        value={"order_id": "E-1", "amount": 9},
        by="ana",
        comment="less",
        channel="widget",
    )
    late.result(timeout=30)
    _record_late_answer(late.requests()[0].request_id)  # as the store records one
    frame = hitl.decisions().set_index("run_id")
    edit = frame.loc[editor.id]
    assert (edit["outcome"], edit["by"], edit["channel"], edit["comment"]) == (
        "edited",
        "ana",
        "widget",
        "less",
    )
    assert json.loads(edit["value"]) == {"order_id": "E-1", "amount": 9.0, "note": ""}
    assert json.loads(edit["proposal"]) == {"order_id": "E-1", "amount": 5.0, "note": ""}
    assert bool(edit["approved"]) and not edit["timed_out"]
    assert edit["wait"] == edit["answered_at"] - edit["requested_at"]
    timeout = frame.loc[late.id]
    assert (timeout["outcome"], json.loads(timeout["value"]), timeout["channel"]) == (
        "timed_out",
        "blue",
        "timeout",
    )
    assert timeout["timed_out"] and pd.isna(timeout["by"]) and timeout["late_answers"] == 1
    assert timeout["answered_at"] >= timeout["deadline"]


def _a_bit_of_everything() -> tuple[hitl.RunHandle, hitl.RunHandle]:
    finished = Chooser.start()
    finished.wait_for_request()
    hitl.respond(finished.id, choice="red")
    finished.result(timeout=30)
    failing = Chooser.start(0.3)
    waiting = Writer.start()
    waiting.wait_for_request()
    Reporter.start(1).result(timeout=30)
    with pytest.raises(hitl.RunFailedError):
        failing.result(timeout=30)
    return finished, waiting


def _record_late_answer(request_id: str) -> None:
    """A late answer, as the store records one when the deadline passed before it arrived."""
    with hitl.store().database.engine.begin() as conn:
        run_id = request_id.rsplit(".", 1)[0]
        conn.execute(
            answers.insert().values(
                request_id=request_id,
                run_id=run_id,
                received_at_ms=0,
                by="bo",
                channel="cli",
                answer={"choice": "red"},
                result="late",
            )
        )


def test_frames_of_an_unknown_run_are_an_error() -> None:
    """history('typo') and decisions('typo') say the run does not exist."""
    with pytest.raises(hitl.NotFoundError):
        hitl.history("no-such-run")
    with pytest.raises(hitl.NotFoundError):
        hitl.decisions("no-such-run")
