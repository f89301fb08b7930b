"""What the widgets say, in people's words: one vocabulary, computed here, drawn by the browser.

The browser never maps DBOS states, request kinds or rules itself: each row and card carries the
words (``run_state_word``), the actions the request takes, what its deadline will do and, when the
widget's responder may not answer it, why (the store's own rule, ``check_responder``). A request's
body is Markdown rendered here with raw HTML off and only http(s)/mailto links, so what an agent
(or whoever wrote its input) puts in a body stays inert in the page; its proposal becomes a
field/value table. A tool call (``Request.tool``) is named ``Tool call: refund`` and its arguments
become a name/value table that says which a person may change; once decided after an edit, what
changed is a table of argument, proposed and approved values (``changed_arguments``). A quorum
request (``Request.quorum``) says its rule, how far its votes are and who voted how
(``quorum_facts``); its Approve and Reject buttons vote. A multiple choice offers ``pick`` (a
panel of checkboxes) with its count rule (``pick_facts``); an input request offers ``fill`` (a
blank form drawn from its schema).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, TypedDict

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from hitl_notebook._core.access import check_responder
from hitl_notebook._core.answers import changed_fields, pick_rule
from hitl_notebook._core.errors import NotAllowedError
from hitl_notebook._core.models import Answer, Decision, Outcome, Request, RequestKind, ToolCall
from hitl_notebook._core.quorum import count, voter_refusal
from hitl_notebook._core.times import to_ms

__all__ = [
    "PickFacts",
    "QuorumFacts",
    "RequestFacts",
    "ToolFacts",
    "VoteFacts",
    "at_deadline",
    "changed_arguments",
    "markdown_html",
    "markdown_text",
    "pick_facts",
    "proposal_rows",
    "quorum_facts",
    "request_actions",
    "request_facts",
    "request_name",
    "status_text",
    "tool_facts",
    "tool_label",
    "why_not",
]

MAX_BODY = 20_000
"""Characters of a body rendered as Markdown (the rest is cut)."""
MAX_FIELDS = 200
"""Rows of a proposal table (the rest is summed up in one row)."""
_MAX_DEPTH = 6
_SAFE_SCHEMES = ("http", "https", "mailto")
_NEST = " \u203a "  # a single right-pointing angle quote: "address > city"


class ToolFacts(TypedDict):
    """A tool call as people see it: the tool, its docstring, its arguments, what may change."""

    name: str
    label: str
    """``Tool call: refund``."""
    description: str | None
    digest: str
    """What an answer carries back, so that an answer meant for another call is refused."""
    call_index: int
    editable: list[str] | None
    """The arguments a person may change (None: all of them; empty: none)."""
    arguments: list[list[str]]
    """``[argument, value, "editable" or ""]`` rows (nested values as in ``proposal_rows``)."""


class VoteFacts(TypedDict):
    """One person's vote on a quorum request, as people read it."""

    voter: str
    word: str
    """``approved`` or ``rejected``."""
    channel: str
    comment: str | None
    at_ms: int


class QuorumFacts(TypedDict):
    """Where a quorum request's votes stand: the rule, how far the votes are, who voted how."""

    rule: str
    """``2 of 3 approvals (alice, bob, carol); one rejection vetoes``."""
    progress: str
    """``1 of 2 approvals``."""
    votes: list[VoteFacts]


class PickFacts(TypedDict):
    """How many options a multiple choice takes: the browser enables Submit in between."""

    min: int
    max: int
    rule: str
    """``pick 1 to 3``."""


class RequestFacts(TypedDict):
    """What a row or card needs to offer a request's buttons, or to say why it offers none."""

    actions: list[str]
    """``approve``, ``reject``, ``edit``, ``choose`` (one button per option), ``pick`` (several
    options), ``answer`` or ``fill`` (an input request's form)."""
    at_deadline: str | None
    """What happens once the deadline has passed (None: no deadline)."""
    why_not: str | None
    """Why the widget's responder may not answer it (None: they may)."""
    tool: ToolFacts | None
    """The tool call it asks about (None: not a tool call)."""
    quorum: QuorumFacts | None
    """The votes it needs and has (None: one answer decides it); its buttons then vote."""
    picks: PickFacts | None
    """For a multiple choice: how many options to pick (None: not one)."""


def tool_label(name: str) -> str:
    """``Tool call: refund``: how every face names a tool-call request."""
    return f"Tool call: {name}"


def tool_facts(tool: ToolCall, arguments: dict[str, Any] | None) -> ToolFacts:
    """The tool call of a request, with its arguments (the proposal) as rows."""
    rows = []
    for name, value in proposal_rows(arguments or {}):
        top = name.split(_NEST, 1)[0].split(" ", 1)[0]
        may = tool.editable is None or top in tool.editable
        rows.append([name, value, "editable" if may else ""])
    return ToolFacts(
        name=tool.name,
        label=tool_label(tool.name),
        description=tool.description,
        digest=tool.digest,
        call_index=tool.call_index,
        editable=tool.editable,
        arguments=rows,
    )


def changed_arguments(request: Request, decision: Decision | None = None) -> list[list[str]]:
    """What an edit changed: ``[argument, proposed, approved]`` rows, by the rule the store
    checks editable arguments with; empty unless approved with an edited proposal."""
    decision = decision or request.decision
    if decision is None or decision.outcome is not Outcome.EDITED:
        return []
    before, after = request.proposal, decision.value
    if not isinstance(before, dict) or not isinstance(after, dict):
        return []
    return [
        [name, _shown(before, name), _shown(after, name)] for name in changed_fields(before, after)
    ]


def _shown(values: dict[str, Any], name: str) -> str:
    if name not in values:
        return "(none)"
    value = values[name]
    return _compact(value) if isinstance(value, dict | list) else _scalar(value)


def request_facts(request: Request, responder: str) -> RequestFacts:
    """The actions, the deadline's rule and the responder's right for one request."""
    return RequestFacts(
        actions=request_actions(request),
        at_deadline=None if request.deadline is None else at_deadline(request),
        why_not=why_not(request, responder),
        tool=None if request.tool is None else tool_facts(request.tool, request.proposal),
        quorum=None if request.quorum is None else quorum_facts(request),
        picks=pick_facts(request),
    )


def pick_facts(request: Request) -> PickFacts | None:
    """A multiple choice's count rule (None for any other request)."""
    if request.picks is None:
        return None
    least, most = request.picks
    return PickFacts(min=least, max=most, rule=pick_rule(least, most))


def quorum_facts(request: Request) -> QuorumFacts:
    """A quorum request's rule, its votes so far and who cast them."""
    assert request.quorum is not None
    tally = count(
        request.quorum,
        request.votes,
        requester=request.requester,
        allow_requester=request.allow_requester,
    )
    return QuorumFacts(
        rule=request.quorum.rule,
        progress=tally.progress,
        votes=[
            VoteFacts(
                voter=b.voter,
                word=b.word,
                channel=b.channel,
                comment=b.comment,
                at_ms=to_ms(b.at),
            )
            for b in request.votes
        ],
    )


def request_name(title: str | None, request_id: str) -> str:
    """``“Refund A-1?” (refund-A-1.r1)``: how a notice names a request."""
    return f"“{title}” ({request_id})" if title else request_id


def request_actions(request: Request) -> list[str]:
    """The buttons a request takes: approve/reject (and edit), one per option, pick (several
    options), answer, or fill (a form)."""
    if request.kind is RequestKind.CHOICE:
        return ["pick"] if request.multiple else ["choose"]
    if request.kind is RequestKind.TEXT:
        return ["answer"]
    if request.kind is RequestKind.INPUT:
        return ["fill"]
    if request.quorum is not None:
        return ["approve", "reject"]  # votes are on the proposal as it stands
    editable = request.kind is RequestKind.EDIT or request.proposal is not None
    if request.tool is not None and request.tool.editable == []:
        editable = False  # a tool call none of whose arguments may change
    return ["approve", "reject", "edit"] if editable else ["approve", "reject"]


def why_not(request: Request, responder: str) -> str | None:
    """Why ``responder`` may not answer ``request`` (None: they may), by the store's rule; for
    a quorum request, why they may not vote (or that they have)."""
    if request.quorum is not None:
        mine = [b for b in request.votes if b.voter == responder]
        if mine:
            return f"you have voted ({mine[0].word})"
        return voter_refusal(
            request.quorum,
            responder,
            requester=request.requester,
            allow_requester=request.allow_requester,
        )
    try:
        check_responder(request, responder)
    except NotAllowedError as error:
        return error.reason
    return None


def at_deadline(request: Request) -> str:
    """What the request's deadline does, said for a request whose deadline has passed."""
    answer = request.default_answer
    if answer is None:
        return "it will raise a timeout in the agent when the run next looks; answers are refused"
    return f"it will be {_default_word(answer)} (its default) when the run next looks; answers are refused"


def _default_word(answer: Answer) -> str:
    if answer.approve is not None:
        return "approved" if answer.approve else "rejected"
    if answer.choice is not None:
        return f"answered {answer.choice!r}"
    if answer.choices is not None:
        return f"answered {', '.join(map(repr, answer.choices)) or 'with no option'}"
    if answer.value is not None:
        return "answered with its default form"
    return "answered with its default text"


def status_text(
    status: str | None, detail: str | None, titles: Sequence[str], state_word: str
) -> str:
    """The agent's own status for a status column, without what the row already says.

    The SDK's ``waiting — <title>`` repeats the title and the run's state: it says nothing more.
    """
    parts = [part for part in (status, detail) if part and part not in titles]
    if parts in ([state_word], ["waiting"]):
        return ""
    return " — ".join(parts)


def proposal_rows(value: Any) -> list[list[str]]:
    """A proposal as ``[field, value]`` rows: nested fields as ``address > city``
    and ``lines 1 > sku`` (with an angle quote), lists of plain values inline."""
    rows: list[list[str]] = []
    _flatten(value, "", rows, 0)
    if len(rows) > MAX_FIELDS:
        rows = [*rows[:MAX_FIELDS], ["…", f"{len(rows) - MAX_FIELDS} more fields"]]
    return rows


def _flatten(value: Any, path: str, rows: list[list[str]], depth: int) -> None:
    if depth >= _MAX_DEPTH and isinstance(value, dict | list):
        rows.append([path, _compact(value)])
    elif isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{path}{_NEST}{key}" if path else str(key), rows, depth + 1)
    elif isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
        for index, item in enumerate(value, 1):
            _flatten(item, f"{path} {index}", rows, depth + 1)
    elif isinstance(value, list):
        rows.append([path, ", ".join(_scalar(v) for v in value) if value else "(none)"])
    elif isinstance(value, dict):
        rows.append([path, "(empty)"])
    else:
        rows.append([path, _scalar(value)])


def _scalar(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _compact(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (RecursionError, TypeError, ValueError):
        return "(too deep to show)"
    return text if len(text) <= 200 else text[:199] + "…"


def _safe_link(url: str) -> bool:
    """Only http(s) and mailto links, and links without a scheme (relative, #anchors)."""
    scheme = re.match(r"^([^/?#]*):", url.strip())
    return scheme is None or scheme.group(1).lower() in _SAFE_SCHEMES


def _link_open(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    tokens[idx].attrSet("target", "_blank")
    tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
    return renderer.renderToken(tokens, idx, options, env)


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_MARKDOWN.validateLink = _safe_link  # type: ignore[method-assign]
_MARKDOWN.disable("image")  # an image would make the page fetch whatever the body points at
_MARKDOWN.add_render_rule("link_open", _link_open)


def markdown_html(text: str | None) -> str:
    """``text`` as HTML: Markdown with raw HTML shown as text and unsafe links left out."""
    if not text:
        return ""
    if len(text) > MAX_BODY:
        text = text[:MAX_BODY] + "…"
    html: str = _MARKDOWN.render(text)
    return html


def markdown_text(text: str | None) -> str:
    """``text``'s words without Markdown's marks (for a one-line preview): ``**a** [b](u)`` is ``a b``."""
    if not text:
        return ""
    words: list[str] = []
    for block in _MARKDOWN.parse(text[:MAX_BODY]):
        if block.type == "inline" and block.children:
            words.append("".join(_BREAKS.get(t.type, t.content) for t in block.children))
        elif block.type in ("fence", "code_block"):
            words.append(block.content.strip())
    return " ".join(word for word in words if word)


_BREAKS = {"softbreak": " ", "hardbreak": " "}
"""Line breaks in a preview (marks such as ``**`` have no content and add nothing)."""
