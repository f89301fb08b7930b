"""The pages an answer link opens: what the request asks and what the answer will be (a form that
posts it), or what became of it. Every text is escaped: a request's title, body and proposal are
shown as text, never interpreted. No script; one inline style, allowed by its hash in the CSP.

The headers keep the token where it is: no referrer leaves the page, nothing is cached, no frame
may embed it, and forms post only back here.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape

from hitl_notebook._core.links import LinkGrant, answer_word_label
from hitl_notebook._core.models import Request

__all__ = ["PAGE_HEADERS", "confirm_page", "message_page"]

_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em;"
    "color:#222}h1{font-size:1.4em}pre,.body{white-space:pre-wrap;overflow-wrap:anywhere}"
    "pre{background:#f4f4f4;padding:.6em}.who{color:#555}textarea{width:100%;min-height:4em}"
    "button{font-size:1em;margin:.6em .6em 0 0;padding:.4em 1.2em}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()

PAGE_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
"""Sent with every page an answer link opens."""


def confirm_page(request: Request, grant: LinkGrant) -> str:
    """The request and a form: one button per answer the link gives, a comment, and the text
    box of a text answer. Loading it changes nothing; pressing a button posts the answer."""
    parts = [f"<h1>{escape(request.title)}</h1>"]
    if request.body:
        parts.append(f'<div class="body">{escape(request.body)}</div>')
    if request.tool is not None:
        parts.append(f"<p>The agent wants to call <b>{escape(request.tool.name)}</b> with:</p>")
    if request.proposal is not None:
        shown = json.dumps(request.proposal, indent=2, ensure_ascii=False)
        parts.append(f"<pre>{escape(shown)}</pre>")
    if request.deadline is not None:
        parts.append(f"<p>Answer before {escape(request.deadline.isoformat(' ', 'minutes'))}.</p>")
    what = _will_be(grant.answers)
    parts.append(
        f'<p class="who">{escape(what)}, answering as <b>{escape(grant.responder)}</b>.</p>'
    )
    form = ['<form method="post">']
    if "text" in grant.answers:
        form.append(
            '<p><label>Your answer<br><textarea name="text" required></textarea></label></p>'
        )
    form.append('<p><label>Comment (optional)<br><textarea name="comment"></textarea></label></p>')
    form.extend(
        f'<button type="submit" name="answer" value="{escape(word)}">'
        f"{escape(answer_word_label(word))}</button>"
        for word in grant.answers
    )
    form.append("</form>")
    if not grant.answers:  # a multiple choice or an input request: no one-click answer
        form = ["<p>Answer it in the inbox: its checkboxes or its form are there.</p>"]
    return _page(request.title, "\n".join(parts + form))


def message_page(title: str, message: str) -> str:
    """A page that only says something: the answer recorded, or why the link does nothing."""
    return _page(title, f"<h1>{escape(title)}</h1>\n<p>{escape(message)}</p>")


def _will_be(answers: tuple[str, ...]) -> str:
    if answers == ("approve",):
        return "Your answer will be: approve"
    if answers == ("reject",):
        return "Your answer will be: reject"
    if len(answers) == 1 and answers[0].startswith("choose:"):
        return f"Your answer will be: {answer_word_label(answers[0])}"
    return "Choose your answer below"


def _page(title: str, content: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body>\n{content}\n</body></html>\n"
    )
