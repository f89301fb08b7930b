"""Slack's buttons, answered: ``POST /slack/actions`` (the Slack app's Interactivity Request URL)
turns a signed button click into an answer through the store's one answer rule.

The order is the security: the raw body's signature and timestamp are checked first
(``slack_signature``; a tampered, unsigned or stale request gets 401 and nothing else happens);
then the clicking Slack user is mapped to a person through the ``Directory`` (its ``slack``
address: ``U024BE7LH``, or ``T0001:U024BE7LH`` to name the workspace too), never through a display
name; then ``Store.answer`` with ``channel="slack"``, ``by=`` that person, so the assignee and
requester rules, first-answer-wins and the deadline apply as everywhere. Refusals (a Slack user
nobody linked, a person who may not answer, a second click) are 200 with an ephemeral text for
the clicker only; nothing is stored. The endpoint acknowledges at once (Slack waits 3 s) and then
tells the message through the click's ``response_url``: the decision replaces the buttons, or the
refusal shows to the clicker.

Buttons (the Slack channel builds them): ``action_id`` is ``hitl:approve``, ``hitl:reject``,
``hitl:choose:<option>`` or ``hitl:open`` (a URL button: acknowledged, nothing stored); ``value``
is the request id, or ``{"request": id, "digest": <tool call digest>}`` as JSON to bind the
click to a tool call's arguments.

Serve it with ``hitl serve`` and ``$HITL_SLACK_SIGNING_SECRET`` (or ``--slack-secret-file FILE``);
the directory comes from ``--directory FILE`` / ``$HITL_DIRECTORY`` (JSON: ``{"alice": {"slack":
"U024BE7LH"}}``) or, in your own app, ``hitl_notebook._runtime.schedule.configure(directory=...)``.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from hitl_notebook._core.errors import AlreadyDecidedError, HitlError
from hitl_notebook._core.models import Decision, Reply
from hitl_notebook._core.notify import Directory
from hitl_notebook._runtime.schedule import configured
from hitl_notebook._service.http_form import BodyTooLong, form_fields, raw_body
from hitl_notebook._service.slack_signature import valid_slack_request
from hitl_notebook._store.store import Store

__all__ = ["ACTION_PREFIX", "ENV_SLACK_SECRET", "SLACK_CHANNEL", "create_slack_router"]

ENV_SLACK_SECRET = "HITL_SLACK_SIGNING_SECRET"
ACTION_PREFIX = "hitl:"
SLACK_CHANNEL = "slack"
RESPONSE_TIMEOUT_S = 5.0

log = logging.getLogger("hitl_notebook.slack")


class _Click:
    """One verified button click: who (Slack team and user), what, on which request."""

    def __init__(self, payload: dict[str, Any]) -> None:
        action = payload["actions"][0]
        self.action_id: str = action["action_id"]
        self.team: str = (payload.get("team") or {}).get("id") or payload["user"].get("team_id", "")
        self.user: str = payload["user"]["id"]
        self.response_url: str | None = payload.get("response_url")
        value = action.get("value") or ""
        self.digest: str | None = None
        if value.startswith("{"):
            bound = json.loads(value)
            self.request_id: str = bound["request"]
            self.digest = bound.get("digest")
        else:
            self.request_id = value
        for text in (self.action_id, self.team, self.user, self.request_id):
            if not isinstance(text, str):
                raise TypeError("a click's ids are texts")


def create_slack_router(
    store: Store,
    signing_secret: str,
    *,
    directory: Directory | Callable[[], Directory] | None = None,
    clock: Callable[[], float] | None = None,
) -> APIRouter:
    """``POST /slack/actions``: verified clicks answered on ``store`` as the mapped person.

    ``directory``: who is who on Slack (default: the one ``configure(directory=...)`` set in
    this process, read at each click).
    """
    if not signing_secret:
        raise ValueError("Give the Slack app's signing secret.")
    router = APIRouter(tags=["slack"], include_in_schema=False)

    def people() -> Directory:
        if directory is None:
            return configured().directory
        return directory if isinstance(directory, Directory) else directory()

    @router.post("/slack/actions")
    async def actions(request: Request, background: BackgroundTasks) -> Response:
        """A Slack interactive payload: verified, mapped, answered; acknowledged at once."""
        try:
            body = await raw_body(request)
        except BodyTooLong:
            return PlainTextResponse("too long", status_code=413)
        if not valid_slack_request(
            signing_secret,
            body,
            timestamp=request.headers.get("x-slack-request-timestamp"),
            signature=request.headers.get("x-slack-signature"),
            now_s=None if clock is None else clock(),
        ):
            return PlainTextResponse("bad or stale Slack signature", status_code=401)
        try:
            payload = json.loads(form_fields(body)["payload"])
            if payload.get("type") != "block_actions":
                return Response(status_code=200)  # other interactions: acknowledged
            click = _Click(payload)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            return PlainTextResponse("not a Slack block_actions payload", status_code=400)
        if not click.action_id.startswith(ACTION_PREFIX) or click.action_id == "hitl:open":
            return Response(status_code=200)  # a URL button, or not ours: nothing to store
        message = await run_in_threadpool(answer_click, click)
        if click.response_url is not None:
            background.add_task(_tell_slack, click.response_url, message)
        return JSONResponse(message)

    def answer_click(click: _Click) -> dict[str, Any]:
        person = people().person(SLACK_CHANNEL, f"{click.team}:{click.user}") or people().person(
            SLACK_CHANNEL, click.user
        )
        if person is None:
            return _ephemeral(
                "Your Slack account is not linked to anyone who answers here; "
                "ask for it to be added to the directory. Nothing was recorded."
            )
        word = click.action_id.removeprefix(ACTION_PREFIX)
        fields: dict[str, Any]
        if word in ("approve", "reject"):
            fields = {"approve": word == "approve"}
        elif word.startswith("choose:"):
            fields = {"choice": word.removeprefix("choose:")}
        else:
            return _ephemeral(f"This button ({word}) does not answer here. Nothing was recorded.")
        reply = Reply(**fields, by=person, channel=SLACK_CHANNEL, digest=click.digest)
        try:
            decision = store.answer(click.request_id, reply)
        except AlreadyDecidedError as error:
            return _ephemeral(f"Too late: {error} Nothing was recorded.")
        except HitlError as error:
            return _ephemeral(f"Not recorded: {error}")
        return _decided(decision)

    return router


def _ephemeral(text: str) -> dict[str, Any]:
    return {
        "response_type": "ephemeral",
        "replace_original": False,
        "mrkdwn": False,
        "text": _escape(text),
    }


def _decided(decision: Decision) -> dict[str, Any]:
    text = (
        f"{decision.outcome.value.capitalize()} by {decision.who} "
        f"at {decision.at.isoformat(' ', 'seconds')} (via {decision.channel})."
    )
    return {
        "replace_original": True,
        "mrkdwn": False,
        "text": _escape(text),
        "blocks": [{"type": "section", "text": {"type": "plain_text", "text": text[:3000]}}],
    }


def _escape(text: str) -> str:
    """Slack's three control characters, so a text is shown as it is."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _tell_slack(response_url: str, message: dict[str, Any]) -> None:
    """Post ``message`` to a click's ``response_url`` (after the acknowledgement)."""
    if not response_url.startswith(("https://", "http://")):
        return
    data = json.dumps(message).encode()
    post = urllib.request.Request(
        response_url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(post, timeout=RESPONSE_TIMEOUT_S):
            pass
    except OSError as error:
        log.warning("Could not tell Slack the answer's outcome: %s", error)
