"""Testing agents against a real, throwaway database, with a simulated human and a clock a test
moves forward (our own tests use them too; ``temporalio.testing`` is the model).

>>> from hitl_notebook import testing
>>> url = testing.fresh_database("sqlite")
>>> with testing.Clock() as clock, testing.launched(url):
...     human = testing.Human(by="alice", clock=clock)
...     human.approve(when=lambda r: r.proposal["amount"] < 100).ignore()
...     run = RefundAgent.start("A-1")             # asks with timeout="4h"
...     outcome = human.run_until(run)              # the 4 hours pass in about a second

- ``fresh_database``, ``drop_database``, ``launched``, ``wait_until``, ``wait_for_request``:
  databases and the runtime (``_databases``);
- ``Clock``: this process's clock, moved forward (``_clock``);
- ``Human``, ``Answered``, ``match``: the simulated human and its rules (``_human``, ``_rules``);
- ``pytest_plugin``: the fixtures ``hitl_database``, ``hitl_runtime``, ``hitl_clock`` and
  ``hitl_human``, registered with pytest when the package is installed.

The names load on first use (as ``hitl_notebook``'s do): pytest imports the plugin in every
test session, which must not pay for SQLAlchemy and DBOS before a test asks for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # loaded on first use: see _LAZY
    from hitl_notebook.testing._clock import Clock
    from hitl_notebook.testing._databases import (
        DEFAULT_POSTGRES_URL,
        drop_database,
        fresh_database,
        launched,
        wait_for_request,
        wait_until,
    )
    from hitl_notebook.testing._human import Answered, Human
    from hitl_notebook.testing._rules import match

__all__ = [
    "DEFAULT_POSTGRES_URL",
    "Answered",
    "Clock",
    "Human",
    "drop_database",
    "fresh_database",
    "launched",
    "match",
    "wait_for_request",
    "wait_until",
]

_LAZY: dict[str, tuple[str, ...]] = {
    "hitl_notebook.testing._clock": ("Clock",),
    "hitl_notebook.testing._databases": (
        "DEFAULT_POSTGRES_URL",
        "drop_database",
        "fresh_database",
        "launched",
        "wait_for_request",
        "wait_until",
    ),
    "hitl_notebook.testing._human": ("Answered", "Human"),
    "hitl_notebook.testing._rules": ("match",),
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    """A public name, imported on first use (PEP 562)."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})
