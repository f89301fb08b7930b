"""Where this code runs: in a Jupyter kernel, where widgets show, or in a plain interpreter; and
which notebook cell is executing (so a re-run cell replaces its widgets).

Cheap to import: IPython is looked up only when asked, and is optional outside notebooks.
"""

from __future__ import annotations

from typing import Any

__all__ = ["current_execution", "has_widget_frontend"]


def current_execution() -> tuple[str, str] | None:
    """The notebook cell being executed and the id of this execution, when the frontend says."""
    kernel = _kernel()
    if kernel is None:
        return None
    try:
        parent = kernel.get_parent("shell")
    except TypeError:  # ipykernel < 6.29 takes no channel
        parent = kernel.get_parent()
    parent = parent or {}
    cell: Any = parent.get("metadata", {}).get("cellId")
    execution: Any = parent.get("header", {}).get("msg_id")
    return (str(cell), str(execution)) if cell and execution else None


def has_widget_frontend() -> bool:
    """True inside a Jupyter kernel, where a widget can be shown (False in a plain interpreter)."""
    return _kernel() is not None


def _kernel() -> Any:
    try:
        from IPython import get_ipython  # noqa: PLC0415 - IPython is optional outside notebooks
    except ImportError:
        return None
    return getattr(get_ipython(), "kernel", None)
