"""Tables that fit the terminal: ids and times whole, text wrapped, and when even that does not
fit, the least useful columns left out (and named under the table).

A column has a role: ``id`` and ``time`` cells are never wrapped or cut (people copy ids into the
next command); ``short`` cells (a kind, a count, a duration) are not wrapped either; ``text``
cells wrap within the room the others leave, down to ``TEXT_MIN`` characters. Columns are laid
out in the order given (long text before timestamps reads best); ``keep`` says which to leave
out first when the table would be wider than the terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

__all__ = ["TEXT_MIN", "Column", "fitted_table", "hidden_note"]

TEXT_MIN = 12
"""The narrowest a text column gets before columns are left out."""
_GAP = 2
"""Characters between two columns."""

Role = Literal["id", "time", "short", "text"]


@dataclass(frozen=True)
class Column:
    """One column of a table for people."""

    header: str
    role: Role = "text"
    keep: int = 50
    """Higher is more important: columns with the lowest ``keep`` are left out first."""
    right: bool = False
    """Right-justified (numbers and durations)."""


def fitted_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Text]],
    width: int,
    styles: Sequence[str | None] = (),
) -> tuple[Table, list[str]]:
    """A table of ``rows`` at most ``width`` wide, and the headers of the columns left out.

    ``styles``: a style per row (e.g. red for overdue requests), in the order of ``rows``.
    """
    needs = [_need(column, [row[i] for row in rows]) for i, column in enumerate(columns)]
    shown = _fitting(columns, needs, width)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for i in shown:
        column = columns[i]
        whole = column.role != "text"
        table.add_column(
            column.header,
            no_wrap=whole,
            min_width=needs[i] if whole else None,
            overflow="fold",
            justify="right" if column.right else "left",
        )
    for index, row in enumerate(rows):
        style = styles[index] if index < len(styles) else None
        table.add_row(*(row[i] for i in shown), style=style)
    return table, [columns[i].header for i in range(len(columns)) if i not in shown]


def _fitting(columns: Sequence[Column], needs: Sequence[int], width: int) -> list[int]:
    """The columns to show: the most important ones that fit, in their order."""

    def room(shown: list[int]) -> int:
        return width - sum(needs[i] for i in shown) - _GAP * (len(shown) - 1)

    by_importance = sorted(range(len(columns)), key=lambda i: (-columns[i].keep, i))
    shown = list(by_importance)
    while len(shown) > 1 and room(shown) < 0:
        shown.pop()  # the least important
    for i in by_importance[len(shown) :]:  # a narrow one left out may still fit
        if room([*shown, i]) >= 0:
            shown.append(i)
    return sorted(shown)


def _need(column: Column, cells: Sequence[Text]) -> int:
    """The width a column cannot do without: all of it, or ``TEXT_MIN`` of a text column."""
    natural = max([len(column.header), *(_widest_line(cell) for cell in cells)])
    return min(natural, TEXT_MIN) if column.role == "text" else natural


def _widest_line(cell: Text) -> int:
    return max((line.cell_len for line in cell.split("\n")), default=0)


def hidden_note(hidden: Sequence[str], where: str) -> list[RenderableType]:
    """A line naming the columns a narrow terminal left out, and ``where`` to see them (no
    column left out: no line)."""
    if not hidden:
        return []
    return [Text(f"Hidden at this width: {', '.join(hidden)} (see {where}).", style="dim")]
