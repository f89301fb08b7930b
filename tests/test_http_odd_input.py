"""Odd input through HTTP, on both databases (property tests with hypothesis).

NUL characters, lone surrogates (JSON's "\\ud800"), NaN and Infinity (Python's json reads them),
huge and deeply nested values, in every text and value field of every body, in every query
parameter and in the ids of paths: each gets a 4xx whose message says where, never a 500;
nothing is stored, the agents keep waiting, and the inbox, GET /agents and every frame still
build afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
from fastapi.testclient import TestClient
from hypothesis import strategies as st

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook._service.http_json import MAX_BODY_BYTES, MAX_DEPTH, MAX_SAFE_INTEGER, MAX_TEXT
from hitl_notebook._service.http_models import MAX_QUERY_TEXT
from hitl_notebook.http import TokenAuth, create_app
from tests.agents import Assigned, Chooser, Editor, Writer

TOKEN = "odd-token-012345"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
# DBOS's queue thread jitters its polls with ``random``, which hypothesis takes for a strategy
# using the global random state while it draws.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
SETTINGS = hypothesis.settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)


class Sink(hitl.Agent):
    """Takes any arguments and ends at once."""

    def run(self, *args: object, **kwargs: object) -> int:
        return len(args) + len(kwargs)


# -- odd values, as raw JSON text (json.dumps writes NUL and lone surrogates as escapes) -------

odd_texts = st.one_of(
    st.builds(
        lambda before, odd, after: before + odd + after,
        st.text(max_size=3),
        st.sampled_from(["\x00", "\ud800", "\udfff", "\udc00\ud800"]),
        st.text(max_size=3),
    ),
    st.builds(
        lambda char, n: char * n, st.sampled_from("x-~ "), st.integers(MAX_TEXT + 1, 2 * MAX_TEXT)
    ),
).map(json.dumps)
odd_numbers = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", str(MAX_SAFE_INTEGER + 1), "9" * 5000]
)
odd_nesting = st.sampled_from([MAX_DEPTH, 300]).flatmap(
    lambda depth: st.sampled_from(["[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth])
)
odd_values = st.one_of(odd_texts, odd_numbers, odd_nesting)
ODD_TEXTS = ['"a\\u0000b"', '"\\ud800"', '"x\\udfff"', json.dumps("x" * (MAX_TEXT + 1))]
ODD_VALUES = [*ODD_TEXTS, "NaN", "-Infinity", "1e400", str(MAX_SAFE_INTEGER + 1), "9" * 5000]
ODD_VALUES += ["[" * 300 + "]" * 300, '{"a":' * 300 + "1" + "}" * 300]
"""One of each kind of odd value, for the sweeps over every field."""


@dataclass(frozen=True)
class Field:
    """Where an odd value goes in a body, and the name its refusal must mention."""

    template: str
    names: str
    kind: str | None = None
    """The kind of request to answer (None: the body starts a run)."""


ANSWER_FIELDS = [
    Field('{"text": %s}', "text", "text"),
    Field('{"text": "ok", "comment": %s}', "comment", "text"),
    Field('{"response": %s}', "response", "approval"),
    Field('{"approve": %s}', "approve", "approval"),
    Field('{"choice": %s}', "choice", "choice"),
    Field('{"approve": true, "value": %s}', "value", "edit"),
    Field(
        '{"approve": true, "value": {"order_id": "E-1", "amount": 5, "note": %s}}', "note", "edit"
    ),
]
ANSWER_KEYS = [Field('{"approve": true, "value": {%s: 1}}', "value", "edit")]
START_FIELDS = [
    Field('{"agent": %s}', "agent"),
    Field('{"agent": "Sink", "args": [1, %s]}', "args"),
    Field('{"agent": "Sink", "kwargs": {"x": %s}}', "kwargs"),
    Field('{"agent": "Sink", "run_id": %s}', "run_id"),
]
START_KEYS = [Field('{"agent": "Sink", "kwargs": {%s: 1}}', "kwargs")]
BULK_TARGETS = Field('{"targets": [%s], "approve": true}', "targets")


@pytest.fixture
def api(runtime: hitl.Runtime) -> Iterator[Api]:
    """The API over a database with one waiting request of each kind."""
    runs = {
        "text": Writer.start(),
        "approval": Assigned.start(["bob"], "Ship?"),
        "choice": Chooser.start(),
        "edit": Editor.start(),
    }
    requests = {kind: testing.wait_for_request(run).request_id for kind, run in runs.items()}
    with TestClient(create_app(hitl.store(), TokenAuth({"bob": TOKEN}))) as client:
        yield Api(client, {kind: run.id for kind, run in runs.items()}, requests)


@dataclass
class Api:
    client: TestClient
    runs: dict[str, str]
    requests: dict[str, str]

    def post(self, path: str, body: str) -> Any:
        return self.client.post(path, content=body.encode(), headers=HEADERS)

    def still_working(self) -> None:
        """Every request still waits, and the inbox, GET /agents and every frame build."""
        inbox = self.client.get("/requests", headers=HEADERS)
        assert inbox.status_code == 200, inbox.text
        assert sorted(item["request_id"] for item in inbox.json()) == sorted(self.requests.values())
        listed = self.client.get("/agents", headers=HEADERS)
        assert listed.status_code == 200, listed.text
        for frame in (hitl.agents, hitl.history, hitl.decisions):
            frame()
        hitl.inbox_frame(hitl.inbox())


def refused_naming(response: Any, names: str) -> None:
    """A 4xx (never a 500) whose body says which field was refused."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    assert names in response.text, response.text[:500]
    detail = response.json()["detail"]
    messages = [detail["message"]] if isinstance(detail, dict) else [e["msg"] for e in detail]
    assert all(message.strip() for message in messages), detail


def answer_paths(api: Api, kind: str) -> list[tuple[str, Callable[[str], str]]]:
    """The three ways to answer one request, each with how it wraps an answer body."""
    run_id, request_id = api.runs[kind], api.requests[kind]
    return [
        (f"/agents/{run_id}/respond", lambda body: body),
        (f"/requests/{request_id}/respond", lambda body: body),
        ("/requests/respond", lambda body: f'{{"targets": ["{request_id}"], {body[1:]}'),
    ]


def test_every_field_of_every_body_refuses_each_kind_of_odd_value(api: Api) -> None:
    """NUL, lone surrogates, NaN, Infinity, overflow, huge and 300-deep values: 4xx naming where."""
    for field in ANSWER_FIELDS + ANSWER_KEYS:
        assert field.kind is not None
        for path, wrap in answer_paths(api, field.kind):
            for odd in ODD_TEXTS if field in ANSWER_KEYS else ODD_VALUES:
                refused_naming(api.post(path, wrap(field.template % odd)), field.names)
        api.still_working()
    for field in START_FIELDS + START_KEYS:
        for odd in ODD_TEXTS if field in START_KEYS else ODD_VALUES:
            refused_naming(api.post("/agents", field.template % odd), field.names)
    for odd in ODD_VALUES:
        refused_naming(api.post("/requests/respond", BULK_TARGETS.template % odd), "targets")
    api.still_working()
    assert len(api.client.get("/agents", headers=HEADERS).json()) == len(api.runs)


def test_odd_values_in_answers_are_refused_naming_the_field(api: Api) -> None:
    """Every answer field of the three answer endpoints refuses odd values; agents keep waiting."""

    @hypothesis.given(
        case=st.one_of(
            st.tuples(st.sampled_from(ANSWER_FIELDS), odd_values),
            st.tuples(st.sampled_from(ANSWER_KEYS), odd_texts),
        ),
        way=st.integers(0, 2),
    )
    @SETTINGS
    def refused(case: tuple[Field, str], way: int) -> None:
        field, odd = case
        assert field.kind is not None
        path, wrap = answer_paths(api, field.kind)[way]
        refused_naming(api.post(path, wrap(field.template % odd)), field.names)
        api.still_working()

    refused()


def test_odd_values_in_starts_and_bulk_targets_are_refused(api: Api) -> None:
    """POST /agents and the bulk answer's targets refuse odd values; nothing is started."""

    @hypothesis.given(
        case=st.one_of(
            st.tuples(st.sampled_from(START_FIELDS), odd_values),
            st.tuples(st.sampled_from(START_KEYS), odd_texts),
        ),
    )
    @SETTINGS
    def refused(case: tuple[Field, str]) -> None:
        field, odd = case
        refused_naming(api.post("/agents", field.template % odd), field.names)
        refused_naming(api.post("/requests/respond", BULK_TARGETS.template % odd), "targets")
        api.still_working()
        assert len(api.client.get("/agents", headers=HEADERS).json()) == len(api.runs)

    refused()


query_texts = st.one_of(
    st.builds(lambda a, b: a + "%00" + b, st.sampled_from(["", "a"]), st.sampled_from(["", "b"])),
    st.integers(MAX_QUERY_TEXT + 1, 5 * MAX_QUERY_TEXT).map(lambda n: "x" * n),
)
"""Query texts that must be refused: with a NUL, or longer than any filter needs."""
QUERY_ODDITIES = ["%ED%A0%80", "%ED%A0%80x", "%FF", "NaN", "Infinity", "1e400", "-1", "9" * 5000]
QUERY_ODDITIES += ["1000000000d", "9" * 50 + "d", "1m s", "inf", "nan"]
"""Other odd query values (a lone surrogate as UTF-8 bytes, numbers, durations): never a 500."""
QUERIES = [
    ("/agents", "agent"),
    ("/agents", "status"),
    ("/agents/waiting", "agent"),
    ("/requests", "agent"),
    ("/requests", "kind"),
    ("/requests", "assignee"),
    ("/requests", "overdue"),
    ("/requests", "older_than"),
    ("/requests", "search"),
    ("/requests", "sort"),
    ("/requests", "descending"),
    ("/requests", "limit"),
    ("/requests", "offset"),
]
TEXT_QUERIES = [("/agents", "agent"), ("/requests", "assignee"), ("/requests", "search")]
TEXT_QUERIES += [("/agents/waiting", "agent"), ("/requests", "agent"), ("/requests", "older_than")]


def test_odd_query_parameters_are_never_a_500(api: Api) -> None:
    """Every query parameter with a lone surrogate's bytes, odd numbers or durations: no 500."""
    for path, name in QUERIES:
        for oddity in QUERY_ODDITIES:
            response = api.client.get(f"{path}?{name}={oddity}", headers=HEADERS)
            assert response.status_code < 500, (path, name, oddity, response.text[:300])
            if response.status_code >= 400:
                refused_naming(response, "")
        api.still_working()


def test_nul_and_huge_query_texts_are_refused_naming_the_parameter(api: Api) -> None:
    """A text query parameter with a NUL character, or longer than any filter needs, is a 4xx."""

    @hypothesis.given(query=st.sampled_from(TEXT_QUERIES), text=query_texts)
    @SETTINGS
    def refused(query: tuple[str, str], text: str) -> None:
        path, name = query
        refused_naming(api.client.get(f"{path}?{name}={text}", headers=HEADERS), name)
        api.still_working()

    refused()


def test_odd_ids_in_paths_are_4xx_never_500(api: Api) -> None:
    """Run and request ids with a NUL, a lone surrogate's bytes or 5,000 characters: 404 or 422."""
    for odd in ("%00", "a%00b", "%ED%A0%80", "%FF", "x" * 5000):
        for method, path in [
            ("GET", "/agents/{}"),
            ("GET", "/agents/{}/history"),
            ("GET", "/agents/{}/decisions"),
            ("GET", "/requests/{}"),
            ("POST", "/agents/{}/respond"),
            ("POST", "/agents/{}/cancel"),
            ("POST", "/requests/{}/respond"),
        ]:
            response = api.client.request(
                method, path.format(odd), content=b'{"approve": true}', headers=HEADERS
            )
            assert response.status_code in {404, 422}, (method, path, odd, response.text[:300])
            refused_naming(response, "")
    api.still_working()


def test_texts_and_numbers_at_the_limits_are_stored_unchanged(api: Api) -> None:
    """The longest text, characters outside the BMP and the largest safe integer read back."""
    text = ("Ärger 😀 " * MAX_TEXT)[:MAX_TEXT]
    body = json.dumps({"text": text, "comment": str(MAX_SAFE_INTEGER) + " 😀"})  # ASCII escapes
    answered = api.post(f"/agents/{api.runs['text']}/respond", body)
    assert answered.status_code == 200, answered.text[:300]
    stored = api.client.get(f"/requests/{api.requests['text']}", headers=HEADERS).json()
    assert (stored["decision"]["value"], stored["decision"]["comment"]) == (
        text,
        f"{MAX_SAFE_INTEGER} 😀",
    )
    assert hitl.run(api.runs["text"]).result(timeout=30) == text
    started = api.post("/agents", json.dumps({"agent": "Sink", "args": [MAX_SAFE_INTEGER, -1.5]}))
    assert started.status_code == 201, started.text
    assert hitl.run(started.json()["run_id"]).result(timeout=30) == 2
    del api.requests["text"]
    api.still_working()


def test_a_body_over_the_limit_is_413_and_duplicate_keys_are_422(api: Api) -> None:
    """A body longer than 1 MiB is refused unread; a key twice in one object is ambiguous."""
    texts = ["x" * MAX_TEXT] * (MAX_BODY_BYTES // MAX_TEXT + 1)
    too_long = api.post("/agents", json.dumps({"agent": "Sink", "args": texts}))
    assert too_long.status_code == 413
    assert too_long.json()["detail"]["error"] == "InvalidJSON"
    assert "more than 1,048,576" in too_long.json()["detail"]["message"]
    twice = api.post(
        f"/agents/{api.runs['approval']}/respond", '{"approve": false, "approve": true}'
    )
    refused_naming(twice, "the key 'approve' appears twice in one object")
    api.still_working()
