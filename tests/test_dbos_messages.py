"""The DBOS guide's way to answer: a DBOS message to a waiting run is an answer (channel "dbos")."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from dbos import DBOS, DBOSClient
from pydantic import BaseModel

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._db.database import answers
from tests.agents import Approver, Assigned, Chooser, Interviewer, Writer


@pytest.fixture
def client(db_url: str) -> Iterator[DBOSClient]:
    """A DBOS client on the test's database, as any other process (or language) would use."""
    found = DBOSClient(system_database_url=db_url)
    yield found
    found.destroy()


class Note(BaseModel):
    """Something sent that is no answer."""

    text: str


def answer_log(run_id: str) -> list[tuple[str | None, str, str, str | None]]:
    """The run's answer log: who, channel, result and reason of each answer that arrived."""
    with hitl.store().database.engine.connect() as conn:
        rows = conn.execute(
            sa.select(answers.c.by, answers.c.channel, answers.c.result, answers.c.reason)
            .where(answers.c.run_id == run_id)
            .order_by(answers.c.answer_id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def decided(request_id: str) -> hitl.Decision:
    return testing.wait_until(
        lambda: hitl.store().request(request_id).decision, timeout=30, message="decided"
    )


@pytest.mark.usefixtures("runtime")
def test_the_guides_send_answers_a_waiting_run(tmp_path: object) -> None:
    """DBOS.send(run_id, "confirm"), as the DBOS guide answers: an anonymous approval."""
    run = Approver.start("G-1", str(tmp_path) + "/count")  # type: ignore[operator]
    request = run.wait_for_request()
    DBOS.send(run.id, "confirm")
    decision = decided(request.request_id)
    assert (decision.outcome, decision.channel, decision.by) == ("approved", "dbos", None)
    assert decision.who == "someone anonymous"
    assert run.result(timeout=30)["approved"] is True
    assert answer_log(run.id) == [(None, "dbos", "accepted", None)]
    assert "approved by someone anonymous" in [e.detail for e in run.history()]


@pytest.mark.usefixtures("runtime")
def test_a_client_message_names_the_request_who_answers_and_why(client: DBOSClient) -> None:
    """DBOSClient.send with the request id as topic, who answers and a comment."""
    run = Chooser.start()
    request = run.wait_for_request()
    client.send(
        run.id, {"response": "green", "by": "alice", "comment": "go"}, topic=request.request_id
    )
    decision = decided(request.request_id)
    assert (decision.value, decision.by, decision.comment) == ("green", "alice", "go")
    assert run.result(timeout=30) == "chose:green"


@pytest.mark.usefixtures("runtime")
def test_an_anonymous_message_to_an_assigned_request_is_refused_with_the_reason(
    client: DBOSClient,
) -> None:
    """Requests with assignees refuse anonymous messages; the refusal is logged with its reason."""
    run = Assigned.start(["bob"], "Refund order 9?")
    request = run.wait_for_request()
    client.send(run.id, "approve")
    testing.wait_until(lambda: answer_log(run.id), timeout=30, message="logged")
    [(by, channel, result, reason)] = answer_log(run.id)
    assert (by, channel, result) == (None, "dbos", "refused")
    assert reason is not None
    assert "assigned to bob" in reason
    assert run.requests(open_only=True) == [request]
    client.send(run.id, {"approve": True, "by": "bob"})
    assert decided(request.request_id).by == "bob"
    assert run.result(timeout=30) is True


@pytest.mark.usefixtures("runtime")
def test_messages_that_are_no_answer_are_refused_and_the_run_keeps_waiting(
    client: DBOSClient,
) -> None:
    """Unknown fields, a wrong word, an object of another kind: each refused with why."""
    run = Approver.start("G-2", "/dev/null")
    request = run.wait_for_request()
    client.send(run.id, {"approve": True, "who": "me"})
    client.send(run.id, "maybe")
    DBOS.send(run.id, Note(text="hi"))
    testing.wait_until(lambda: len(answer_log(run.id)) == 3, timeout=30, message="three refusals")
    reasons = " | ".join(row[3] or "" for row in answer_log(run.id))
    assert [row[2] for row in answer_log(run.id)] == ["refused"] * 3
    assert "fields no answer has (who)" in reasons
    assert "'maybe' is not a response" in reasons
    assert "of type Note is no answer" in reasons
    assert run.requests(open_only=True) == [request]
    run.cancel(by="tests")


@pytest.mark.usefixtures("runtime")
def test_a_message_for_a_request_not_asked_yet_waits_for_it(client: DBOSClient) -> None:
    """A topic naming a later request's key: the message answers it once it is asked."""
    run = Interviewer.start(2)
    first = run.wait_for_request()
    client.send(run.id, "the second answer", topic="r2")
    client.send(run.id, "the first answer")
    assert run.result(timeout=30) == ["the first answer", "the second answer"]
    assert decided(first.request_id).channel == "dbos"


def test_a_message_wakes_a_parked_run(db_url: str, client: DBOSClient) -> None:
    """A parked run holds no thread; a message still reaches it and resumes it."""
    with testing.launched(db_url, executor="pytest", park_after=0):
        run = Writer.start()
        request = run.wait_for_request()
        testing.wait_until(lambda: run.state == "DELAYED", timeout=30, message="parked")
        client.send(run.id, {"text": "from afar", "by": "carol"})
        assert run.result(timeout=30) == "from afar"
        assert decided(request.request_id).by == "carol"
