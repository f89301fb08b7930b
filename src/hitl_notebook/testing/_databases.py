"""Throwaway databases, and the runtime launched on one for the length of a block."""

from __future__ import annotations

import atexit
import os
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal, TypeVar

import sqlalchemy as sa
from dbos import DBOS

from hitl_notebook._agent.handle import RunHandle
from hitl_notebook._core.models import Request
from hitl_notebook._core.times import Duration
from hitl_notebook._db.database import Database
from hitl_notebook._runtime.defaults import DEFAULT_PARK_AFTER, DEFAULT_SCHEDULE_EVERY
from hitl_notebook._runtime.launch import Runtime, launch, shutdown

__all__ = [
    "DEFAULT_POSTGRES_URL",
    "drop_database",
    "fresh_database",
    "launched",
    "wait_for_request",
    "wait_until",
]

T = TypeVar("T")

DEFAULT_POSTGRES_URL = os.environ.get(
    "HITL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
"""The Postgres server tests create their databases on (``$HITL_TEST_POSTGRES_URL``)."""


def fresh_database(
    kind: Literal["sqlite", "postgres"],
    *,
    server: str = DEFAULT_POSTGRES_URL,
    prepared: bool = False,
) -> str:
    """The URL of a new database: a SQLite file in a temp dir, or a Postgres database.

    Empty, unless ``prepared``: then it already holds DBOS's and hitl_notebook's tables, as a
    first launch leaves them, copied from a template made once per process (launching on it
    skips DBOS's migrations: a test suite's many databases are ready in a fraction of the time).
    """
    if kind == "sqlite":
        path = os.path.join(tempfile.mkdtemp(prefix="hitl-test-"), "hitl.sqlite")
        if prepared:
            _copy_sqlite(_template("sqlite", server), path)
        return f"sqlite:///{path}"
    name = f"hitl_test_{uuid.uuid4().hex[:12]}"
    template = _template("postgres", server) if prepared else None
    _create_postgres(server, name, template=None if template is None else sa.make_url(template))
    return sa.make_url(server).set(database=name).render_as_string(hide_password=False)


_templates: dict[tuple[str, str], str] = {}
_templates_lock = threading.Lock()


def _template(kind: Literal["sqlite", "postgres"], server: str) -> str:
    """This process's prepared template database of ``kind`` (made on first use)."""
    with _templates_lock:
        if (kind, server) not in _templates:
            url = fresh_database(kind, server=server)
            DBOS.migrate(url)
            Database(url, create=True).close()
            _templates[kind, server] = url
            if kind == "postgres":
                atexit.register(drop_database, url)
        return _templates[kind, server]


def _copy_sqlite(template_url: str, path: str) -> None:
    source = sqlite3.connect(sa.make_url(template_url).database or "")
    target = sqlite3.connect(path)
    with source, target:
        source.backup(target)
    source.close()
    target.close()


def _create_postgres(server: str, name: str, *, template: sa.URL | None) -> None:
    admin = sa.create_engine(
        sa.make_url(server).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    copy = "" if template is None else f' TEMPLATE "{template.database}"'
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"{copy}'))
    admin.dispose()


def drop_database(url: str) -> None:
    """Remove a database made by ``fresh_database`` (Postgres; SQLite files are left to the OS)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    admin = sa.create_engine(
        parsed.set(drivername="postgresql+psycopg", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def launched(
    database: str,
    *,
    executor: str = "test",
    park_after: Duration | None = DEFAULT_PARK_AFTER,
    schedule_every: Duration | None = DEFAULT_SCHEDULE_EVERY,
) -> Iterator[Runtime]:
    """Launch the runtime on ``database`` for the duration of a block, then shut it down.

    ``schedule_every=None``: the schedule fires only when the test calls
    ``runtime.scheduler.tick()`` (see ``hitl.launch``)."""
    runtime = launch(
        database,
        executor=executor,
        park_after=park_after,
        reconfigure=True,
        schedule_every=schedule_every,
    )
    try:
        yield runtime
    finally:
        shutdown()


def wait_until(
    predicate: Callable[[], T | None],
    *,
    timeout: float = 30.0,
    interval: float = 0.02,
    message: str = "condition",
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    give_up = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= give_up:
            raise TimeoutError(f"{message} not reached within {timeout} s")
        time.sleep(interval)


def wait_for_request(run: RunHandle, *, timeout: float = 30.0) -> Request:
    """The run's first open request, once the run waits for one (see RunHandle.wait_for_request)."""
    return run.wait_for_request(timeout)
