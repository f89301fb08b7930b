"""Shared fixtures: every core test runs against a fresh SQLite file and a fresh Postgres database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hitl_notebook import Runtime, testing
from tests.kernels import Kernels


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a new database of each kind, with the tables a first launch makes."""
    url = testing.fresh_database(request.param, prepared=True)
    yield url
    testing.drop_database(url)


@pytest.fixture
def runtime(db_url: str) -> Iterator[Runtime]:
    """The runtime launched on a fresh database, shut down after the test."""
    with testing.launched(db_url, executor="pytest") as launched:
        yield launched


@pytest.fixture
def hot_runtime(db_url: str) -> Iterator[Runtime]:
    """The runtime with waits that never park, for tests that read DBOS's PENDING state."""
    with testing.launched(db_url, executor="pytest", park_after=None) as launched:
        yield launched


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep the embedded default database and config lookups away from the developer's files."""
    home = tmp_path_factory.mktemp("hitl-home")
    monkeypatch.setenv("HITL_HOME", str(home))
    monkeypatch.delenv("HITL_DATABASE_URL", raising=False)
    monkeypatch.delenv("DBOS_SYSTEM_DATABASE_URL", raising=False)
    monkeypatch.delenv("HITL_EXECUTOR", raising=False)


@pytest.fixture
def kernels(db_url: str, tmp_path: Path) -> Iterator[Kernels]:
    """Child processes playing kernels on the test's database; killed at the end of the test."""
    launched = Kernels(db_url, tmp_path)
    yield launched
    launched.close()
