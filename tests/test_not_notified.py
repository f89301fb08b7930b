"""A channel that gave up telling people about a request is named wherever the request waits.

The schedule records a send that failed for good (``hitl_schedule.result = 'failed'``); the inbox
query names those channels per request (``InboxItem.not_notified``), and every face shows it: the
widget's row, ``hitl inbox`` (table and JSON), the HTTP listing and ``inbox_frame()``. A request
whose channels delivered shows nothing. The channels are recording ``Notifier``s in this process
and the schedule fires only when the test ticks it (see tests/test_schedule.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import hitl_notebook as hitl
from hitl_notebook import Runtime, testing
from hitl_notebook._core.times import to_ms
from hitl_notebook._runtime.schedule import configure
from hitl_notebook.http import TokenAuth, create_app
from tests.test_schedule import MINUTE, Asking, Recorder, scheduler

HITL = str(Path(sys.executable).with_name("hitl"))
TOKEN = "bob-token-4567"
WARNING = "not notified: pager, webhook"


@pytest.fixture
def manual(db_url: str) -> Iterator[Runtime]:
    """The runtime, firing the schedule only when the test ticks it, with three channels:
    ``memo`` delivers, ``webhook`` and ``pager`` refuse every send for good."""
    configure(
        [
            Recorder("memo"),
            Recorder("webhook", always=hitl.DeliveryFailed("HTTP 404 from the receiver")),
            Recorder("pager", always=hitl.DeliveryFailed("no such pager")),
        ]
    )
    try:
        with testing.launched(db_url, executor="pytest", schedule_every=None) as launched:
            yield launched
    finally:
        configure([])


def _failed_and_fine(runtime: Runtime) -> tuple[hitl.RunHandle, str, hitl.RunHandle, str]:
    """A run told through memo, webhook and pager (webhook and pager fail, on the first send and
    on its reminder) and a run told through memo only; both ticked until nothing is due."""
    failing = Asking.start(["memo", "webhook", "pager"], remind_every=60, max_reminders=1)
    fine = Asking.start(["memo"], remind_every=60, max_reminders=1)
    opened = [testing.wait_for_request(run) for run in (failing, fine)]
    last = max(to_ms(request.requested_at) for request in opened)
    ticks = scheduler(runtime).tick
    assert ticks(at_ms=last) == 4  # notify: 3 channels + 1
    assert ticks(at_ms=last + MINUTE) == 4  # remind:1 likewise
    assert ticks(at_ms=last + 100 * MINUTE) == 0
    return failing, opened[0].request_id, fine, opened[1].request_id


def test_the_inbox_names_the_channels_that_gave_up(manual: Runtime) -> None:
    """Each channel once, in name order, however many of its sends failed; none on the other."""
    failing, failed_id, fine, fine_id = _failed_and_fine(manual)
    items = {item.request_id: item for item in hitl.inbox()}
    assert items[failed_id].not_notified == ("pager", "webhook")
    assert items[failed_id].not_notified_warning == WARNING
    assert items[failed_id].to_dict()["not_notified"] == ["pager", "webhook"]
    assert items[fine_id].not_notified == ()
    assert items[fine_id].not_notified_warning is None

    # Filters, sorting and paging keep it with its request.
    # The two runs ask concurrently, so either may be first.
    (first,) = hitl.inbox(sort="requested_at", limit=1)
    (second,) = hitl.inbox(sort="requested_at", limit=1, offset=1)
    paged = {item.request_id: item.not_notified for item in (first, second)}
    assert paged == {failed_id: ("pager", "webhook"), fine_id: ()}

    frame = hitl.inbox_frame(hitl.inbox()).set_index("request_id")
    assert frame.loc[failed_id, "not_notified"] == "pager, webhook"
    assert pd.isna(frame.loc[fine_id, "not_notified"])

    # History says why, the run is unharmed and, once answered, the request leaves the inbox.
    statuses = list(hitl.history(failing.id)["status"])
    assert statuses.count("not notified") == 4
    failing.approve(by="alice")
    fine.approve(by="alice")
    assert failing.result(timeout=30)["outcome"] == "approved"
    assert fine.result(timeout=30)["outcome"] == "approved"
    assert list(hitl.inbox()) == []


def test_the_widget_row_warns(manual: Runtime) -> None:
    """The row carries the warning the browser draws under the run's state; the other none."""
    _, failed_id, _, fine_id = _failed_and_fine(manual)
    widget = hitl.inbox().widget(responder="alice", live=False)
    rows = {row["id"]: row for row in widget.rows}
    assert rows[failed_id]["not_notified"] == WARNING
    assert rows[fine_id]["not_notified"] is None


def test_hitl_inbox_marks_the_request(manual: Runtime, db_url: str) -> None:
    """At 80 columns the title column carries the warning (it is shown at any width); JSON
    carries the channels."""
    _, failed_id, _, fine_id = _failed_and_fine(manual)
    env = {key: value for key, value in os.environ.items() if key not in {"COLUMNS", "LINES"}}
    table = subprocess.run(
        [HITL, "inbox", "--db", db_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env | {"COLUMNS": "80"},
    )
    assert table.returncode == 0, table.stderr
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    assert table.stdout.count("not notified") == 1
    assert f"! {WARNING}" in " ".join(table.stdout.split())  # the title column wraps it

    as_json = subprocess.run(
        [HITL, "inbox", "--json", "--db", db_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert as_json.returncode == 0, as_json.stderr
    listed = {item["request_id"]: item for item in json.loads(as_json.stdout)}
    assert listed[failed_id]["not_notified"] == "pager, webhook"
    assert listed[fine_id]["not_notified"] is None


def test_the_http_listing_carries_the_channels(manual: Runtime) -> None:
    """``GET /requests`` lists ``not_notified`` on every item (empty when none failed)."""
    _, failed_id, _, fine_id = _failed_and_fine(manual)
    with TestClient(create_app(hitl.store(), TokenAuth({"bob": TOKEN}))) as client:
        got = client.get("/requests", headers={"Authorization": f"Bearer {TOKEN}"})
    assert got.status_code == 200, got.text
    listed = {item["request_id"]: item for item in got.json()}
    assert listed[failed_id]["not_notified"] == ["pager", "webhook"]
    assert listed[fine_id]["not_notified"] == []
