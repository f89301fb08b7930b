"""Search is Unicode-aware and the same on both databases; older tables gain the new columns."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._db.database import SCHEMA, Database, requests, runs
from tests.agents import Asker, Writer


@pytest.mark.usefixtures("runtime")
@pytest.mark.parametrize(
    ("title", "searches"),
    [
        ("Ärger im Büro", ["Ärger", "ärger", "ÄRGER IM", "büro"]),
        ("ÄRGER IM BÜRO", ["Ärger", "ärger im büro"]),
        ("ΣΊΣΥΦΟΣ", ["ΣΊΣΥΦΟΣ", "Σίσυφος", "σίσυφοσ"]),
        ("Σίσυφος rolls", ["Σίσυφος", "ΣΊΣΥΦΟΣ", "σίσυφος rolls"]),
        ("Straße", ["STRASSE", "straße"]),
    ],
)
def test_search_folds_case_the_same_way_on_both_databases(title: str, searches: list[str]) -> None:
    """Every spelling of a title's words finds it, the title itself included."""
    run = Asker.start(title, ["yes", "no"], None)
    request = run.wait_for_request()
    for search in [title, *searches]:
        found = [item.request_id for item in hitl.inbox(search=search)]
        assert found == [request.request_id], search
    assert list(hitl.inbox(search="Ärgernis")) == []
    run.cancel(by="tests")


def test_tables_made_by_an_older_version_gain_the_new_columns(db_url: str) -> None:
    """Opening a database whose tables lack the new columns adds them and fills the folded titles;
    an index that a wider one replaced is dropped, the wider one made."""
    with testing.launched(db_url, executor="pytest"):
        pass  # DBOS's tables and today's hitl tables
    database = Database(db_url)
    schema = "" if database.is_sqlite else f'"{SCHEMA}".'
    with database.engine.begin() as conn:
        conn.execute(
            requests.insert().values(
                request_id="old.r1",
                run_id="old",
                agent="Old",
                kind="text",
                title="ÄRGER",
                spec={},
                assignees=[],
                requested_at_ms=1,
                state="open",
            )
        )
        for table, column in (
            ("hitl_requests", "title_folded"),
            ("hitl_runs", "agent_status"),
            ("hitl_runs", "agent_detail"),
            ("hitl_runs", "failure"),
            ("hitl_runs", "forked_from"),
            ("hitl_runs", "forked_at"),
            ("hitl_answers", "reason"),
            ("hitl_requests", "rules"),
        ):
            conn.execute(sa.text(f'ALTER TABLE {schema}"{table}" DROP COLUMN "{column}"'))
        conn.execute(sa.text(f"DROP INDEX {schema}hitl_requests_open_order"))
        conn.execute(
            sa.text(
                f"CREATE INDEX hitl_requests_open ON {schema}hitl_requests (state, requested_at_ms)"
            )
        )
    database.close()
    reopened = Database(db_url)
    with reopened.engine.connect() as conn:
        assert conn.execute(sa.select(requests.c.title_folded)).scalar_one() == "ärger"
        assert conn.execute(sa.select(sa.func.count(runs.c.agent_status))).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count(runs.c.forked_from))).scalar_one() == 0
        indexes = {
            str(index["name"])
            for index in sa.inspect(conn).get_indexes(
                "hitl_requests", schema=None if reopened.is_sqlite else SCHEMA
            )
        }
    assert "hitl_requests_open_order" in indexes
    assert "hitl_requests_open" not in indexes
    reopened.close()


def test_open_requests_of_an_older_version_show_their_runs_own_status(db_url: str) -> None:
    """The run's own status, kept on its open requests since this version, is filled in on
    open from the run's row: the inbox shows it as before."""
    with testing.launched(db_url, executor="pytest"):
        run = Writer.start()
        request = run.wait_for_request()
    database = Database(db_url)
    schema = "" if database.is_sqlite else f'"{SCHEMA}".'
    with database.engine.begin() as conn:
        for column in ("agent_status", "agent_detail"):
            conn.execute(sa.text(f'ALTER TABLE {schema}"hitl_requests" DROP COLUMN "{column}"'))
    database.close()
    reopened = Database(db_url)
    with reopened.engine.connect() as conn:
        shown = conn.execute(
            sa.select(requests.c.agent_status, requests.c.agent_detail).where(
                requests.c.request_id == request.request_id
            )
        ).one()
        own = conn.execute(
            sa.select(runs.c.agent_status, runs.c.agent_detail).where(runs.c.run_id == run.id)
        ).one()
    reopened.close()
    assert tuple(shown) == tuple(own) != (None, None)
