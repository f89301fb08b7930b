"""Building many objects at once without the cyclic garbage collector's pauses.

Reading 10,000 waiting requests makes some 30,000 tuples in a few milliseconds. With the
collector on, it runs every 700 of them, and each run moves the young tuples along its
generations until, every few reads, a full collection walks the whole heap (in a notebook kernel
with data frames loaded, that walk costs more than the read). None of these tuples is cyclic
garbage, so the collector is paused while they are built: the one collection after it looks at
each tuple once (and stops tracking those that hold only strings and numbers). Measured on a
whole inbox of 10,000 on SQLite: median 39 ms instead of 44, and no 64 ms reads (p90).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["collector_paused"]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector in the block, unless it is paused already (then the
    block leaves it so)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
