"""Answering: validation before storage, first answer wins, idempotent retries, typed errors."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hitl_notebook as hitl
from hitl_notebook import testing
from tests.agents import Chooser, Editor, Parallel, Reporter, Writer
from tests.answer_log import answer_log

pytestmark = pytest.mark.usefixtures("runtime")


def test_first_valid_answer_wins_and_the_second_names_the_winner() -> None:
    """A different second answer is refused with who decided and when."""
    run = Chooser.start()
    request = testing.wait_for_request(run)
    first = hitl.respond(request.request_id, choice="red", by="alice")
    with pytest.raises(hitl.AlreadyDecidedError) as refused:
        hitl.respond(request.request_id, choice="blue", by="bob")
    assert refused.value.decided_by == "alice"
    assert refused.value.decided_at == first.at
    assert "already decided by alice at" in str(refused.value)
    assert run.result(timeout=30) == "chose:red"


def test_retrying_the_same_answer_is_harmless() -> None:
    """The same answer by the same person returns the same decision and stores nothing more."""
    run = Writer.start()
    request = testing.wait_for_request(run)
    first = hitl.respond(request.request_id, text="yes", by="alice")
    again = hitl.respond(request.request_id, text="yes", by="alice")
    assert again == first
    assert run.result(timeout=30) == "yes"
    assert answer_log(request.request_id) == [("alice", "accepted")]


def test_answers_by_run_id_after_the_decision_are_retries_or_refusals() -> None:
    """By run id too: the same answer again returns the decision, another one names the winner."""
    run = Writer.start()
    run.wait_for_request()
    first = run.respond(text="yes", by="alice")
    assert run.respond(text="yes", by="alice") == first
    run.result(timeout=30)
    with pytest.raises(hitl.AlreadyDecidedError, match="already decided by alice"):
        hitl.respond(run.id, text="no", by="bob")


def test_unknown_ids_are_refused() -> None:
    """An answer to an id that is neither a run nor a request gets NotFoundError."""
    with pytest.raises(hitl.NotFoundError, match="No run or request"):
        hitl.respond("no-such-thing", approve=True)


def test_a_run_that_asks_nothing_is_not_waiting() -> None:
    """Answering a run that waits for nothing gets NotWaitingError."""
    run = Reporter.start(1)
    run.result(timeout=30)
    with pytest.raises(hitl.NotWaitingError, match="not waiting"):
        hitl.respond(run.id, text="more")


def test_answering_a_run_with_several_open_requests_asks_for_a_request_id() -> None:
    """A run id is only a shortcut when exactly one request is open."""
    run = Parallel.start()
    testing.wait_until(lambda: len(run.requests(open_only=True)) == 3, timeout=30)
    with pytest.raises(hitl.NotWaitingError, match="answer one by its request id"):
        hitl.respond(run.id, text="which one?")
    run.cancel()


# -- invalid answers, generated ------------------------------------------------------------------

_any_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@st.composite
def bad_choice_answers(draw: st.DrawFn) -> dict[str, object]:
    """Answers that do not fit a choice among red/green/blue."""
    kind = draw(st.sampled_from(["not-offered", "wrong-field", "wrong-type", "nothing"]))
    if kind == "not-offered":
        return {
            "choice": draw(st.text(max_size=12).filter(lambda s: s not in {"red", "green", "blue"}))
        }
    if kind == "wrong-field":
        field = draw(st.sampled_from(["approve", "text", "value"]))
        value = {"approve": True, "text": "red", "value": {"choice": "red"}}[field]
        return {field: value, **draw(st.sampled_from([{}, {"choice": "red"}]))}
    if kind == "wrong-type":
        return {
            "choice": draw(_any_value.filter(lambda v: v is not None and not isinstance(v, str)))
        }
    return {}


@st.composite
def bad_edits(draw: st.DrawFn) -> dict[str, object]:
    """Edited proposals that break the Refund schema (wrong type, missing field, out of bounds)."""
    kind = draw(
        st.sampled_from(["missing", "wrong-type", "out-of-bounds", "not-a-dict", "reject+value"])
    )
    if kind == "missing":
        return {"approve": True, "value": {"amount": draw(st.floats(0, 1000))}}
    if kind == "wrong-type":
        amount = draw(
            st.one_of(
                st.text(max_size=5).filter(lambda s: not _is_number(s)),
                st.lists(st.integers(), max_size=2),
                st.booleans(),
            )
        )
        return {"approve": True, "value": {"order_id": "E-1", "amount": amount}}
    if kind == "out-of-bounds":
        amount = draw(
            st.one_of(
                st.floats(max_value=-0.01), st.floats(min_value=1000.01, allow_infinity=False)
            )
        )
        return {"approve": True, "value": {"order_id": "E-1", "amount": amount}}
    if kind == "not-a-dict":
        return {
            "approve": True,
            "value": draw(
                st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2))
            ),
        }
    return {"approve": False, "value": {"order_id": "E-1", "amount": 1}}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_fuzz = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_fuzz
@given(answer=bad_choice_answers())
def test_invalid_choice_answers_are_refused_and_the_agent_keeps_waiting(
    answer: dict[str, object],
) -> None:
    """Whatever is wrong with a choice answer, it is refused, nothing is stored, the run waits."""
    run = _shared_waiting_run(Chooser)
    request = run.requests(open_only=True)[0]
    with pytest.raises(hitl.InvalidAnswerError) as refused:
        hitl.respond(request.request_id, **answer)  # type: ignore[arg-type]
    assert refused.value.problems
    assert run.requests(open_only=True) == [request]
    assert answer_log(request.request_id) == []
    assert run.status is not None
    assert run.status.status == "waiting"


@_fuzz
@given(answer=bad_edits())
def test_invalid_edits_are_refused_and_the_agent_keeps_waiting(answer: dict[str, object]) -> None:
    """An edit that breaks the proposal's schema is refused before anything is stored."""
    run = _shared_waiting_run(Editor)
    request = run.requests(open_only=True)[0]
    with pytest.raises(hitl.InvalidAnswerError):
        hitl.respond(request.request_id, **answer)  # type: ignore[arg-type]
    assert run.requests(open_only=True) == [request]
    assert answer_log(request.request_id) == []


@_fuzz
@given(target=st.text(min_size=1, max_size=30))
def test_answers_to_unknown_ids_are_refused(target: str) -> None:
    """Any id that names no run or request gets NotFoundError."""
    run = _shared_waiting_run(Writer)
    request = run.requests(open_only=True)[0]
    if target in (run.id, request.request_id):
        return
    with pytest.raises(hitl.NotFoundError):
        hitl.respond(target, text="hello")
    assert run.requests(open_only=True) == [request]


def test_after_invalid_answers_a_valid_one_still_resumes_the_agent() -> None:
    """Refused answers leave the request answerable."""
    run = Chooser.start()
    request = testing.wait_for_request(run)
    for bad in ({"choice": "purple"}, {"approve": True}, {"text": "red"}):
        with pytest.raises(hitl.InvalidAnswerError):
            hitl.respond(request.request_id, **bad)  # type: ignore[arg-type]
    hitl.respond(request.request_id, choice="blue")
    assert run.result(timeout=30) == "chose:blue"


_runs: dict[tuple[str, str], hitl.RunHandle] = {}


def _shared_waiting_run(agent: type[hitl.Agent]) -> hitl.RunHandle:
    """One waiting run per agent type and database, shared by a property test's examples."""
    key = (hitl.store().database.url, agent.agent_name)
    if key not in _runs:
        run = agent.start()
        testing.wait_for_request(run)
        _runs[key] = run
    return _runs[key]
