"""Plots (hitl.plot): what each figure shows, on hand-built frames with hour-long waits and on
frames of real runs."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib.dates as mdates
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

import hitl_notebook as hitl
from hitl_notebook import plot
from tests.agents import Approver, Writer

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _decisions(rows: list[tuple[str, float, bool, bool | None]]) -> pd.DataFrame:
    """A decisions frame: (agent, wait in hours, timed out, approved), one asked every hour."""
    frame = pd.DataFrame(
        [
            {
                "agent": agent,
                "requested_at": T0 + timedelta(hours=i),
                "answered_at": T0 + timedelta(hours=i + wait),
                "timed_out": timed_out,
                "approved": approved,
            }
            for i, (agent, wait, timed_out, approved) in enumerate(rows)
        ]
    )
    frame["approved"] = frame["approved"].astype("boolean")
    return frame.assign(wait=frame["answered_at"] - frame["requested_at"])


HOURS = _decisions(
    [
        ("Refund", 1.0, False, True),
        ("Refund", 3.0, False, False),
        ("Refund", 4.0, True, False),
        ("Email", 0.5, False, True),
        ("Email", 1.5, False, True),
        ("Email", 2.5, False, None),
    ]
)


def _step_lines(figure: Figure) -> dict[str, Line2D]:
    axes = figure.axes[0]
    return {str(line.get_label()): line for line in axes.lines if line.get_linestyle() != "None"}


def _legend(figure: Figure, where: Any = None) -> list[str]:
    legend = (where or figure.axes[0]).get_legend()
    return [text.get_text() for text in legend.get_texts()]


def test_time_to_decision_draws_one_ecdf_per_agent_in_hours_and_marks_timeouts() -> None:
    """One step line per agent, its share of requests decided by a person rising to the share
    answered; timed-out requests are marked (x) and said not to count; the axis is in hours."""
    figure = plot.time_to_decision(HOURS)
    axes = figure.axes[0]
    lines = _step_lines(figure)
    assert sorted(lines) == ["Email (3 decided)", "Refund (2 decided)"]
    refund = lines["Refund (2 decided)"]
    assert list(refund.get_xdata()) == [0.0, 1.0, 3.0]
    assert list(refund.get_ydata()) == pytest.approx([0.0, 1 / 3, 2 / 3])
    assert list(lines["Email (3 decided)"].get_ydata())[-1] == pytest.approx(1.0)
    (marks,) = [line for line in axes.lines if line.get_marker() == "x"]
    assert list(marks.get_xdata()) == [4.0]
    assert list(marks.get_ydata()) == pytest.approx([2 / 3])
    assert marks.get_color() == refund.get_color()
    assert axes.get_xlabel() == "time to decision (hours)"
    assert axes.get_ylabel() == "share of requests decided by a person"
    assert "Refund: 1 timed out (x, not counted as decided)" in _legend(figure)


def test_time_to_decision_as_boxes_leaves_timeouts_out_and_says_so() -> None:
    """kind="box": one box per agent of the decided waits, labelled with its count."""
    figure = plot.time_to_decision(HOURS, kind="box")
    axes = figure.axes[0]
    labels = [tick.get_text() for tick in axes.get_xticklabels()]
    assert labels == ["Email\n(n=3)", "Refund\n(n=2)"]
    assert axes.get_ylabel() == "time to decision (hours)"
    assert _legend(figure) == ["timed out, left out: 1"]
    top = max(max(line.get_ydata(), default=0.0) for line in axes.lines)
    assert top == pytest.approx(3.0)  # the 4 h timeout is not among the boxes


def test_the_rows_of_what_if_forks_are_not_plotted_as_decisions() -> None:
    """A fork's rows (``forked_from`` set) repeat the original's or took no time: left out."""
    forked = pd.concat([HOURS.assign(forked_from=None), HOURS.assign(forked_from="orig.r1")])
    assert sorted(_step_lines(plot.time_to_decision(forked))) == [
        "Email (3 decided)",
        "Refund (2 decided)",
    ]
    counts = plot.approval_rate(forked, every="2h").axes[1]
    assert [p.get_height() for p in counts.patches] == [1, 1, 2]


@pytest.mark.parametrize(
    ("longest", "unit"),
    [
        (timedelta(seconds=90), "seconds"),
        (timedelta(minutes=45), "minutes"),
        (timedelta(days=3), "days"),
    ],
)
def test_the_time_axis_is_in_the_unit_the_waits_call_for(longest: timedelta, unit: str) -> None:
    """Seconds to days, chosen from the longest wait."""
    frame = _decisions([("A", 0.0, False, True)])
    frame = frame.assign(wait=[longest])
    assert plot.time_to_decision(frame).axes[0].get_xlabel() == f"time to decision ({unit})"


def test_timeline_draws_working_waiting_and_parked_segments_where_the_history_says() -> None:
    """Segments in their colours from each transition to the next; a wait longer than
    park_after turns parked; finished runs end with their marker, a running one at ``now``."""
    at = [T0 + timedelta(minutes=m) for m in (0, 5, 125, 135)]
    history = pd.DataFrame(
        {
            "run_id": ["done-1"] * 4 + ["failing"] * 2 + ["waits"] * 2,
            "agent": "Refund",
            "status": [
                *("working", "waiting", "resumed", "finished"),
                *("working", "failed"),
                *("working", "waiting"),
            ],
            "at": [*at, at[1], at[2], at[2], at[3]],
        }
    )
    now = T0 + timedelta(hours=4)
    figure = plot.timeline(history, park_after="30m", now=now)
    axes = figure.axes[0]
    bars = [
        (
            round(patch.get_y() + patch.get_height() / 2),
            _kind(patch),
            _at(patch.get_x()),
            _at(patch.get_x() + patch.get_width()),
        )
        for patch in axes.patches
        if isinstance(patch, Rectangle)
    ]
    minutes = [T0 + timedelta(minutes=m) for m in (0, 5, 35, 125, 135, 165, 240)]
    assert [(row, kind) for row, kind, _, _ in bars] == [
        (0, "working"),
        (0, "waiting"),
        (0, "parked"),
        (0, "working"),
        (1, "working"),
        (2, "working"),
        (2, "waiting"),
        (2, "parked"),
    ]
    extents = [(start, stop) for _, _, start, stop in bars]
    assert extents == (
        [
            (minutes[0], minutes[1]),
            (minutes[1], minutes[2]),
            (minutes[2], minutes[3]),
            (minutes[3], minutes[4]),
            (at[1], at[2]),
            (at[2], at[3]),
            (at[3], minutes[5]),
            (minutes[5], now),
        ]
    )
    ends = {str(line.get_label()): line for line in axes.lines}
    assert sorted(ends) == ["done", "failed"]
    assert _at(ends["done"].get_xdata()[0]) == at[3]
    assert list(ends["failed"].get_ydata()) == [1]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["done-1", "failing", "waits"]
    assert _legend(figure) == ["done", "failed", "working", "waiting", "parked"]
    assert axes.get_xlabel() == "time (UTC)"


def _at(x: float) -> pd.Timestamp:
    """A point of a date axis as a time, to the second."""
    return pd.Timestamp(mdates.num2date(x)).round("s")


def _kind(patch: Rectangle) -> str:
    (kind,) = [k for k, c in plot.SEGMENT_COLORS.items() if to_rgba(c) == patch.get_facecolor()]
    return kind


def test_timeline_shows_the_runs_asked_for_or_the_latest_ones() -> None:
    """``runs`` picks and orders the rows; ``limit`` keeps the runs that started last;
    park_after=None never parks."""
    history = pd.DataFrame(
        {
            "run_id": [f"run-{i}" for i in range(5) for _ in range(2)],
            "agent": "A",
            "status": ["working", "waiting"] * 5,
            "at": [T0 + timedelta(hours=i, minutes=m) for i in range(5) for m in (0, 1)],
        }
    )
    later = T0 + timedelta(hours=9)
    latest = plot.timeline(history, limit=2, park_after=None, now=later).axes[0]
    assert [t.get_text() for t in latest.get_yticklabels()] == ["run-3", "run-4"]
    assert {_kind(p) for p in latest.patches if isinstance(p, Rectangle)} == {"working", "waiting"}
    chosen = plot.timeline(history, runs=["run-4", "run-0"], now=later).axes[0]
    assert [t.get_text() for t in chosen.get_yticklabels()] == ["run-4", "run-0"]
    with pytest.raises(ValueError, match="no transitions of 'nope'"):
        plot.timeline(history, runs=["nope"])


def test_approval_rate_shows_the_rate_and_count_of_each_period() -> None:
    """Per period, a bar with the number of approvals and edits decided by people and a point
    at their approval rate; deadline decisions and other kinds are left out, and said so."""
    figure = plot.approval_rate(HOURS, every="2h")
    axes, counts = figure.axes
    heights = [p.get_height() for p in counts.patches if isinstance(p, Rectangle)]
    # Decided at 09:00 (approved) | 11:30 (approved) | 12:00 (rejected), 13:30 (approved);
    # 12:00 timed out, and a text answer at 15:30 is no approval.
    assert heights == [1, 1, 2]
    (rate,) = axes.lines
    assert list(rate.get_ydata()) == pytest.approx([1.0, 1.0, 0.5])
    starts = [_at(p.get_x()) for p in counts.patches if isinstance(p, Rectangle)]
    assert starts == [T0, T0 + timedelta(hours=2), T0 + timedelta(hours=4)]
    assert axes.get_ylabel() == "approval rate"
    assert counts.get_ylabel() == "decisions"
    assert axes.get_xlabel() == "time of the decision (UTC), per 2 hours"
    assert [t.get_text() for t in figure.legends[0].get_texts()] == [
        "approval rate",
        "decisions in the period",
        "decided by a deadline, not counted: 1",
    ]


def test_empty_frames_give_a_figure_that_says_so() -> None:
    """Nothing to plot is a figure with a sentence, not an error."""
    for figure, words in [
        (plot.time_to_decision(HOURS.iloc[:0]), "No decisions yet"),
        (plot.time_to_decision(HOURS.iloc[:0], kind="box"), "No decisions yet"),
        (plot.approval_rate(HOURS.iloc[:0]), "No approvals decided by a person yet"),
        (plot.timeline(pd.DataFrame(columns=["run_id", "status", "at"])), "No runs yet"),
    ]:
        (text,) = figure.axes[0].texts
        assert text.get_text().startswith(words)


def test_bad_arguments_are_refused_with_what_to_do() -> None:
    """A kind, column, limit or period that cannot be plotted is a clear error."""
    with pytest.raises(ValueError, match="'ecdf' or 'box'"):
        plot.time_to_decision(HOURS, kind="pie")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lacks the column"):
        plot.time_to_decision(HOURS, by="nope")
    with pytest.raises(TypeError, match="DataFrame"):
        plot.approval_rate([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 1"):
        plot.timeline(pd.DataFrame(columns=["run_id", "status", "at"]), limit=0)
    with pytest.raises(ValueError, match="positive"):
        plot.approval_rate(HOURS, every="0s")
    with pytest.raises(ValueError, match="duration"):
        plot.approval_rate(HOURS, every="hourly")


def test_plots_leave_no_pyplot_state_and_are_reachable_as_hitl_plot(tmp_path: Path) -> None:
    """Figures are made without pyplot (nothing to close, nothing shown); ``hitl.plot`` is the
    module; a figure renders without a display."""
    had_pyplot = "matplotlib.pyplot" in sys.modules
    plot.time_to_decision(HOURS).savefig(tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 0
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot
    assert hitl.plot is plot
    assert "plot" in dir(hitl)


def test_without_matplotlib_the_plot_module_names_the_extra() -> None:
    """Importing hitl_notebook.plot where matplotlib is missing says which extra brings it."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['matplotlib'] = None; import hitl_notebook.plot",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "pip install 'hitl-notebook[notebook]'" in done.stderr


@pytest.mark.usefixtures("runtime")
def test_plots_of_real_runs_show_each_agent_and_run(tmp_path: Path) -> None:
    """On the frames of runs answered in this test: a line per agent, a bar per run ending
    done, and the approval rate of the approvals."""
    approved = Approver.start("A-1", str(tmp_path / "count"))
    rejected = Approver.start("A-2", str(tmp_path / "count"))
    written = Writer.start()
    for run, answer in [
        (approved, {"approve": True}),
        (rejected, {"approve": False}),
        (written, {"text": "hello"}),
    ]:
        hitl.respond(run.wait_for_request().request_id, by="tester", **answer)
        run.result(timeout=30)

    lines = _step_lines(plot.time_to_decision())
    assert sorted(lines) == ["Approver (2 decided)", "Writer (1 decided)"]
    assert plot.time_to_decision().axes[0].get_xlabel() == "time to decision (seconds)"

    runs = [approved.id, rejected.id, written.id]
    axes = plot.timeline(runs=runs).axes[0]
    assert [t.get_text() for t in axes.get_yticklabels()] == [f"{r[:10]}…{r[-8:]}" for r in runs]
    (done,) = axes.lines
    assert (done.get_label(), list(done.get_ydata())) == ("done", [0, 1, 2])
    rows = {round(p.get_y() + p.get_height() / 2) for p in axes.patches}
    assert rows == {0, 1, 2}
    assert "waiting" in {_kind(p) for p in axes.patches if isinstance(p, Rectangle)}

    rate_axes, counts = plot.approval_rate(every="1d").axes
    assert [p.get_height() for p in counts.patches] == [2]
    assert list(rate_axes.lines[0].get_ydata()) == [0.5]
