"""E-mail as a channel: one message per recipient (each carries that person's answer links), sent
with the standard library's ``smtplib``.

Each message has a text part and an HTML part (every text from the request escaped, so HTML in a
title or a body shows as text), a link per allowed answer when the sending process makes answer
links, and these headers:

- ``Message-ID: <key.person@domain>``, derived from the notification's key, so a re-sent message
  (at-least-once) carries the same id and threads with (or is dropped as) the first; reminders,
  escalations and decisions refer to the first message (``In-Reply-To``), so mail clients thread
  them;
- ``Auto-Submitted: auto-generated`` (RFC 3834: auto-responders do not answer it) and
  ``X-Auto-Response-Suppress: All``;
- ``X-HITL-Request: <request id>``.

Addresses come from the directory (``{"alice": {"email": "alice@example.com"}}``); a recipient
whose identity is itself an address (has an ``@``) needs no entry. SMTP answers: 4xx and a lost
connection are tried again later; 5xx (an unknown mailbox, a refused sender) never will succeed.
"""

from __future__ import annotations

import hashlib
import html
import re
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import parseaddr

from hitl_notebook._channels import message
from hitl_notebook._core.notify import DeliveryFailed, Notification, RetryLater

__all__ = ["Email", "email_message", "message_id"]

_ATOM = re.compile(r"[A-Za-z0-9._-]{1,64}")


class Email:
    """Send each notification by e-mail through an SMTP server.

    >>> channels.Email("smtp.example.com", 587, "approvals@example.com",
    ...                username="approvals", password=os.environ["SMTP_PASSWORD"], starttls=True)

    ``ssl``: connect with TLS from the start (port 465); ``starttls``: upgrade a plain connection.
    """

    def __init__(
        self,
        host: str,
        port: int = 25,
        sender: str = "",
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        ssl: bool = False,
        timeout_s: float = 10.0,
        name: str = "email",
    ) -> None:
        address = parseaddr(sender)[1]
        if "@" not in address:
            raise ValueError(f"An e-mail channel needs a sender address, not {sender!r}.")
        if starttls and ssl:
            raise ValueError("Use either ssl=True (port 465) or starttls=True, not both.")
        self.host = host
        self.port = port
        self.sender = sender
        self.domain = address.rpartition("@")[2]
        self._login = (username, password or "") if username else None
        self.starttls = starttls
        self.ssl = ssl
        self.timeout_s = timeout_s
        self.name = name

    def __repr__(self) -> str:
        return f"Email({self.host!r}, {self.port}, {self.sender!r}, name={self.name!r})"

    def send(self, notification: Notification) -> None:
        """Send one message to each recipient with an address; raises ``RetryLater`` or
        ``DeliveryFailed`` when the server cannot take them."""
        addressed = [
            (person, address)
            for person in notification.recipients
            if (address := self.address_of(notification, person)) is not None
        ]
        if not addressed:
            if not notification.recipients:
                raise DeliveryFailed(
                    "The request names nobody to tell (no assignees, no Notify(to=...))."
                )
            raise DeliveryFailed(
                f"Nobody of {', '.join(notification.recipients)} has an e-mail address in the "
                "directory (channels.configure(directory={person: {'email': address}}))."
            )
        messages = [
            email_message(notification, person, address, sender=self.sender, domain=self.domain)
            for person, address in addressed
        ]
        try:
            with self._connect() as smtp:
                for mail in messages:
                    smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            _raise(min(codes) if codes else 550, f"refused {', '.join(error.recipients)}")
        except smtplib.SMTPResponseException as error:
            said = error.smtp_error
            _raise(
                error.smtp_code,
                said.decode("utf-8", "replace") if isinstance(said, bytes) else said,
            )
        except (smtplib.SMTPException, OSError) as error:
            raise RetryLater(f"could not reach {self.host}:{self.port}: {error}") from None

    def address_of(self, notification: Notification, person: str) -> str | None:
        """``person``'s address: from the directory, or the identity itself if it is one."""
        found = notification.directory.address(person, self.name) or (
            notification.directory.address(person, "email")
        )
        if found is None and "@" in parseaddr(person)[1]:
            found = person
        return found

    def _connect(self) -> smtplib.SMTP:
        if self.ssl:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_s, context=_tls()
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        try:
            if self.starttls:
                smtp.starttls(context=_tls())
            if self._login is not None:
                smtp.login(*self._login)
        except BaseException:
            smtp.close()
            raise
        return smtp


def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


def _raise(code: int, said: str) -> None:
    what = f"the mail server answered {code}: {said}"
    if 400 <= code < 500:
        raise RetryLater(what) from None
    raise DeliveryFailed(what) from None


def message_id(key: str, person: str, domain: str) -> str:
    """The Message-ID of the notification ``key`` to ``person``: the same on every attempt."""
    left = key.replace(":", ".")
    left = left if _ATOM.fullmatch(left) else hashlib.sha256(left.encode()).hexdigest()[:32]
    who = person if _ATOM.fullmatch(person) else hashlib.sha256(person.encode()).hexdigest()[:16]
    return f"<{left}.{who}@{domain}>"


def email_message(
    notification: Notification, person: str, address: str, *, sender: str, domain: str
) -> EmailMessage:
    """The message telling ``person`` (at ``address``) about the notification."""
    request = notification.request
    links = _answer_links(notification, person)
    mail = EmailMessage()
    mail["Subject"] = message.subject(notification)[:250]
    mail["From"] = sender
    mail["To"] = address
    mail["Message-ID"] = message_id(notification.key, person, domain)
    if notification.event != "requested":
        first = message_id(f"{request.request_id}:notify:1", person, domain)
        mail["In-Reply-To"] = first
        mail["References"] = first
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Auto-Response-Suppress"] = "All"
    mail["X-HITL-Request"] = " ".join(request.request_id.split())
    mail.set_content(message.plain_text(notification, links))
    mail.add_alternative(_html(notification, links), subtype="html")
    return mail


def _answer_links(notification: Notification, person: str) -> dict[str, str]:
    """``person``'s links: one per allowed answer, then ``open`` (none once decided)."""
    mine = notification.links.get(person) or {}
    ordered = [*message.answers(notification.request), "open"]
    found = {answer: mine[answer] for answer in ordered if answer in mine}
    found.update({answer: url for answer, url in mine.items() if answer not in found})
    return found


def _html(notification: Notification, links: Mapping[str, str]) -> str:
    request = notification.request
    text = html.escape
    parts = [
        f"<p style='color:#555'>{text(message.headline(notification))}</p>",
        f"<h2>{text(request.title)}</h2>",
    ]
    if request.body:
        parts.append(f"<p style='white-space:pre-wrap'>{text(request.body)}</p>")
    rows = "".join(
        f"<tr><th align=left>{text(label)}</th><td>{text(value)}</td></tr>"
        for label, value in message.facts(request)
    )
    parts.append(f"<table>{rows}</table>")
    decided = message.decision_line(request)
    if decided:
        parts.append(f"<p><b>{text(decided)}</b></p>")
    if links and request.is_open:
        buttons = " ".join(
            f"<a href='{text(url)}' style='display:inline-block;padding:8px 14px;"
            f"border:1px solid #888;border-radius:4px;text-decoration:none'>"
            f"{text(answer.capitalize())}</a>"
            for answer, url in links.items()
        )
        parts.append(f"<p>{buttons}</p>")
        parts.append(
            "<p style='color:#666'>A link asks you to confirm before anything is recorded. "
            "It answers as you: do not forward this message.</p>"
        )
    return "<!doctype html><html><body>" + "".join(parts) + "</body></html>"
