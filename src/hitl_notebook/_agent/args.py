"""The arguments of one run among many (``Agent.start_many``), and the runs they make.

A run's arguments are a tuple of positional arguments, or ``hitl.Args(*args, **kwargs)`` when
it takes keywords too. Each run gets its run id (given, or a new one) and its arguments pickled
as the one workflow's input (``_store.queueing.encode_payload``), all before anything is
written: a bad item or an argument that cannot be stored fails the whole call at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from hitl_notebook._core.values import check_text
from hitl_notebook._store.queueing import encode_payload

__all__ = ["Args", "planned_runs"]


class Args:
    """The arguments of one run, for ``Agent.start_many``.

    >>> RefundAgent.start_many([hitl.Args("A-1", amount=30), hitl.Args("A-2", amount=12)])
    >>> RefundAgent.start_many([("A-1",), ("A-2",)])        # positional arguments only
    """

    __slots__ = ("args", "kwargs")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs

    def __repr__(self) -> str:
        shown = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"Args({', '.join(shown)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Args):
            return NotImplemented
        return (self.args, self.kwargs) == (other.args, other.kwargs)

    __hash__ = None  # type: ignore[assignment]  # holds arguments, which may be unhashable


def planned_runs(
    calls: Iterable[tuple[Any, ...] | Args], run_ids: Sequence[str] | None
) -> list[tuple[str, str]]:
    """``(run id, pickled arguments)`` for each call, in order; raises TypeError or ValueError
    for a bad call or run id."""
    items = list(calls)
    if isinstance(run_ids, str) or (run_ids is not None and len(run_ids) != len(items)):
        raise ValueError(
            f"Give one run id per run ({len(items)}) in a list, or run_ids=None for new ids."
        )
    ids = list(run_ids) if run_ids is not None else [str(uuid.uuid4()) for _ in items]
    seen: set[str] = set()
    for run_id in ids:
        if not isinstance(run_id, str):
            raise TypeError(f"A run id is a string, not {type(run_id).__name__}: {run_id!r}")
        check_text(run_id, "run_id")
        if not run_id.strip():
            raise ValueError("A run id cannot be empty.")
        if run_id in seen:
            raise ValueError(f"Run id {run_id!r} is given twice; each run needs its own.")
        seen.add(run_id)
    return [(run_id, _payload(run_id, item)) for run_id, item in zip(ids, items, strict=True)]


def _payload(run_id: str, item: tuple[Any, ...] | Args) -> str:
    if isinstance(item, Args):
        args, kwargs = item.args, item.kwargs
    elif isinstance(item, tuple):
        args, kwargs = item, {}
    else:
        raise TypeError(
            "Each run of start_many is a tuple of positional arguments or hitl.Args(*args, **kwargs),"
            f" not {type(item).__name__}: {item!r}. For one argument each, write [(x,) for x in xs]."
        )
    try:
        return encode_payload(args, kwargs)
    except Exception as error:  # pickle's errors vary: a lambda, a lock, a local class...
        raise TypeError(
            f"The arguments of run {run_id!r} cannot be stored (they are pickled): {error}"
        ) from error
