"""The frames leave the notebook unchanged (parquet, and CSV as `hitl ... --csv` writes it), and
build whatever text is stored, on both databases."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pandas as pd
import pytest
import sqlalchemy as sa
from pandas.testing import assert_frame_equal
from pydantic import BaseModel
from typer.testing import CliRunner

import hitl_notebook as hitl
from hitl_notebook._db.database import requests, runs, statuses
from hitl_notebook._frames import AGENT_COLUMNS, DECISION_COLUMNS, HISTORY_COLUMNS, INBOX_COLUMNS
from hitl_notebook._service.cli import app
from tests.agents import Assigned, Chooser, Editor, Reporter, Writer

pytestmark = pytest.mark.usefixtures("runtime")

Frame = Callable[[], pd.DataFrame]
FRAMES: dict[str, tuple[Frame, dict[str, str], list[str]]] = {
    "agents": (hitl.agents, AGENT_COLUMNS, ["agents", "--csv"]),
    "history": (hitl.history, HISTORY_COLUMNS, ["history", "--csv"]),
    "decisions": (hitl.decisions, DECISION_COLUMNS, ["decisions", "--csv"]),
    "inbox": (lambda: hitl.inbox_frame(hitl.inbox()), INBOX_COLUMNS, ["inbox", "--csv"]),
}


class Shipment(BaseModel):
    carrier: str
    days: int
    stops: list[str] = []


class Shipper(hitl.Agent):
    """An edit of a proposal whose model is not the Refund of tests.agents."""

    def run(self) -> str:
        return self.request_edit("Ship it?", Shipment(carrier="dhl", days=2)).outcome.value


def _mixed() -> None:
    """Decisions of every kind, two proposal models, a timeout, a failure; runs still waiting."""
    editor, shipper, chooser, writer = (
        Editor.start(),
        Shipper.start(),
        Chooser.start(),
        Writer.start(),
    )
    rejected = Assigned.start(["ana"], "Ship order 7?")
    for run in (editor, shipper, chooser, writer, rejected):
        run.wait_for_request()
    hitl.respond(editor.id, approve=True, value={"order_id": "E-1", "amount": 9}, by="ana")
    hitl.respond(shipper.id, approve=True, value={"carrier": "ups", "days": 1, "stops": ["a"]})
    hitl.respond(chooser.id, choice="green", by="bo", comment="ok")
    hitl.respond(writer.id, text='ship it\non Monday, "early"', by="cy")
    hitl.respond(rejected.id, approve=False, by="ana")
    Chooser.start(0.2, "blue").result(timeout=30)
    Reporter.start(2).result(timeout=30)
    Chooser.start().wait_for_request()
    Editor.start().wait_for_request()
    for run in (editor, shipper, chooser, writer, rejected):
        run.result(timeout=30)


def _all_na() -> None:
    """One waiting run and one decision without comment, deadline, proposal or approval."""
    Writer.start().wait_for_request()
    answered = Writer.start()
    answered.wait_for_request()
    hitl.respond(answered.id, text="yes", by="ana")
    answered.result(timeout=30)


SCENARIOS = {"mixed": _mixed, "empty": lambda: None, "all_na": _all_na}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_frame_survives_parquet_and_csv_unchanged(scenario: str, db_url: str) -> None:
    """to_parquet/read_parquet gives the same frame, dtypes included; the CSV of `hitl ... --csv`
    reads back to the same values (datetimes in ISO 8601, durations in seconds, JSON as text)."""
    SCENARIOS[scenario]()
    for name, (make, columns, command) in FRAMES.items():
        frame = make()
        assert frame.empty == (scenario == "empty"), name
        buffer = io.BytesIO()
        frame.to_parquet(buffer)
        buffer.seek(0)
        assert_frame_equal(pd.read_parquet(buffer), frame, obj=f"{name} from parquet")
        done = CliRunner().invoke(app, [*command, "--db", db_url])
        assert done.exit_code == 0, done.output
        assert_frame_equal(_from_csv(done.stdout, columns), frame, obj=f"{name} from CSV")


def test_json_columns_keep_each_rows_own_value(db_url: str) -> None:
    """Values of different kinds and proposal models are JSON text that reads back as they were."""
    _mixed()
    decisions = hitl.decisions().set_index("title")
    assert json.loads(decisions.loc["Fix the refund", "value"]) == {
        "order_id": "E-1",
        "amount": 9.0,
        "note": "",
    }
    assert json.loads(decisions.loc["Ship it?", "value"]) == {
        "carrier": "ups",
        "days": 1,
        "stops": ["a"],
    }
    assert json.loads(decisions.loc["Ship it?", "proposal"]) == {
        "carrier": "dhl",
        "days": 2,
        "stops": [],
    }
    assert json.loads(decisions.loc["Say something", "value"]) == 'ship it\non Monday, "early"'
    assert pd.isna(decisions.loc["Ship order 7?", "value"])
    assert set(decisions["outcome"]) == {"edited", "chose", "answered", "rejected", "timed_out"}
    inbox = hitl.inbox_frame(hitl.inbox()).set_index("kind")
    assert json.loads(inbox.loc["choice", "options"]) == ["red", "green", "blue"]
    assert json.loads(inbox.loc["choice", "assignees"]) == []
    assert json.loads(inbox.loc["edit", "proposal"])["order_id"] == "E-1"
    assert set(inbox["run_state"]) == {"waiting"}


def test_history_is_in_time_order_also_as_csv(db_url: str) -> None:
    """history() and `hitl history --csv` list transitions by time, whatever order they were
    written in (a process with a slower clock may write an earlier instant later)."""
    run = Reporter.start(2)
    run.result(timeout=30)
    first = hitl.history(run.id)["at"].iloc[0]
    with hitl.store().database.engine.begin() as conn:  # a transition written late, dated early
        conn.execute(
            statuses.insert().values(
                run_id=run.id,
                key="late-writer",
                agent="Reporter",
                status="noted",
                detail=None,
                progress=None,
                at_ms=int(first.timestamp() * 1000) - 1000,
            )
        )
    frame = hitl.history(run.id)
    assert list(frame["status"]) == ["noted", "working", "crunching", "crunching", "finished"]
    assert list(frame["seq"]) == [1, 2, 3, 4, 5]
    done = CliRunner().invoke(app, ["history", "--csv", "--db", db_url])
    assert done.exit_code == 0, done.output
    csv = _from_csv(done.stdout, HISTORY_COLUMNS)
    assert csv["at"].is_monotonic_increasing
    assert list(csv["status"]) == list(hitl.history()["status"])


# -- text that is not valid Unicode ------------------------------------------------------------

ODD = "\ud800"
"""A lone surrogate: not valid Unicode; JSON can carry it as an escape, UTF-8 cannot."""
STORABLE_ODD = "\uffff \u202eevil [red]markup[/red] \U0001f600 e\u0301"
"""Odd but valid text, which Postgres stores (it refuses lone surrogates and NUL in text)."""


def test_frames_and_cli_build_whatever_text_is_stored(db_url: str) -> None:
    """A lone surrogate in a stored answer or option label (JSON), or text that is not valid
    UTF-8 in a title, body, comment or status detail (SQLite; odd but valid text on Postgres),
    breaks no frame and no `hitl` command."""
    chooser, writer = Chooser.start(), Writer.start()
    request = writer.wait_for_request()
    hitl.respond(writer.id, text="fine", by="ana", comment="ok")
    writer.result(timeout=30)
    open_request = chooser.wait_for_request()
    engine = hitl.store().database.engine
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as conn:  # written straight into the tables, as an old version or tool
        conn.execute(
            requests.update()
            .where(requests.c.request_id == request.request_id)
            .values(value=f"say {ODD}")
        )
        conn.execute(
            requests.update()
            .where(requests.c.request_id == open_request.request_id)
            .values(options=["red", f"gr{ODD}en"])
        )
        if sqlite:  # bytes that are not UTF-8: ED A0 80 is "\ud800" as some tools write it
            bad = sa.cast(sa.literal(b"a\xed\xa0\x80b\xff"), sa.Text)
            for table, key, request_id in (
                (requests, requests.c.request_id, request.request_id),
                (requests, requests.c.request_id, open_request.request_id),
            ):
                conn.execute(table.update().where(key == request_id).values(title=bad, body=bad))
            conn.execute(
                requests.update()
                .where(requests.c.request_id == request.request_id)
                .values(comment=bad)
            )
            conn.execute(statuses.update().values(detail=bad))
            conn.execute(runs.update().values(detail=bad))
        else:
            conn.execute(requests.update().values(title=STORABLE_ODD, body=STORABLE_ODD))
            conn.execute(requests.update().values(comment=STORABLE_ODD))
            conn.execute(statuses.update().values(detail=STORABLE_ODD))
            conn.execute(runs.update().values(detail=STORABLE_ODD))
    shown = "a\ufffd\ufffd\ufffdb\ufffd" if sqlite else STORABLE_ODD

    decisions = hitl.decisions()
    assert json.loads(decisions.loc[0, "value"]) == f"say {ODD}"  # nothing lost inside JSON
    assert (decisions.loc[0, "title"], decisions.loc[0, "comment"]) == (shown, shown)
    inbox = hitl.inbox_frame(hitl.inbox())
    assert json.loads(inbox.loc[0, "options"]) == ["red", f"gr{ODD}en"]
    assert inbox.loc[0, "body"] == shown
    assert set(hitl.history()["detail"].dropna()) == {shown}
    assert set(hitl.agents()["detail"].dropna()) == {shown}
    for make, _, _ in FRAMES.values():
        make().to_parquet(io.BytesIO())
    with pd.option_context("mode.string_storage", "python"):  # pandas without pyarrow
        assert hitl.decisions().loc[0, "title"] == shown
        assert json.loads(hitl.inbox_frame(hitl.inbox()).loc[0, "options"])[1] == f"gr{ODD}en"

    runner = CliRunner()
    db = ["--db", db_url]
    for command in (
        ["decisions"],
        ["decisions", "--csv"],
        ["decisions", "--json"],
        ["agents"],
        ["history", "--csv"],
        ["inbox"],
        ["inbox", "--json"],
        ["show", open_request.request_id],
        ["show", writer.id],
        ["status", chooser.id],
    ):
        done = runner.invoke(app, [*command, *db])
        assert done.exit_code == 0, (command, done.output)
    shown_request = runner.invoke(app, ["show", open_request.request_id, *db]).stdout
    assert "red, gr\ufffden" in shown_request
    assert shown in shown_request
    as_json = json.loads(runner.invoke(app, ["decisions", "--json", *db]).stdout)
    assert as_json[0]["value"] == f"say {ODD}"


def _from_csv(text: str, columns: dict[str, str]) -> pd.DataFrame:
    """A frame read back from the CSV of `hitl ... --csv`, with the frame's documented dtypes."""
    raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    assert list(raw.columns) == list(columns)
    back = pd.DataFrame(index=raw.index)
    for name, dtype in columns.items():
        cells = raw[name].astype(object).where(raw[name].notna(), None)
        if dtype.startswith("datetime64"):
            back[name] = pd.to_datetime(cells, utc=True, format="ISO8601").astype(dtype)
        elif dtype.startswith("timedelta64"):
            milliseconds = (pd.to_numeric(cells) * 1000).round()
            back[name] = pd.to_timedelta(milliseconds, unit="ms").astype(dtype)
        elif dtype in {"bool", "boolean"}:
            back[name] = cells.map({"True": True, "False": False}).astype(dtype)
        else:
            back[name] = cells.astype(dtype)
    return back
