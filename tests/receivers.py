"""Real receivers on 127.0.0.1 for the channels' tests: an HTTP server that records what it is
sent (a webhook receiver, a fake Slack Web API) and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    """One POST as the server got it (header names in lower case)."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Reply = tuple[int, bytes]


class HttpReceiver:
    """Records every POST; answers each with ``reply(received)`` (default: the next of
    ``statuses``, then 200 for ever)."""

    def __init__(
        self,
        statuses: Sequence[int] = (),
        reply: Callable[[Received], Reply] | None = None,
    ) -> None:
        self.received: list[Received] = []
        self.statuses = list(statuses)
        self._reply = reply or self._next_status
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                headers = {name.lower(): value for name, value in self.headers.items()}
                got = Received(self.path, headers, self.rfile.read(length))
                with receiver._lock:
                    receiver.received.append(got)
                    status, body = receiver._reply(got)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _next_status(self, _received: Received) -> Reply:
        status = self.statuses.pop(0) if self.statuses else 200
        return status, b"{}"

    def bodies(self) -> list[Any]:
        with self._lock:
            return [got.json() for got in self.received]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class FakeSlack(HttpReceiver):
    """Slack's Web API as far as the channel uses it: ``chat.postMessage`` (a new ``ts`` each)
    and ``chat.update`` (of a message it posted), both with the bot token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.messages: dict[str, dict[str, Any]] = {}
        super().__init__(reply=self._answer)

    def _answer(self, got: Received) -> Reply:
        if got.headers.get("authorization") != f"Bearer {self.token}":
            return 200, json.dumps({"ok": False, "error": "invalid_auth"}).encode()
        call = got.json()
        if got.path == "/api/chat.postMessage":
            ts = f"{1700000000 + len(self.messages)}.000100"
            self.messages[ts] = call
            return 200, json.dumps({"ok": True, "channel": "C0HITL", "ts": ts}).encode()
        if got.path == "/api/chat.update":
            if call.get("channel") != "C0HITL" or call.get("ts") not in self.messages:
                return 200, json.dumps({"ok": False, "error": "message_not_found"}).encode()
            self.messages[call["ts"]] = call
            return 200, json.dumps({"ok": True, "channel": "C0HITL", "ts": call["ts"]}).encode()
        return 404, b'{"ok": false, "error": "unknown_method"}'

    def calls(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [got.json() for got in self.received if got.path == f"/api/{method}"]


class Mailbox:
    """An SMTP server on 127.0.0.1 keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in list(self.messages) if m["To"] == address]

    def close(self) -> None:
        self._controller.stop()
