"""Slack as a channel: a Block Kit message with the request, its facts and answer buttons.

Two ways to post, chosen by what you give ``Slack``:

- a bot token (``token=``, ``channel=``): ``chat.postMessage`` returns the message's channel and
  ``ts``, kept as the receipt (``"<channel>:<ts>"``); reminders and escalations go in the
  message's thread (shown in the channel too), and once the request is decided (anywhere: the
  notebook, the CLI, a link) ``chat.update`` turns the message into the decision, without buttons;
- an incoming webhook (``webhook_url=``): posts one message per notification; Slack gives no
  receipt, so the message cannot be updated and a decision is a message of its own.

Buttons: Approve and Reject (``action_id`` ``hitl:approve`` / ``hitl:reject``), or one per option of
a choice (``hitl:choose:<option>``), each with the request id as its ``value``; the clicks reach
the Slack interactive endpoint of ``hitl serve``, which verifies Slack's signature. A link that
answers as one person is never shown in a channel: the Open button appears only when the
recipients' ``open`` links are one and the same URL.

Text from the request is escaped for mrkdwn (``&``, ``<``, ``>``), so no ``<!channel>``, mention or
link hidden in a title or a body is interpreted. Recipients are mentioned by their Slack user id
from the directory (``{"alice": {"slack": "U024BE7LH"}}``), or named as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hitl_notebook._channels import message
from hitl_notebook._channels.posting import check_url, post, where
from hitl_notebook._core.models import Request, RequestKind
from hitl_notebook._core.notify import DeliveryFailed, Notification, RetryLater

__all__ = ["ACTION_PREFIX", "Slack", "decided_blocks", "escape", "request_blocks"]

ACTION_PREFIX = "hitl:"
SLACK_API = "https://slack.com/api"
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
BUTTON_TEXT_LIMIT = 75
ACTION_ID_LIMIT = 255
MAX_BUTTONS = 25
_RETRY_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
_GONE_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")


class Slack:
    """Post each notification to Slack, with a bot token or through an incoming webhook.

    >>> channels.Slack(token=os.environ["SLACK_BOT_TOKEN"], channel="C0123APPROVALS")
    >>> channels.Slack(webhook_url=os.environ["SLACK_WEBHOOK_URL"])   # cannot update messages

    ``api_url``: where the Web API is (tests point it at a local fake).
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        channel: str | None = None,
        webhook_url: str | None = None,
        api_url: str = SLACK_API,
        name: str = "slack",
        timeout_s: float = 10.0,
    ) -> None:
        if (token is None) == (webhook_url is None):
            raise ValueError(
                "Give Slack either a bot token and a channel (token=, channel=) or an incoming "
                "webhook's URL (webhook_url=), not both or neither."
            )
        if token is not None and not channel:
            raise ValueError("A bot token posts to a channel: give channel= (an id like C0123).")
        self._token = token
        self.channel = channel
        self._webhook_url = (
            check_url(webhook_url, "A Slack webhook_url") if webhook_url is not None else None
        )
        self.api_url = check_url(api_url, "Slack's api_url").rstrip("/")
        self.name = name
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        target = f"channel={self.channel!r}" if self._token else "webhook_url=..."
        return f"Slack({target}, name={self.name!r})"

    def send(self, notification: Notification) -> str | None:
        """Post (or update) the message; returns ``"<channel>:<ts>"`` with a bot token."""
        mentions = self._mentions(notification)
        decided = notification.event in ("decided", "timed_out")
        blocks = (
            decided_blocks(notification.request)
            if decided
            else request_blocks(notification, mentions)
        )
        text = escape(f"{message.headline(notification)}: {notification.request.title}")
        if self._webhook_url is not None:
            body = {"text": text, "blocks": blocks}
            post(self._webhook_url, _json(body), _JSON, timeout_s=self.timeout_s)
            return None
        metadata = {
            "event_type": "hitl_notification",
            "event_payload": {"key": notification.key, "request": notification.request.request_id},
        }
        first = _parse_receipt(notification.receipt)
        if decided and first is not None:
            channel, ts = first
            try:
                self._call(
                    "chat.update", {"channel": channel, "ts": ts, "text": text, "blocks": blocks}
                )
            except _MessageGone:
                first = None  # deleted, or too old to edit: say it in a message of its own
            else:
                return notification.receipt
        posted: dict[str, Any] = {
            "channel": self.channel,
            "text": text,
            "blocks": blocks,
            "metadata": metadata,
            "unfurl_links": False,
        }
        if first is not None and notification.event in ("reminder", "escalated"):
            posted.update(channel=first[0], thread_ts=first[1], reply_broadcast=True)
        answer = self._call("chat.postMessage", posted)
        return f"{answer.get('channel', posted['channel'])}:{answer.get('ts', '')}"

    def _mentions(self, notification: Notification) -> list[str]:
        found = []
        for person in notification.recipients:
            user = notification.directory.address(person, self.name) or (
                notification.directory.address(person, "slack")
            )
            found.append(f"<@{user}>" if user and _USER_ID.fullmatch(user) else escape(person))
        return found

    def _call(self, method: str, arguments: dict[str, Any]) -> dict[str, Any]:
        assert self._token is not None
        headers = {**_JSON, "Authorization": f"Bearer {self._token}"}
        response = post(
            f"{self.api_url}/{method}", _json(arguments), headers, timeout_s=self.timeout_s
        )
        answer = response.json()
        if not isinstance(answer, dict):
            raise RetryLater(f"{where(self.api_url)} {method} answered something not JSON")
        if answer.get("ok"):
            return answer
        error = str(answer.get("error", "unknown_error"))
        if error in _RETRY_ERRORS:
            raise RetryLater(f"Slack {method}: {error}")
        if error in _GONE_ERRORS:
            raise _MessageGone(error)
        raise DeliveryFailed(f"Slack refused {method}: {error}")


class _MessageGone(DeliveryFailed):
    """The message to update is gone or can no longer be edited."""


_JSON = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "hitl-notebook"}


def _json(value: Any) -> bytes:
    return json.dumps(value, default=str).encode()


def _parse_receipt(receipt: str | None) -> tuple[str, str] | None:
    if not receipt or ":" not in receipt:
        return None
    channel, _, ts = receipt.rpartition(":")
    return (channel, ts) if channel and ts else None


def escape(text: str) -> str:
    """Text shown as text in mrkdwn: ``&``, ``<`` and ``>`` as entities (no mention, no link)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(escaped: str, limit: int) -> str:
    """Escaped text cut to ``limit`` characters, never inside an entity."""
    if len(escaped) <= limit:
        return escaped
    return _PARTIAL_ENTITY.sub("", escaped[: limit - 1]) + "…"


def _plain(text: str, limit: int) -> dict[str, Any]:
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    return {"type": "plain_text", "text": shown, "emoji": False}


def _mrkdwn(escaped: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _clip(escaped, SECTION_LIMIT)}


def _date(moment: datetime) -> str:
    """Shown in each reader's own time zone by Slack, with a UTC fallback."""
    return (
        f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{message.when(moment)}>"
    )


def _facts(request: Request, mentions: Sequence[str]) -> str:
    shown = [f"*Agent* {escape(request.agent)}", f"*Run* `{escape(request.run_id)}`"]
    if request.tool is not None:
        shown.append(f"*Tool* `{escape(request.tool.name)}`")
    if mentions:
        shown.append("*For* " + ", ".join(mentions))
    if request.deadline is not None:
        shown.append(f"*Deadline* {_date(request.deadline)}")
    return " · ".join(shown)


def request_blocks(
    notification: Notification, mentions: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The message for an open request: headline, title, body, proposal, facts, buttons."""
    request = notification.request
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(request.title, HEADER_LIMIT)},
        {"type": "context", "elements": [_mrkdwn(f"*{escape(message.headline(notification))}*")]},
    ]
    if request.body:
        blocks.append({"type": "section", "text": _mrkdwn(escape(request.body))})
    if request.proposal:
        shown = json.dumps(request.proposal, indent=1, default=str)
        blocks.append({"type": "section", "text": _mrkdwn(f"```{escape(shown)}```")})
    blocks.append({"type": "context", "elements": [_mrkdwn(_facts(request, mentions))]})
    buttons = _buttons(request, _shared_open_link(notification))
    if buttons:
        blocks.append(
            {"type": "actions", "block_id": f"hitl-{request.request_id}"[:255], "elements": buttons}
        )
    return blocks


def decided_blocks(request: Request) -> list[dict[str, Any]]:
    """What the message becomes once the request is decided: how, by whom, no buttons."""
    line = message.decision_line(request) or "Closed."
    return [
        {"type": "header", "text": _plain(request.title, HEADER_LIMIT)},
        {"type": "section", "text": _mrkdwn(escape(line))},
        {"type": "context", "elements": [_mrkdwn(_facts(request, ()))]},
    ]


def _buttons(request: Request, open_url: str | None) -> list[dict[str, Any]]:
    buttons: list[dict[str, Any]] = []
    value = request.request_id
    if request.kind in (RequestKind.APPROVAL, RequestKind.EDIT):
        buttons.append(
            {
                "type": "button",
                "action_id": f"{ACTION_PREFIX}approve",
                "text": _plain("Approve", BUTTON_TEXT_LIMIT),
                "value": value,
                "style": "primary",
                "confirm": {
                    "title": _plain("Approve?", 100),
                    "text": _plain(request.title, 300),
                    "confirm": _plain("Approve", 30),
                    "deny": _plain("Cancel", 30),
                },
            }
        )
        buttons.append(
            {
                "type": "button",
                "action_id": f"{ACTION_PREFIX}reject",
                "text": _plain("Reject", BUTTON_TEXT_LIMIT),
                "value": value,
                "style": "danger",
            }
        )
    elif request.kind is RequestKind.CHOICE and not request.multiple:
        for option in request.options or []:
            action_id = f"{ACTION_PREFIX}choose:{option}"
            if len(action_id) <= ACTION_ID_LIMIT and len(buttons) < MAX_BUTTONS - 1:
                buttons.append(
                    {
                        "type": "button",
                        "action_id": action_id,
                        "text": _plain(option, BUTTON_TEXT_LIMIT),
                        "value": value,
                    }
                )
    if open_url is not None:
        buttons.append(
            {
                "type": "button",
                "action_id": f"{ACTION_PREFIX}open",
                "text": _plain("Open", BUTTON_TEXT_LIMIT),
                "url": open_url,
            }
        )
    return buttons


def _shared_open_link(notification: Notification) -> str | None:
    """The ``open`` link, if every recipient has the same one (a personal one is not shown)."""
    urls = {links.get("open") for links in notification.links.values()}
    if len(urls) != 1:
        return None
    url = urls.pop()
    return url if url and url.startswith(("https://", "http://")) and len(url) <= 3000 else None
