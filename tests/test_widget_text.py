"""What the widgets say: statuses without repeats, deadline rules, proposal tables, safe Markdown.

Pure functions, no database: the widget tests (test_widget.py) check that rows and cards carry
these words; the browser tests check that the page draws them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest

from hitl_notebook._core.models import Answer, Decision, Outcome, Request, RequestKind, ToolCall
from hitl_notebook._notebook.text import (
    MAX_FIELDS,
    at_deadline,
    changed_arguments,
    markdown_html,
    markdown_text,
    proposal_rows,
    request_actions,
    status_text,
    tool_facts,
    why_not,
)

HOSTILE_MARKDOWN = """# Refund <script>window.pwned = 1</script>

<img src=x onerror="window.pwned = 2">
<a href="javascript:window.pwned = 3">raw link</a>
<iframe src="https://evil.example"></iframe>

[plain](javascript:window.pwned=4) [case](JaVaScRiPt:window.pwned=5)
[entity](&#106;avascript:window.pwned=6) [spaced](  javascript:window.pwned=7)
[tab](java\tscript:window.pwned=8) [data](data:text/html;base64,PHNjcmlwdD4=)
[vb](vbscript:msgbox) <javascript:window.pwned=9> ![pixel](https://tracker.example/p.png)
[ok](https://example.com/order?id=1) [mail](mailto:finance@example.com) [here](#top)

**bold**, `code` and a list:

- one
- two
"""

SAFE_TAGS = {"p", "h1", "h2", "h3", "a", "strong", "em", "code", "pre", "ul", "ol", "li", "br"}


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))


def _elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.elements


def _request(**fields: Any) -> Request:
    return Request(
        request_id="r-1.r1",
        run_id="r-1",
        agent="Agent",
        kind=fields.pop("kind", RequestKind.APPROVAL),
        title="Refund A-1?",
        requested_at=datetime(2026, 1, 1, tzinfo=UTC),
        **fields,
    )


def test_hostile_markdown_renders_inert() -> None:
    """Script tags, event attributes, javascript:/data:/vbscript: links and images come out as
    text, or as plain links to http(s), mailto and anchors only."""
    html = markdown_html(HOSTILE_MARKDOWN)
    elements = _elements(html)
    assert {tag for tag, _ in elements} <= SAFE_TAGS
    for _tag, attrs in elements:
        assert not [name for name in attrs if name.lower().startswith("on")]
        for name in ("href", "src"):
            value = re.sub(r"[\x00-\x20]", "", unescape(attrs.get(name) or "")).lower()
            assert not value.startswith(("javascript:", "vbscript:", "data:", "file:")), attrs
    links = [attrs["href"] for tag, attrs in elements if tag == "a"]
    assert links == [
        "https://tracker.example/p.png",  # an image is a link to click, never fetched by itself
        "https://example.com/order?id=1",
        "mailto:finance@example.com",
        "#top",
    ]
    assert "&lt;script&gt;" in html  # shown as text, not dropped
    assert "<strong>bold</strong>" in html
    assert "<li>one</li>" in html


def test_links_open_in_a_new_tab_without_the_opener() -> None:
    """A link in a body cannot reach back into the notebook page."""
    (link,) = [a for tag, a in _elements(markdown_html("[x](https://a.example)")) if tag == "a"]
    assert (link["target"], link["rel"]) == ("_blank", "noopener noreferrer nofollow")


def test_a_row_previews_the_bodys_words_without_markdown_marks() -> None:
    """``**damaged** [order](u)`` previews as ``damaged order``; HTML stays text."""
    body = "The customer says: **damaged**\non arrival. [Order](https://x.example) `B-3`\n\n- one"
    assert markdown_text(body) == "The customer says: damaged on arrival. Order B-3 one"
    assert markdown_text("<b>hi</b>") == "<b>hi</b>"
    assert markdown_text(None) == ""


def test_empty_and_huge_bodies() -> None:
    """No body is no HTML; a huge body is cut rather than rendered whole."""
    assert markdown_html(None) == ""
    assert markdown_html("") == ""
    assert len(markdown_html("x" * 100_000)) < 21_000


def test_proposal_table_has_a_readable_row_per_field() -> None:
    """Nested models as ``a > b``, list items numbered, plain lists inline, None and bools in words."""
    rows = proposal_rows(
        {
            "order_id": "A-1",
            "amount": 12.5,
            "express": False,
            "note": None,
            "tags": ["damaged", "late"],
            "lines": [{"sku": "S-1", "qty": 2}, {"sku": "S-2", "qty": 1}],
            "address": {"city": "Berlin", "zip": "10115"},
            "empty": [],
        }
    )
    assert rows == [
        ["order_id", "A-1"],
        ["amount", "12.5"],
        ["express", "no"],
        ["note", "—"],
        ["tags", "damaged, late"],
        ["lines 1 \u203a sku", "S-1"],
        ["lines 1 \u203a qty", "2"],
        ["lines 2 \u203a sku", "S-2"],
        ["lines 2 \u203a qty", "1"],
        ["address \u203a city", "Berlin"],
        ["address \u203a zip", "10115"],
        ["empty", "(none)"],
    ]


def test_deep_and_wide_proposals_stay_small() -> None:
    """A 300-deep value is cut to compact text; thousands of fields to a bounded table."""
    deep: Any = "bottom"
    for _ in range(300):
        deep = {"next": deep}
    (row,) = proposal_rows(deep)
    assert row[0].count("\u203a") == 5
    assert len(row[1]) <= 200
    wide = proposal_rows({f"f{i}": i for i in range(5_000)})
    assert len(wide) == MAX_FIELDS + 1
    assert wide[-1] == ["…", f"{5_000 - MAX_FIELDS} more fields"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"on_timeout": "default", "timeout_answer": Answer(approve=False)},
            "it will be rejected (its default) when the run next looks; answers are refused",
        ),
        (
            {"on_timeout": "default", "timeout_answer": Answer(approve=True)},
            "it will be approved (its default) when the run next looks; answers are refused",
        ),
        (
            {
                "kind": RequestKind.CHOICE,
                "on_timeout": "default",
                "timeout_answer": Answer(choice="ups"),
            },
            "it will be answered 'ups' (its default) when the run next looks; answers are refused",
        ),
        (
            {"kind": RequestKind.TEXT, "on_timeout": "default", "timeout_answer": Answer(text="-")},
            "it will be answered with its default text (its default) when the run next looks; "
            "answers are refused",
        ),
        (
            {"on_timeout": "raise"},
            "it will raise a timeout in the agent when the run next looks; answers are refused",
        ),
    ],
)
def test_an_overdue_request_says_what_its_deadline_will_do(
    fields: dict[str, Any], expected: str
) -> None:
    """The timeout rule stored with the request, in a sentence."""
    assert at_deadline(_request(**fields)) == expected


@pytest.mark.parametrize(
    ("status", "detail", "expected"),
    [
        ("waiting", "Refund A-1?", ""),  # the SDK's own status: the title and the state again
        ("pending_approval", "checking the order", "pending_approval — checking the order"),
        ("pending_approval", "Refund A-1?", "pending_approval"),
        ("waiting", None, ""),
        (None, None, ""),
        ("working", "half way", "working — half way"),
    ],
)
def test_the_status_column_says_what_the_row_does_not(
    status: str | None, detail: str | None, expected: str
) -> None:
    """The agent's own status stays; the title and the state word are not repeated."""
    assert status_text(status, detail, ["Refund A-1?"], "waiting") == expected


def test_actions_follow_the_request_kind() -> None:
    """Approve/reject (and edit with a proposal), one button per option, or a text answer."""
    assert request_actions(_request()) == ["approve", "reject"]
    assert request_actions(_request(proposal={"a": 1})) == ["approve", "reject", "edit"]
    assert request_actions(_request(kind=RequestKind.EDIT)) == ["approve", "reject", "edit"]
    assert request_actions(_request(kind=RequestKind.CHOICE, options=["a"])) == ["choose"]
    assert request_actions(_request(kind=RequestKind.TEXT)) == ["answer"]


def test_who_may_not_answer_is_the_stores_rule() -> None:
    """Assignees and the requester rule, with the store's own reason."""
    request = _request(assignees=["bob", "carol"], requester="carol", allow_requester=False)
    assert why_not(request, "bob") is None
    assert why_not(request, "alice") == "it is assigned to bob, carol"
    assert why_not(request, "carol") == (
        "they started this run and the request does not let its requester answer"
    )


def _tool(editable: list[str] | None) -> ToolCall:
    return ToolCall(
        name="ship", description="Ship.", digest="d" * 64, call_index=2, editable=editable
    )


def test_a_tool_calls_arguments_say_which_may_change() -> None:
    """None: every argument editable; a list: those; empty: none, and no Edit button."""
    arguments = {"order_id": "A-1", "address": {"city": "Lyon"}, "lines": [{"sku": "S"}]}
    everything = tool_facts(_tool(None), arguments)
    assert everything["label"] == "Tool call: ship"
    assert [row[2] for row in everything["arguments"]] == ["editable"] * 3
    some = tool_facts(_tool(["address"]), arguments)["arguments"]
    assert some == [
        ["order_id", "A-1", ""],
        ["address \u203a city", "Lyon", "editable"],
        ["lines 1 \u203a sku", "S", ""],
    ]
    fixed = _request(proposal=arguments, tool=_tool([]))
    assert request_actions(fixed) == ["approve", "reject"]
    assert request_actions(_request(proposal=arguments, tool=_tool(["address"]))) == [
        "approve",
        "reject",
        "edit",
    ]


def test_what_an_edit_changed_is_listed_argument_by_argument() -> None:
    """Changed, added and removed arguments, in the proposal's order; nothing unless edited."""
    proposal = {"order_id": "A-1", "amount": 80.0, "note": "x", "tags": ["a"]}
    request = _request(proposal=proposal, tool=_tool(None))
    at = datetime(2026, 1, 1, 1, tzinfo=UTC)

    def decided(outcome: Outcome, value: object) -> Decision:
        return Decision(
            request_id=request.request_id,
            run_id=request.run_id,
            kind=request.kind,
            outcome=outcome,
            approved=True,
            value=value,
            at=at,
            channel="widget",
            requested_at=request.requested_at,
        )

    edited = {"order_id": "A-1", "amount": 50, "tags": ["a", "b"], "extra": True}
    assert changed_arguments(request, decided(Outcome.EDITED, edited)) == [
        ["amount", "80.0", "50"],
        ["note", "x", "(none)"],
        ["tags", '["a"]', '["a", "b"]'],
        ["extra", "(none)", "yes"],
    ]
    assert changed_arguments(request, decided(Outcome.APPROVED, proposal)) == []
    assert changed_arguments(request) == []
