"""The inbox: contents, every filter, sort and paging, bulk answers; SQLite and Postgres."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

import hitl_notebook as hitl
from hitl_notebook._core.times import now_ms
from hitl_notebook._db.database import Database, requests
from hitl_notebook._db.dbos_internals import (
    ACTIVE_RUNS_INDEX,
    DBOS_SCHEMA,
    RUN_STATES_INDEX,
    workflow_status,
)
from hitl_notebook._store.inbox import SORT_KEYS, InboxFilter
from tests.agents import Assigned, Chooser, Editor, Writer

pytestmark = pytest.mark.usefixtures("runtime")


def _waiting(*runs: hitl.RunHandle) -> list[str]:
    return [run.wait_for_request().request_id for run in runs]


def test_inbox_lists_every_waiting_request_with_its_details() -> None:
    """Each open request appears once, with agent, kind, title, proposal, options and status."""
    ids = [_waiting(Chooser.start())[0], _waiting(Editor.start())[0]]
    inbox = hitl.inbox()
    assert [item.request_id for item in inbox] == ids
    choice, edit = inbox
    assert (choice.agent, choice.kind, choice.title) == ("Chooser", "choice", "Which?")
    assert choice.options == ["red", "green", "blue"]
    assert choice.proposal is None
    assert edit.proposal == {"order_id": "E-1", "amount": 5.0, "note": ""}
    assert (edit.agent_status, edit.status_detail, edit.run_state) == (
        "working",
        "started",
        "PENDING",
    )
    assert choice.deadline is None
    assert choice.time_left is None
    assert not choice.overdue


def test_answered_requests_leave_the_inbox() -> None:
    """A decided request is no longer listed; the others stay."""
    first_id, second_id = _waiting(Writer.start(), Writer.start())
    hitl.respond(first_id, text="done")
    assert [item.request_id for item in hitl.inbox()] == [second_id]


def test_filters_by_agent_kind_assignee_search_and_age() -> None:
    """Each filter narrows the inbox to what it names."""
    chooser, writer = Chooser.start(), Writer.start()
    for_ana = Assigned.start(["ana", "bo"], "Ship order 7 today?")
    for_bo = Assigned.start(["bo"], "Refund order 9?")
    chooser_id, writer_id, ana_id, bo_id = _waiting(chooser, writer, for_ana, for_bo)

    def ids(**filters: object) -> set[str]:
        return {item.request_id for item in hitl.inbox(**filters)}  # type: ignore[arg-type]

    assert ids(agent="Chooser") == {chooser_id}
    assert ids(agent=["Chooser", "Writer"]) == {chooser_id, writer_id}
    assert ids(kind="text") == {writer_id}
    assert ids(kind=["choice", "approval"]) == {chooser_id, ana_id, bo_id}
    assert ids(assignee="ana") == {ana_id}
    assert ids(assignee="bo") == {ana_id, bo_id}
    assert ids(assignee="nobody") == set()
    assert ids(search="order") == {ana_id, bo_id}
    assert ids(search="REFUND 9") == {bo_id}
    assert ids(search="100%_") == set()
    assert ids(older_than="1h") == set()
    assert ids(older_than=timedelta(0)) == {chooser_id, writer_id, ana_id, bo_id}


def test_overdue_filter_and_time_left() -> None:
    """A request past its deadline is overdue (until its run applies the timeout)."""
    waiting = Chooser.start(3600.0, "red")
    late = Chooser.start(3600.0, "red")
    waiting_id, late_id = _waiting(waiting, late)
    _move_deadline(late_id, seconds_from_now=-60)
    overdue = hitl.inbox(overdue=True)
    assert [item.request_id for item in overdue] == [late_id]
    assert overdue[0].overdue
    assert overdue[0].time_left is not None
    assert overdue[0].time_left < timedelta(seconds=-59)
    on_time = hitl.inbox(overdue=False)
    assert [item.request_id for item in on_time] == [waiting_id]
    assert on_time[0].time_left is not None
    assert on_time[0].time_left > timedelta(minutes=59)


def test_sort_and_paging() -> None:
    """Sort by deadline (no deadline last) or title, either way, and page with limit/offset."""
    ids = [_waiting(Chooser.start(timeout))[0] for timeout in (300.0, None, 100.0)]
    by_deadline = [item.request_id for item in hitl.inbox(sort="deadline")]
    assert by_deadline == [ids[2], ids[0], ids[1]]
    newest_first = [item.request_id for item in hitl.inbox(descending=True)]
    assert newest_first == list(reversed(ids))
    assert [item.request_id for item in hitl.inbox(limit=2)] == ids[:2]
    assert [item.request_id for item in hitl.inbox(limit=2, offset=2)] == ids[2:]
    assert len(hitl.inbox(sort="title", limit=1)) == 1


def test_the_whole_inbox_lists_its_pages_in_their_order_for_every_sort() -> None:
    """Read whole (sorted apart from the database on Postgres) or page by page (sorted in the
    database), the order is one: ties in time broken by id, no deadline last, either way."""
    ids = [_waiting(Chooser.start(timeout))[0] for timeout in (300.0, None, 100.0, 300.0, None)]
    at = now_ms()
    with hitl.store().database.engine.begin() as conn:  # ties, as requests asked together make
        for request_id, asked, deadline in zip(
            ids, (5, 5, 7, 5, 7), (900, None, 800, 900, None), strict=True
        ):
            conn.execute(
                requests.update()
                .where(requests.c.request_id == request_id)
                .values(requested_at_ms=asked, deadline_ms=deadline and at + deadline)
            )
    for sort in SORT_KEYS:
        for descending in (False, True):
            whole = [i.request_id for i in hitl.inbox(sort=sort, descending=descending)]
            paged = [
                item.request_id
                for offset in range(0, 6, 2)
                for item in hitl.inbox(sort=sort, descending=descending, limit=2, offset=offset)
            ]
            assert whole == paged, (sort, descending)
            assert sorted(whole) == sorted(ids)
    by_time = [i.request_id for i in hitl.inbox()]
    assert by_time == sorted(ids[i] for i in (0, 1, 3)) + sorted(ids[i] for i in (2, 4))
    by_deadline = [i.request_id for i in hitl.inbox(sort="deadline", descending=True)]
    assert by_deadline[:3] == [*sorted(ids[i] for i in (0, 3)), ids[2]]
    assert by_deadline[3:] == sorted(ids[i] for i in (1, 4))


def test_an_item_reads_the_rules_without_the_proposals_schema() -> None:
    """The inbox reads a request's rules, not its proposal's schema (``Store.request`` has it);
    a request stored by an older version (no rules column) shows the same rules from its spec."""
    (request_id,) = _waiting(Editor.start())
    (item,) = hitl.inbox()
    assert item.rules_json is not None
    assert "proposal_schema" not in item.rules_json
    assert item.rules["allow_requester"] is True
    assert hitl.store().request(request_id).proposal_schema is not None
    with hitl.store().database.engine.begin() as conn:
        conn.execute(requests.update().values(rules=sa.null()))  # as an older version stored it
    (older,) = hitl.inbox()
    assert older.rules == item.rules
    assert older.input_schema is None


def test_runs_being_recovered_still_appear() -> None:
    """A run that DBOS shows as ENQUEUED (recovery) or DELAYED (parked) is still waiting."""
    run = Writer.start()
    (request_id,) = _waiting(run)
    for state in ("ENQUEUED", "DELAYED"):
        _set_run_state(run.id, state)
        (item,) = hitl.inbox()
        assert (item.request_id, item.run_state) == (request_id, state)
    _set_run_state(run.id, "CANCELLED")
    assert list(hitl.inbox()) == []
    _set_run_state(run.id, "PENDING")


def test_every_state_of_a_run_is_listed_and_counted_alike() -> None:
    """A request waits while DBOS shows its run PENDING, ENQUEUED or DELAYED and in no final
    state, also those that sort between the waiting ones (ERROR, MAX_RECOVERY_ATTEMPTS_EXCEEDED):
    the whole inbox, a page and the count agree in each."""
    run = Writer.start()
    (request_id,) = _waiting(run)
    waiting = {"PENDING", "ENQUEUED", "DELAYED"}
    finals = ["ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED", "SUCCESS", "CANCELLED"]
    for state in ["ENQUEUED", "DELAYED", *finals, "PENDING"]:
        _set_run_state(run.id, state)
        expected = [request_id] if state in waiting else []
        assert [item.request_id for item in hitl.inbox()] == expected, state
        assert [item.request_id for item in hitl.inbox(limit=5)] == expected, state
        counts = hitl.store().inbox_counts(InboxFilter())
        assert (counts.total, counts.agents) == (len(expected), ["Writer"] * len(expected)), state


def test_the_inbox_reads_from_a_store_with_only_the_url(db_url: str) -> None:
    """hitl.connect(url) sees what the launched runtime sees."""
    (request_id,) = _waiting(Writer.start())
    assert [item.request_id for item in hitl.connect(db_url).inbox()] == [request_id]


def test_bulk_answers_apply_the_valid_ones_and_report_each_failure() -> None:
    """'Approve these': each request is answered on its own; failures say why."""
    editors = [Editor.start() for _ in range(3)]
    writer = Writer.start()
    editor_ids = _waiting(*editors)
    (writer_id,) = _waiting(writer)
    hitl.respond(editor_ids[2], approve=False, by="zoe")
    result = hitl.respond_many([*editor_ids, writer_id, "no-such-id"], approve=True, by="bulk")
    assert not result.ok
    assert sorted(result.decided) == sorted(editor_ids[:2])
    assert {t: type(e) for t, e in result.failed.items()} == {
        editor_ids[2]: hitl.AlreadyDecidedError,
        writer_id: hitl.InvalidAnswerError,
        "no-such-id": hitl.NotFoundError,
    }
    assert all(d.by == "bulk" for d in result.decided.values())
    assert [item.request_id for item in hitl.inbox()] == [writer_id]
    for run in editors[:2]:
        assert run.result(timeout=30)["outcome"] == "approved"


def _move_deadline(request_id: str, *, seconds_from_now: float) -> None:
    """Make a request overdue without waiting for it (the run is not woken by this)."""
    with hitl.store().database.engine.begin() as conn:
        conn.execute(
            requests.update()
            .where(requests.c.request_id == request_id)
            .values(deadline_ms=now_ms() + int(seconds_from_now * 1000))
        )


def _set_run_state(run_id: str, state: str) -> None:
    with hitl.store().database.engine.begin() as conn:
        conn.execute(
            sa.update(workflow_status)
            .where(workflow_status.c.workflow_uuid == run_id)
            .values(status=state)
        )


def test_an_unknown_kind_is_an_error_not_an_empty_inbox() -> None:
    """A typo in a kind filter says which kinds exist."""
    with pytest.raises(ValueError, match="approval, choice, text, edit"):
        hitl.inbox(kind="aproval")


def test_the_runs_states_the_inbox_joins_are_indexed(db_url: str) -> None:
    """The inbox joins its requests with their runs' states through our index on DBOS's table:
    on SQLite each run's state, on Postgres the active runs' alone (made again on open if a
    build failed halfway, as a CONCURRENTLY build can)."""
    database = Database(db_url)
    with database.engine.connect() as conn:
        if database.is_sqlite:
            names = {str(i["name"]) for i in sa.inspect(conn).get_indexes("workflow_status")}
            assert RUN_STATES_INDEX in names
            database.close()
            return
    valid = sa.text(
        "SELECT indisvalid FROM pg_index"
        f" WHERE indexrelid = '{DBOS_SCHEMA}.{ACTIVE_RUNS_INDEX}'::regclass"
    )
    with database.engine.begin() as conn:
        assert conn.execute(valid).scalar() is True
        conn.execute(
            sa.text(
                "UPDATE pg_index SET indisvalid = false"
                f" WHERE indexrelid = '{DBOS_SCHEMA}.{ACTIVE_RUNS_INDEX}'::regclass"
            )
        )
    database.close()
    reopened = Database(db_url)
    with reopened.engine.connect() as conn:
        assert conn.execute(valid).scalar() is True
    reopened.close()
