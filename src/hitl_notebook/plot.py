"""Plots that read at a glance, over the frames (``hitl.decisions()``, ``hitl.history()``).

>>> import hitl_notebook as hitl
>>> hitl.plot.time_to_decision()            # ECDF of time to decision per agent
>>> hitl.plot.timeline(limit=20)            # one bar per run: working, waiting, parked
>>> hitl.plot.approval_rate(every="1d")     # approval rate per day, with the counts

Each function takes a frame (default: the default store's) and returns a
``matplotlib.figure.Figure`` built on its own (no pyplot, nothing shown, no global state):
display it in a notebook, save it with ``fig.savefig(...)``. A frame with nothing to plot gives a
figure that says so. Times are in the units the data calls for (seconds to days).

Needs matplotlib (the ``notebook`` extra). In a notebook where pyplot was never imported, the
figures still show as images: importing this module registers how (IPython's PNG formatter).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

import pandas as pd

from hitl_notebook._core.extras import extra_required
from hitl_notebook._core.models import FINAL_STATUSES, Status
from hitl_notebook._core.times import Duration, duration_seconds
from hitl_notebook._frames import decisions as decisions_frame
from hitl_notebook._frames import history as history_frame
from hitl_notebook._runtime.defaults import DEFAULT_PARK_AFTER

with extra_required("hitl_notebook.plot", "matplotlib", "notebook", "matplotlib"):
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import PercentFormatter

__all__ = [
    "FINISH_MARKERS",
    "SEGMENT_COLORS",
    "approval_rate",
    "time_to_decision",
    "time_unit",
    "timeline",
]

SEGMENT_COLORS = {"working": "#4c72b0", "waiting": "#dd8452", "parked": "#b8b8b8"}
"""The colour of each kind of segment of ``timeline``: the run works, waits for a person
(hot: an answer resumes it at once), or waits parked (holding nothing)."""
FINISH_MARKERS = {
    Status.FINISHED.value: ("done", "o", "#2ca02c"),
    Status.FAILED.value: ("failed", "X", "#d62728"),
    Status.CANCELLED.value: ("cancelled", "s", "#7f7f7f"),
}
"""How ``timeline`` marks the end of a run, by its final status: the word, the marker, the colour."""

_UNITS = (("seconds", 1.0), ("minutes", 60.0), ("hours", 3600.0), ("days", 86400.0))
_WAITING = {Status.WAITING.value, Status.ANSWERED.value}
"""Statuses that begin a wait for a person (answered: while the run's process was down)."""
_SIZE = (8.0, 4.5)


def time_unit(seconds: float) -> tuple[str, float]:
    """The unit to show durations up to ``seconds`` in, and its length in seconds: the largest
    of seconds, minutes, hours and days that the longest one fills at least twice."""
    chosen = _UNITS[0]
    for unit in _UNITS:
        if seconds >= 2 * unit[1]:
            chosen = unit
    return chosen


def time_to_decision(
    decisions: pd.DataFrame | None = None,
    *,
    by: str = "agent",
    kind: Literal["ecdf", "box"] = "ecdf",
) -> Figure:
    """How long requests waited for their decision, per ``by`` (a column of ``hitl.decisions()``).

    ``kind="ecdf"``: one step line per group, the share of its requests decided by a person
    within each time; requests that timed out never count as decided (the line stops short of
    100 %) and are marked with an x at their wait. ``kind="box"``: one box per group of the waits
    of decided requests; timed-out ones are left out (the legend says how many). The rows of
    what-if forks are left out too (see ``_people_decided``).
    """
    frame = decisions_frame() if decisions is None else decisions
    _require(frame, "decisions", {"wait", "timed_out", by})
    frame = _people_decided(frame)
    if kind not in ("ecdf", "box"):
        raise ValueError(f"kind is 'ecdf' or 'box', not {kind!r}")
    if frame.empty:
        return _nothing("No decisions yet: nothing to plot.")
    waits = frame["wait"].dt.total_seconds()
    unit, seconds = time_unit(float(waits.max()))
    groups = [
        (str(name), waits[rows.index] / seconds, rows["timed_out"].astype(bool))
        for name, rows in frame.groupby(frame[by].astype(str), sort=True)
    ]
    figure, axes = _figure()
    if kind == "ecdf":
        _ecdf(axes, groups)
        axes.set_xlabel(f"time to decision ({unit})")
        axes.set_ylabel("share of requests decided by a person")
    else:
        _boxes(axes, groups)
        axes.set_xlabel(by)
        axes.set_ylabel(f"time to decision ({unit})")
    axes.set_title(f"Time to decision by {by}")
    return figure


def _ecdf(axes: Any, groups: list[tuple[str, pd.Series[float], pd.Series[bool]]]) -> None:
    for name, waits, timed_out in groups:
        decided = waits[~timed_out].sort_values().to_numpy()
        total = len(waits)
        shares = [(i + 1) / total for i in range(len(decided))]
        (line,) = axes.step(
            [0.0, *decided],
            [0.0, *shares],
            where="post",
            label=f"{name} ({len(decided)} decided)",
        )
        late = waits[timed_out].to_numpy()
        if len(late):
            axes.plot(
                late,
                [len(decided) / total] * len(late),
                "x",
                color=line.get_color(),
                markersize=8,
                label=f"{name}: {len(late)} timed out (x, not counted as decided)",
            )
    axes.set_ylim(0, 1.05)
    axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_xlim(left=0)
    axes.legend(loc="lower right", fontsize="small")


def _boxes(axes: Any, groups: list[tuple[str, pd.Series[float], pd.Series[bool]]]) -> None:
    kept = [(name, waits[~timed_out]) for name, waits, timed_out in groups]
    kept = [(name, waits) for name, waits in kept if len(waits)]
    if kept:
        axes.boxplot([waits.to_numpy() for _, waits in kept])
        axes.set_xticks(range(1, len(kept) + 1))
        axes.set_xticklabels([f"{name}\n(n={len(waits)})" for name, waits in kept])
    left_out = sum(int(timed_out.sum()) for _, _, timed_out in groups)
    note = f"timed out, left out: {left_out}" if left_out else "none timed out"
    axes.legend(handles=[_note(note)], loc="upper right", handlelength=0, handletextpad=0)


def timeline(
    history: pd.DataFrame | None = None,
    *,
    runs: Iterable[str] | None = None,
    limit: int = 30,
    park_after: Duration | None = DEFAULT_PARK_AFTER,
    now: datetime | None = None,
) -> Figure:
    """One bar per run over time, in segments: working, waiting for a person, and parked.

    A run waits from its "waiting" (or "answered") status to the next one; the part of a wait
    past ``park_after`` (the runtime's setting, ``hitl.launch(park_after=...)``; None: runs
    never park) is drawn parked. A finished run's bar ends with a marker (done, failed,
    cancelled); one still going ends at ``now`` (default: the current time). ``runs``: the run
    ids to show, in order; else the ``limit`` runs that started last, oldest at the top.
    """
    frame = history_frame() if history is None else history
    _require(frame, "history", {"run_id", "status", "at"})
    if limit < 1:
        raise ValueError(f"limit is a number of runs, at least 1, not {limit!r}")
    park_s = None if park_after is None else duration_seconds(park_after, what="park_after")
    end = pd.Timestamp(now if now is not None else pd.Timestamp.now(tz="UTC"))
    ordered = frame.sort_values("at", kind="stable")
    chosen = _chosen_runs(ordered, runs, limit)
    if not chosen:
        return _nothing("No runs yet: nothing to plot.")
    figure, axes = _figure(height=max(2.5, 0.4 * len(chosen) + 1.5))
    finishes: dict[str, list[tuple[float, int]]] = {}
    labelled: set[str] = set()
    for row, run_id in enumerate(chosen):
        transitions = ordered[ordered["run_id"] == run_id]
        times = list(transitions["at"])
        statuses = [str(status) for status in transitions["status"]]
        for start, stop, status in zip(times, [*times[1:], None], statuses, strict=True):
            if status in FINAL_STATUSES:
                finishes.setdefault(status, []).append((_x(start), row))
                break
            for kind, left, right in _segments(status, start, stop or end, park_s):
                axes.barh(
                    row,
                    _x(right) - _x(left),
                    left=_x(left),
                    height=0.6,
                    color=SEGMENT_COLORS[kind],
                    label=None if kind in labelled else kind,
                )
                labelled.add(kind)
    for status, points in finishes.items():
        word, marker, colour = FINISH_MARKERS[status]
        xs, ys = zip(*points, strict=True)
        axes.plot(xs, ys, marker, color=colour, markersize=8, linestyle="none", label=word)
    axes.set_yticks(range(len(chosen)))
    axes.set_yticklabels([_short(run_id) for run_id in chosen])
    axes.invert_yaxis()
    _dates_on_x(axes)
    axes.set_xlabel("time (UTC)")
    axes.set_ylabel("run")
    axes.set_title("Runs over time: working, waiting for a person, parked")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return figure


def _chosen_runs(ordered: pd.DataFrame, runs: Iterable[str] | None, limit: int) -> list[str]:
    known = list(dict.fromkeys(str(run_id) for run_id in ordered["run_id"]))
    if runs is None:
        return known[-limit:]
    wanted = [str(run_id) for run_id in runs]
    missing = [run_id for run_id in wanted if run_id not in known]
    if missing:
        raise ValueError(f"The history has no transitions of {', '.join(map(repr, missing))}.")
    return wanted


def _segments(
    status: str, start: pd.Timestamp, stop: pd.Timestamp, park_s: float | None
) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
    """The segments from one transition to the next: working, or a wait (parked past park_s)."""
    if stop <= start:
        return []
    if status not in _WAITING:
        return [("working", start, stop)]
    if park_s is None or stop - start <= pd.Timedelta(seconds=park_s):
        return [("waiting", start, stop)]
    parks = start + pd.Timedelta(seconds=park_s)
    return [("waiting", start, parks), ("parked", parks, stop)]


def approval_rate(decisions: pd.DataFrame | None = None, *, every: Duration = "1h") -> Figure:
    """The share of approvals and edits that people approved, per period of ``every`` (by the
    time of the decision), with the number of decisions of each period as bars. Decisions taken
    by a deadline are not counted (the legend says how many), nor the rows of what-if forks
    (see ``_people_decided``)."""
    frame = decisions_frame() if decisions is None else decisions
    _require(frame, "decisions", {"approved", "answered_at", "timed_out"})
    frame = _people_decided(frame)
    period_s = duration_seconds(every, what="every")
    if period_s <= 0:
        raise ValueError(f"every must be a positive duration, not {every!r}")
    asked = frame[frame["approved"].notna()]
    timed_out = asked["timed_out"].astype(bool)
    counted = asked[~timed_out]
    if counted.empty:
        return _nothing("No approvals decided by a person yet: nothing to plot.")
    period = pd.Timedelta(seconds=period_s)
    starts = counted["answered_at"].dt.floor(period)
    per_period = (
        counted.assign(start=starts, approved=counted["approved"].astype(bool))
        .groupby("start")["approved"]
        .agg(["count", "sum"])
    )
    figure, axes = _figure()
    counts_axes = axes.twinx()
    width = _x(per_period.index[0] + period) - _x(per_period.index[0])
    lefts = [_x(start) for start in per_period.index]
    bars = counts_axes.bar(
        lefts, per_period["count"], width=0.9 * width, align="edge", color="#dddddd"
    )
    bars.set_label("decisions in the period")
    counts_axes.bar_label(bars, fmt="%d", fontsize="small")
    counts_axes.set_ylabel("decisions")
    counts_axes.set_ylim(0, per_period["count"].max() * 1.25)
    axes.set_zorder(counts_axes.get_zorder() + 1)
    axes.patch.set_visible(False)
    rates = per_period["sum"] / per_period["count"]
    centres = [left + width / 2 for left in lefts]
    axes.plot(centres, rates, "o-", color=SEGMENT_COLORS["working"], label="approval rate")
    axes.set_ylim(0, 1.05)
    axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_ylabel("approval rate")
    _dates_on_x(axes)
    axes.set_xlabel(f"time of the decision (UTC), per {_period_words(period_s)}")
    axes.set_title("Approval rate over time")
    handles = [*axes.get_legend_handles_labels()[0], bars]
    if int(timed_out.sum()):
        note = f"decided by a deadline, not counted: {int(timed_out.sum())}"
        handles.append(_note(note))
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize="small")
    return figure


def _period_words(seconds: float) -> str:
    unit, length = time_unit(seconds)
    if seconds < 2 * length:
        return unit.removesuffix("s")
    amount = seconds / length
    return f"{amount:g} {unit}"


def _note(text: str) -> Line2D:
    """A legend entry that is only text."""
    return Line2D([], [], linestyle="none", label=text)


def _x(time: Any) -> float:
    """A time as matplotlib places it on a date axis (days since its epoch)."""
    return float(mdates.date2num(time))  # type: ignore[no-untyped-call]


def _dates_on_x(axes: Any) -> None:
    axes.xaxis_date(tz="UTC")
    locator = axes.xaxis.get_major_locator()
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _people_decided(frame: pd.DataFrame) -> pd.DataFrame:
    """The decisions without the rows of what-if forks (``forked_from`` set): those repeat the
    original's decisions, or (the answer given to the fork) took nobody's time."""
    if "forked_from" not in frame.columns:
        return frame
    return frame[frame["forked_from"].isna()]


def _require(frame: pd.DataFrame, name: str, columns: set[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} is a DataFrame as hitl.{name}() makes, not {type(frame).__name__}")
    missing = sorted(columns - set(frame.columns))
    if missing:
        raise ValueError(
            f"{name} lacks the column(s) {', '.join(missing)}: give a frame as hitl.{name}() "
            "makes (filtered rows are fine)."
        )


def _figure(height: float = _SIZE[1]) -> tuple[Figure, Any]:
    figure = Figure(figsize=(_SIZE[0], height), layout="constrained")
    return figure, figure.subplots()


def _nothing(message: str) -> Figure:
    figure, axes = _figure(height=2.0)
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes)
    axes.set_axis_off()
    return figure


def _short(run_id: str) -> str:
    """A run id short enough for a row label: its start and end (as a uuid is recognised)."""
    return run_id if len(run_id) <= 24 else f"{run_id[:10]}…{run_id[-8:]}"


def _show_in_notebooks() -> None:
    """Let IPython show a Figure as a PNG where pyplot (which registers it) was never imported."""
    try:
        from IPython import get_ipython  # noqa: PLC0415 - only where IPython runs
    except ModuleNotFoundError:
        return
    shell = get_ipython()
    if shell is None:
        return
    formatter = shell.display_formatter.formatters["image/png"]
    try:
        formatter.lookup_by_type(Figure)
    except KeyError:
        formatter.for_type(Figure, _png)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


_show_in_notebooks()
