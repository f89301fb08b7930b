"""pytest fixtures for testing agents, registered with pytest when hitl_notebook is installed
(the ``pytest11`` entry point): nothing to put in a ``conftest.py``.

- ``hitl_database``: the URL of a fresh database with the tables made: SQLite, or Postgres with
  ``pytest --hitl-database=postgres`` or ``HITL_TEST_DATABASE=postgres`` (on the server
  ``$HITL_TEST_POSTGRES_URL``, dropped after the test);
- ``hitl_clock``: a ``testing.Clock``, back on real time after the test;
- ``hitl_runtime``: the runtime launched on ``hitl_database``, shut down after the test;
- ``hitl_human``: a ``testing.Human`` answering on that runtime, on that clock.

>>> def test_small_refunds_pass(hitl_runtime, hitl_human):
...     hitl_human.approve(when=lambda r: r.proposal["amount"] < 100)
...     assert hitl_human.run_until(RefundAgent.start("A-1")) == "approved"

No fixture is autouse, and this module imports nothing of hitl_notebook until a test asks for
a fixture.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal, cast

import pytest

if TYPE_CHECKING:
    from hitl_notebook._runtime.launch import Runtime
    from hitl_notebook.testing import Clock, Human

ENV_DATABASE = "HITL_TEST_DATABASE"
KINDS = ("sqlite", "postgres")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--hitl-database``."""
    parser.getgroup("hitl_notebook").addoption(
        "--hitl-database",
        choices=KINDS,
        default=None,
        help=f"the database hitl_notebook's fixtures test on (default ${ENV_DATABASE}, else sqlite)",
    )


@pytest.fixture
def hitl_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh database with hitl_notebook's tables (dropped after the test)."""
    from hitl_notebook.testing import drop_database, fresh_database  # noqa: PLC0415 - see above

    kind = request.config.getoption("hitl_database") or os.environ.get(ENV_DATABASE) or "sqlite"
    if kind not in KINDS:
        raise pytest.UsageError(f"{ENV_DATABASE}={kind!r}: say one of {', '.join(KINDS)}.")
    url = fresh_database(cast("Literal['sqlite', 'postgres']", kind), prepared=True)
    yield url
    drop_database(url)


@pytest.fixture
def hitl_clock() -> Iterator[Clock]:
    """This process's clock, to move forward; back on real time after the test."""
    from hitl_notebook.testing import Clock  # noqa: PLC0415 - see the module's docstring

    with Clock() as clock:
        yield clock


@pytest.fixture
def hitl_runtime(hitl_database: str, hitl_clock: Clock) -> Iterator[Runtime]:
    """The runtime launched on ``hitl_database`` (on ``hitl_clock``), shut down after the test."""
    from hitl_notebook.testing import launched  # noqa: PLC0415 - see the module's docstring

    with launched(hitl_database, executor="pytest") as runtime:
        yield runtime


@pytest.fixture
def hitl_human(hitl_runtime: Runtime, hitl_clock: Clock) -> Human:
    """A simulated human answering on ``hitl_runtime``, reading ``hitl_clock``; give it rules."""
    from hitl_notebook.testing import Human  # noqa: PLC0415 - see the module's docstring

    return Human(by="tester", clock=hitl_clock, store=hitl_runtime.store)
