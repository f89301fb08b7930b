"""Odd input gets one typed answer on SQLite and Postgres alike, and breaks nothing for anyone.

NUL characters, lone surrogates, NaN and Infinity, huge and deeply nested values, in every text and
value field: each is stored exactly on both databases or refused at the door with an error that
names the field; afterwards the inbox and every frame still build.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hitl_notebook as hitl
from hitl_notebook import testing
from tests.agents import Asker, Editor, FreeEditor, Refund, Writer

pytestmark = pytest.mark.usefixtures("runtime")

SPECIAL_TEXT = ["\x00", "a\x00b", "\ud800", "x\udfffy", "Ärger im Büro", "ΣΊΣΥΦΟΣ"]
huge_text = st.builds(lambda: "x" * 100_000)
"""100,000 characters (built, so that hypothesis' reports do not print them)."""
odd_text = st.one_of(
    st.sampled_from(SPECIAL_TEXT),
    huge_text,
    st.text(alphabet=st.characters(blacklist_categories=()), max_size=30),
)
odd_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)


def deeply_nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"a": [value]}
    return value


odd_json = st.one_of(
    st.recursive(
        st.none() | st.booleans() | odd_numbers | odd_text,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
        max_leaves=8,
    ),
    st.builds(deeply_nested, st.sampled_from([40, 300])),
    st.builds(lambda: ["x" * 100_000] * 5),
)
odd = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def everything_still_reads() -> None:
    """The inbox and every frame build, for everyone, whatever was stored."""
    inbox = hitl.inbox()
    hitl.inbox_frame(inbox)
    hitl.agents()
    hitl.history()
    hitl.decisions()
    for item in inbox:
        item.to_dict()


def fits_everywhere(value: Any) -> bool:
    """Whether a value is one both databases keep exactly (no NUL, surrogate, NaN, too deep)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item or any(0xD800 <= ord(c) <= 0xDFFF for c in item):
                return False
        elif isinstance(item, float) and not math.isfinite(item):
            return False
        elif isinstance(item, dict | list):
            if depth >= 64:
                return False
            inner = list(item.items()) if isinstance(item, dict) else list(enumerate(item))
            for key, child in inner:
                if isinstance(item, dict) and not fits_everywhere(key):
                    return False
                stack.append((child, depth + 1))
    return True


@odd
@given(text=odd_text, comment=st.none() | odd_text, by=st.none() | odd_text)
def test_odd_answer_text_is_stored_exactly_or_refused_naming_the_field(
    text: str, comment: str | None, by: str | None
) -> None:
    """A text answer, its comment and who gave it: kept as sent, or InvalidAnswerError."""
    run = Writer.start()
    request = run.wait_for_request()
    fits = all(fits_everywhere(v) for v in (text, comment, by) if v is not None)
    if not fits or not text.strip():
        with pytest.raises(hitl.InvalidAnswerError, match=r"answer|comment|by|empty"):
            hitl.respond(request.request_id, text=text, comment=comment, by=by)
        assert run.requests(open_only=True) == [request]
        run.cancel(by="tests")
    else:
        decision = hitl.respond(request.request_id, text=text, comment=comment, by=by)
        stored = hitl.store().request(request.request_id).decision
        assert stored is not None
        assert (stored.value, stored.comment, stored.by) == (text, comment, decision.by)
        assert run.result(timeout=30) == text
    everything_still_reads()


@odd
@given(data=odd_json)
def test_odd_edited_values_are_stored_exactly_or_refused_naming_the_field(data: Any) -> None:
    """An edited proposal holding any JSON-ish value: kept exactly, or InvalidAnswerError."""
    run = FreeEditor.start()
    request = run.wait_for_request()
    if not fits_everywhere(data):
        with pytest.raises(hitl.InvalidAnswerError, match=r"value"):
            hitl.respond(request.request_id, approve=True, value={"data": data}, by="ed")
        assert run.requests(open_only=True) == [request]
        run.cancel(by="tests")
    else:
        decision = hitl.respond(request.request_id, approve=True, value={"data": data}, by="ed")
        assert decision.value == {"data": data}
        assert hitl.store().request(request.request_id).decision == decision
        assert run.result(timeout=30) == data
    everything_still_reads()


@odd
@given(
    title=odd_text, options=st.lists(odd_text, min_size=2, max_size=3), body=st.none() | odd_text
)
def test_odd_request_text_is_stored_exactly_or_refused_naming_the_field(
    title: str, options: list[str], body: str | None
) -> None:
    """A request's title, options and body: asked and read back exactly, or a ValueError."""
    fits = all(fits_everywhere(v) for v in (title, *options, body) if v is not None)
    if not fits or not title.strip() or len(set(options)) < len(options):
        with pytest.raises(ValueError, match=r"title|option|body"):
            hitl.Question.choice(title, options, body=body)
        return
    run = Asker.start(title, options, body)
    request = run.wait_for_request()
    assert (request.title, request.options, request.body) == (title, options, body)
    assert [item.title for item in hitl.inbox() if item.request_id == request.request_id] == [title]
    everything_still_reads()
    run.cancel(by="tests")


@odd
@given(search=odd_text, agent=odd_text, assignee=odd_text)
def test_odd_filters_list_requests_or_are_refused_naming_the_filter(
    search: str, agent: str, assignee: str
) -> None:
    """Search, agent and assignee filters: an inbox (maybe empty), or a ValueError naming one."""
    if not all(fits_everywhere(v) for v in (search, agent, assignee)):
        with pytest.raises(ValueError, match=r"search|agent|assignee"):
            hitl.inbox(search=search, agent=agent, assignee=assignee)
    else:
        assert list(hitl.inbox(search=search, agent=agent, assignee=assignee)) == []


REFUSED_ANSWERS = [
    ({"text": "ok", "comment": "a\x00b"}, "comment contains a NUL"),
    ({"text": "ok", "by": "al\x00ice"}, "by contains a NUL"),
    ({"text": "n\x00pe"}, "the answer contains a NUL"),
    ({"text": "\ud800"}, "not valid Unicode"),
    ({"text": "ok", "comment": "\udfff"}, "comment is not valid Unicode"),
]


def test_text_no_database_keeps_is_refused_the_same_on_both() -> None:
    """NUL and lone surrogates: InvalidAnswerError naming the field; the agent keeps waiting."""
    run = Writer.start()
    request = run.wait_for_request()
    for answer, names in REFUSED_ANSWERS:
        with pytest.raises(hitl.InvalidAnswerError, match=names):
            hitl.respond(request.request_id, **answer)  # type: ignore[arg-type]
        assert run.requests(open_only=True) == [request]
    hitl.respond(request.request_id, text="fine", by="ann")
    assert run.result(timeout=30) == "fine"
    everything_still_reads()


def test_nan_and_infinity_in_an_edit_are_refused_naming_the_field() -> None:
    """An edited proposal with NaN or Infinity: InvalidAnswerError naming where it sits."""
    run = Editor.start()
    request = run.wait_for_request()
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(hitl.InvalidAnswerError, match="value/amount is"):
            hitl.respond(request.request_id, approve=True, value={"order_id": "E", "amount": bad})
        assert run.requests(open_only=True) == [request]
    run.cancel(by="tests")


def test_a_300_deep_edit_is_refused_not_a_recursion_error() -> None:
    """Deeply nested values get an InvalidAnswerError, not a RecursionError."""
    run = FreeEditor.start()
    request = run.wait_for_request()
    with pytest.raises(hitl.InvalidAnswerError, match="nests deeper than 64"):
        hitl.respond(request.request_id, approve=True, value={"data": deeply_nested(300)})
    run.cancel(by="tests")


def test_requests_no_database_keeps_are_refused_when_asked() -> None:
    """Titles, bodies, options and proposals are checked when the question is made."""
    with pytest.raises(ValueError, match="title contains a NUL"):
        hitl.Question.text("Re\x00fund?")
    with pytest.raises(ValueError, match="body is not valid Unicode"):
        hitl.Question.text("Refund?", body="\ud800")
    with pytest.raises(ValueError, match="an option contains a NUL"):
        hitl.Question.choice("Carrier?", ["ups", "d\x00hl"])
    with pytest.raises(ValueError, match="proposal/amount is nan"):
        hitl.Question.approval(
            "Refund?", proposal=Refund.model_construct(order_id="A", amount=math.nan)
        )


UNASKABLE_FILTERS: list[tuple[dict[str, Any], str]] = [
    ({"sort": "bogus"}, "Cannot sort by 'bogus'"),
    ({"search": "a\x00"}, "search contains a NUL"),
    ({"agent": "\ud800"}, "agent is not valid Unicode"),
    ({"assignee": "b\x00b"}, "assignee contains a NUL"),
    ({"older_than": "1m s"}, "older_than"),
    ({"older_than": math.inf}, "older_than"),
    ({"limit": -1}, "limit must be"),
    ({"offset": -5}, "offset must be"),
    ({"kind": "poll"}, "Unknown request kind"),
]


def test_inbox_filters_that_cannot_be_asked_are_value_errors() -> None:
    """A bad filter is a ValueError naming it, on both databases (never a database error)."""
    for filters, message in UNASKABLE_FILTERS:
        with pytest.raises(ValueError, match=message):
            hitl.inbox(**filters)


def test_timeouts_no_deadline_can_hold_are_value_errors() -> None:
    """Asking with an impossible timeout is a ValueError naming it, before anything is stored."""
    for timeout in (math.inf, math.nan, 1e300, "1000000000d", timedelta.max, "1m s", "1M"):
        with pytest.raises(ValueError, match=r"timeout|duration"):
            hitl.Question.text("When?", timeout=timeout)  # type: ignore[arg-type]
    assert hitl.inbox().items == []


def test_after_every_kind_of_odd_input_a_plain_run_still_works() -> None:
    """Refused input leaves nothing half-written: the next run asks, is answered, finishes."""
    run = Writer.start()
    request = testing.wait_for_request(run)
    for bad in ({"text": "\x00"}, {"text": "\ud800"}, {"text": "ok", "comment": "\x00"}):
        with pytest.raises(hitl.InvalidAnswerError):
            hitl.respond(request.request_id, **bad)  # type: ignore[arg-type]
    hitl.respond(request.request_id, text="plain", by="ann")
    assert run.result(timeout=30) == "plain"
    everything_still_reads()
