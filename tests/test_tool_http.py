"""A tool call over HTTP: listed and read with its `tool` (name, docstring, digest, call index,
editable arguments); an answer's `digest` binds it to that call (another is 422, nothing stored);
a non-editable argument edited is 422; the decision records tool and digest. SQLite and Postgres."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

import hitl_notebook as hitl
from hitl_notebook import testing
from tests.test_http import as_, client, wait_waiting  # noqa: F401
from tests.tool_shop import ToolShop


def _listed(client: TestClient, amount: float, order_id: str = "A-1") -> dict[str, Any]:  # noqa: F811
    run = ToolShop.start(amount, order_id)
    return wait_waiting(client, run.id)


def test_a_tool_call_is_listed_and_read_with_its_tool(client: TestClient) -> None:  # noqa: F811
    """GET /requests and GET /requests/{id} carry the tool; the proposal is its arguments."""
    item = _listed(client, 80)
    request = hitl.store().request(str(item["request_id"]))
    assert request.tool is not None
    expected = {
        "name": "refund",
        "description": "Refund part of an order.",
        "digest": request.tool.digest,
        "call_index": 1,
        "editable": ["amount"],
    }
    assert (item["kind"], item["tool"], item["proposal"]) == (
        "approval",
        expected,
        {"order_id": "A-1", "amount": 80.0},
    )
    read = client.get(f"/requests/{item['request_id']}", headers=as_("bob")).json()
    assert read["tool"] == expected
    detail = client.get(f"/agents/{item['run_id']}", headers=as_("bob")).json()
    assert detail["requests"][0]["tool"] == expected


def test_an_answer_for_another_call_is_refused(client: TestClient) -> None:  # noqa: F811
    """A digest that is not the request's: 422 StaleAnswerError with the Python message; nothing
    is stored and the run keeps waiting; the right digest is taken."""
    item = _listed(client, 80)
    other = _listed(client, 90, "B-2")
    url = f"/requests/{item['request_id']}/respond"
    refused = client.post(
        url, json={"approve": True, "digest": other["tool"]["digest"]}, headers=as_("bob")
    )
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert detail["error"] == "StaleAnswerError"
    assert "another tool call" in detail["message"]
    assert "Nothing was stored; the agent keeps waiting." in detail["message"]
    assert hitl.store().request(str(item["request_id"])).is_open
    assert hitl.decisions(str(item["run_id"])).empty

    bulk = client.post(
        "/requests/respond",
        json={
            "targets": [item["request_id"], other["request_id"]],
            "approve": True,
            "digest": item["tool"]["digest"],
        },
        headers=as_("bob"),
    )
    assert bulk.status_code == 422
    assert "a digest names one tool call" in bulk.text

    answered = client.post(
        url, json={"approve": True, "digest": item["tool"]["digest"]}, headers=as_("bob")
    )
    assert answered.status_code == 200, answered.text
    decision = answered.json()
    assert (decision["outcome"], decision["tool"], decision["digest"], decision["by"]) == (
        "approved",
        "refund",
        item["tool"]["digest"],
        "bob",
    )
    assert hitl.run(str(item["run_id"])).result(timeout=30) == "refunded 80.0 on A-1"


def test_an_edit_over_http_is_checked_and_recorded(client: TestClient) -> None:  # noqa: F811
    """order_id is not editable (422, the run keeps waiting); amount is, and the decision shows
    both argument sets (the request's proposal, the decision's value)."""
    item = _listed(client, 80)
    url = f"/requests/{item['request_id']}/respond"
    digest = item["tool"]["digest"]
    refused = client.post(
        url,
        json={"approve": True, "value": {"order_id": "Z-9", "amount": 80}, "digest": digest},
        headers=as_("bob"),
    )
    assert refused.status_code == 422
    assert refused.json()["detail"]["error"] == "InvalidAnswerError"
    assert "order_id: may not be edited" in refused.json()["detail"]["message"]
    assert hitl.store().request(str(item["request_id"])).is_open

    edited = client.post(
        url,
        json={"approve": True, "value": {"order_id": "A-1", "amount": 50}, "digest": digest},
        headers=as_("bob"),
    )
    assert edited.status_code == 200, edited.text
    assert hitl.run(str(item["run_id"])).result(timeout=30) == "refunded 50.0 on A-1"
    read = client.get(f"/requests/{item['request_id']}", headers=as_("bob")).json()
    assert read["proposal"] == {"order_id": "A-1", "amount": 80.0}
    assert read["decision"]["outcome"] == "edited"
    assert read["decision"]["value"] == {"order_id": "A-1", "amount": 50.0}
    assert (read["decision"]["tool"], read["decision"]["digest"]) == ("refund", digest)
    testing.wait_until(lambda: not client.get("/requests", headers=as_("bob")).json(), timeout=30)
