"""The live inbox's change cursor: a refresh that finds nothing changed reads no rows, and a
refresh never misses a change; the counts match the rows. SQLite and Postgres."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hitl_notebook as hitl
from hitl_notebook._core.models import Quorum
from hitl_notebook._db.run_records import append_status
from hitl_notebook._notebook.inbox_widget import InboxWidget, read_page
from hitl_notebook._store.inbox import InboxFilter
from tests.waiting_rows import add_waiting, set_run_state

AGENTS = ("Refunds", "Emails", "Deletes")
SPECS = (
    InboxFilter(),
    InboxFilter(agent="Emails"),
    InboxFilter(sort="title", descending=True),
    InboxFilter(kind="text"),
)
PAGE_SIZE = 3


@pytest.fixture
def store(db_url: str) -> Iterator[hitl.Store]:
    """A store on a fresh database, with only its URL (no runtime launched)."""
    connected = hitl.connect(db_url)
    yield connected
    connected.database.close()


def _open(store: hitl.Store) -> list[hitl.InboxItem]:
    return list(store.inbox())


def _write(store: hitl.Store, action: tuple[Any, ...]) -> None:
    """One write of what the inbox shows, as the store, a run or DBOS makes it."""
    kind, pick, flag = action
    waiting = _open(store)
    item = waiting[pick % len(waiting)] if waiting else None
    if kind == "ask":
        fields: dict[str, Any] = {"quorum": Quorum(2)} if flag else {}
        add_waiting(store, 1, agent=AGENTS[pick % 3], kind="approval", parked=flag, **fields)
    elif kind == "ask_text":
        add_waiting(store, 1, agent=AGENTS[pick % 3], kind="text")
    elif item is None:
        return
    elif kind == "answer":
        with contextlib.suppress(hitl.AnswerError):
            store.respond(item.request_id, approve=flag, text=None if item.kind != "text" else "x")
    elif kind == "bulk":
        store.respond_many([i.request_id for i in waiting[: 1 + pick % 4]], approve=flag)
    elif kind == "vote":
        quorums = [i for i in waiting if i.quorum is not None] or [item]
        with contextlib.suppress(hitl.AnswerError):
            store.vote(quorums[pick % len(quorums)].request_id, approve=flag, by=f"v{pick % 3}")
    elif kind == "cancel":
        store.cancel(item.run_id)
    elif kind == "status":  # the run publishes its own status while it waits
        with store.database.engine.begin() as conn:
            append_status(
                conn,
                run_id=item.run_id,
                key=f"step-{pick}-{flag}",
                agent=item.agent,
                status="working",
                detail=f"step {pick}",
                progress=None,
                at_ms=item.requested_at_ms + pick,
            )
    elif kind == "dbos":  # DBOS moves the run by itself: recovered, dispatched, parked
        set_run_state(store, item.run_id, ("PENDING", "ENQUEUED", "DELAYED")[pick % 3])


WRITES = st.tuples(
    st.sampled_from(["ask", "ask_text", "answer", "bulk", "vote", "cancel", "status", "dbos"]),
    st.integers(0, 50),
    st.booleans(),
)
STEPS = st.lists(st.one_of(WRITES, st.just(("refresh", 0, False))), min_size=1, max_size=14)


def _fresh(widget: InboxWidget) -> tuple[Any, ...]:
    found = read_page(
        widget.store,
        widget.spec,
        page=widget.page,
        page_size=PAGE_SIZE,
        responder=widget.responder,
    )
    return found.rows, found.total, found.agents, found.page


def _shown(widget: InboxWidget) -> tuple[Any, ...]:
    return widget.rows, widget.total, widget.snapshot()["agents"], widget.page


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS, spec=st.sampled_from(SPECS), page=st.integers(0, 1))
def test_a_refresh_always_shows_what_a_fresh_read_shows(
    store: hitl.Store, steps: list[tuple[Any, ...]], spec: InboxFilter, page: int
) -> None:
    """Asks, answers (single and bulk), votes, cancels, a run's own statuses and DBOS's own
    moves of runs, interleaved with refreshes: after each refresh the widget shows exactly what
    a fresh read of its page shows."""
    add_waiting(store, 2, agent="Emails", kind="text")
    widget = InboxWidget(store, spec, responder="alice", page_size=PAGE_SIZE, live=False)
    try:
        widget.set_query({}, page=page)
        for step in [*steps, ("refresh", 0, False)]:
            if step[0] == "refresh":
                widget.refresh()
                assert _shown(widget) == _fresh(widget)
            else:
                _write(store, step)
    finally:
        widget.close()


@pytest.mark.parametrize(
    "write",
    [
        ("ask", 0, False),
        ("answer", 1, True),
        ("bulk", 1, False),
        ("vote", 0, True),
        ("cancel", 1, False),
        ("status", 2, False),
        ("dbos", 1, False),
    ],
    ids=lambda write: write[0],
)
def test_each_kind_of_write_shows_at_the_next_refresh(
    store: hitl.Store, write: tuple[Any, ...]
) -> None:
    """Each kind of write, alone between two refreshes, is seen by the second."""
    add_waiting(store, 1, agent="Refunds", quorum=Quorum(2))
    add_waiting(store, 2, agent="Emails")
    widget = InboxWidget(store, responder="alice", page_size=PAGE_SIZE, live=False)
    try:
        before = _shown(widget)
        assert widget.refresh() is None
        _write(store, write)
        assert widget.refresh() is not None
        assert _shown(widget) == _fresh(widget) != before
    finally:
        widget.close()


@contextlib.contextmanager
def _statements(store: hitl.Store) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(store.database.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(store.database.engine, "before_cursor_execute", record)


def test_an_idle_refresh_is_one_small_query(store: hitl.Store) -> None:
    """With nothing changed, a refresh runs one statement that reads no request, and sends
    nothing; a change makes the next refresh read the page."""
    ids = add_waiting(store, 40)
    widget = InboxWidget(store, responder="alice", page_size=PAGE_SIZE, live=False)
    try:
        with _statements(store) as seen:
            assert widget.refresh() is None
        assert len(seen) == 1
        assert "hitl_requests" not in seen[0]
        store.respond(ids[0], approve=True, by="alice")
        patch = widget.refresh()
        assert patch is not None and patch["remove"] == [ids[0]] and patch["total"] == 39
    finally:
        widget.close()


def test_a_dbos_move_of_a_shown_run_is_seen(store: hitl.Store) -> None:
    """A run on the page that DBOS moves by itself (parked, resuming) shows its new state."""
    (request_id,) = add_waiting(store, 1, parked=True)
    widget = InboxWidget(store, responder="alice", live=False)
    try:
        assert widget.rows[0]["state"] == "parked"
        set_run_state(store, request_id.rsplit(".", 1)[0], "ENQUEUED")
        assert widget.refresh() is not None
        assert widget.rows[0]["state"] == "resuming"
    finally:
        widget.close()


@pytest.mark.parametrize(
    "spec",
    [
        InboxFilter(),
        InboxFilter(agent=["Refunds", "Emails"]),
        InboxFilter(kind="text"),
        InboxFilter(assignee="ana"),
        InboxFilter(search="request 1"),
        InboxFilter(overdue=True),
        InboxFilter(overdue=False),
        InboxFilter(older_than="1h"),
    ],
    ids=repr,
)
def test_the_counts_match_the_rows(store: hitl.Store, spec: InboxFilter) -> None:
    """The total and the agents, counted without reading rows, are those of the full read."""
    add_waiting(store, 5, agent="Refunds")
    add_waiting(store, 4, agent="Emails", kind="text", assignees=["ana", "bo"])
    add_waiting(store, 3, agent="Deletes", deadline_s=-10)
    set_run_state(store, store.inbox(agent="Deletes")[0].run_id, "CANCELLED")
    full = store.read_inbox(spec)
    counts = store.inbox_counts(spec)
    assert counts.total == len(full)
    assert counts.agents == sorted({item.agent for item in full})


def test_the_web_inbox_refresh_sends_nothing_when_nothing_changed(store: hitl.Store) -> None:
    """The web page's periodic hello with its cursor gets no messages while nothing changes,
    and the page again after an answer given elsewhere."""
    from fastapi.testclient import TestClient  # noqa: PLC0415 - the HTTP extra

    from hitl_notebook.http import TokenAuth, create_app  # noqa: PLC0415 - same

    ids = add_waiting(store, 30)
    headers = {"Authorization": "Bearer alice-token-123"}
    with TestClient(create_app(store, TokenAuth({"alice": "alice-token-123"}))) as client:

        def hello(cursor: str | None) -> dict[str, Any]:
            call = {"message": {"type": "hello"}, "cursor": cursor}
            response = client.post("/inbox/messages", json=call, headers=headers)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        first = hello(None)
        assert [m["type"] for m in first["messages"]] == ["snapshot"]
        idle = hello(first["cursor"])
        assert (idle["messages"], idle["cursor"]) == ([], first["cursor"])
        for odd in (
            "not a cursor",
            '[1, {"a\\u0000": "x"}]',
            '[1, {"\\ud800": "x"}]',
            "[1e999, {}]",
        ):
            assert hello(odd)["messages"][0]["type"] == "snapshot"
        store.respond(ids[0], approve=True, by="bob")
        after = hello(first["cursor"])
        (snapshot,) = after["messages"]
        assert snapshot["total"] == 29 and ids[0] not in [r["id"] for r in snapshot["rows"]]
        assert hello(after["cursor"])["messages"] == []
