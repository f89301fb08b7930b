"""The built-in channels against real receivers on 127.0.0.1 (an HTTP server, a fake Slack Web
API, aiosmtpd), driven by the durable schedule on SQLite and Postgres: what each receiver gets,
retries with backoff on a compressed clock, the "not notified" line, hostile text as text."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import hitl_notebook as hitl
from hitl_notebook import Runtime, channels, testing
from hitl_notebook._channels.environment import channels_from_environment
from hitl_notebook._core.times import now_ms
from hitl_notebook._runtime.schedule import MAX_ATTEMPTS
from tests.kernels import ChildProcesses
from tests.receivers import FakeSlack, HttpReceiver, Mailbox

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HOSTILE_TITLE = "<!channel> *Ship* <https://evil.example|now> & <script>alert(1)</script>"
HOSTILE_BODY = "<img src=x onerror=alert(1)> <@U0EVIL> &amp; `rm -rf`\nBcc: victim@example.org"
HOUR_MS = 3_600_000


class Announced(hitl.Agent):
    """One approval for alice, announced on the channels named."""

    def run(self, title: str, body: str, on: list[str], remind_every: str | None = None) -> str:
        decision = self.request_approval(
            title,
            body=body,
            assignees=["alice"],
            notify=hitl.Notify(channels=on, remind_every=remind_every, escalate=[("2h", ["lead"])]),
        )
        return f"{decision.outcome}:{decision.by}"


class Picker(hitl.Agent):
    """A choice for alice, announced on the channels named."""

    def run(self, on: list[str]) -> str:
        decision = self.request_choice(
            "Which region?",
            ["eu-west", "us-east", "ap-south"],
            assignees=["alice"],
            notify=hitl.Notify(channels=on),
        )
        return str(decision.value)


@pytest.fixture
def unconfigured() -> Iterator[None]:
    """No channel configured before or after the test."""
    channels.configure([])
    yield
    channels.configure([])


@pytest.fixture
def webhook() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    yield receiver
    receiver.close()


def fire(runtime: Runtime, *, ahead_ms: int = 0) -> None:
    """Fire what the schedule has due ``ahead_ms`` from now (a compressed clock)."""
    assert runtime.scheduler is not None
    runtime.scheduler.tick(at_ms=now_ms() + ahead_ms)


def mrkdwn_texts(value: object) -> list[str]:
    """Every mrkdwn text in Slack blocks (what Slack formats; plain_text is shown as it is)."""
    if isinstance(value, list):
        return [text for item in value for text in mrkdwn_texts(item)]
    if isinstance(value, dict):
        own = [value["text"]] if value.get("type") == "mrkdwn" else []
        return own + [text for item in value.values() for text in mrkdwn_texts(item)]
    return []


def history_of(run_id: str) -> list[tuple[str, str]]:
    frame = hitl.history(run_id)
    return [(str(s), str(d)) for s, d in zip(frame["status"], frame["detail"], strict=True)]


@pytest.mark.usefixtures("unconfigured")
def test_webhook_is_signed_and_keeps_its_key_across_a_retry(
    runtime: Runtime, webhook: HttpReceiver
) -> None:
    """A webhook that answers 503 then 200 gets the same signed notification twice (same
    webhook-id), the run is untouched, the history says notified; hostile text arrives as text."""
    webhook.statuses = [503]
    channels.configure([channels.Webhook(webhook.url + "/hooks/hitl", secret=SECRET)])
    run = Announced.start(HOSTILE_TITLE, HOSTILE_BODY, ["webhook"])
    request = testing.wait_for_request(run)
    testing.wait_until(lambda: webhook.received, timeout=30, message="the first attempt")
    testing.wait_until(
        lambda: fire(runtime, ahead_ms=5_000) or len(webhook.received) >= 2,
        timeout=30,
        message="the retry",
    )
    first, second = webhook.received[:2]
    key = f"{request.request_id}:notify:1"
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == key
    for got in (first, second):
        assert got.path == "/hooks/hitl"
        assert channels.verify_signature(SECRET, got.headers, got.body)
        assert not channels.verify_signature("whsec_" + "A" * 44, got.headers, got.body)
        assert not channels.verify_signature(SECRET, got.headers, got.body + b" ")
    sent = second.json()
    assert (sent["event"], sent["key"], sent["attempt"]) == ("requested", key, 2)
    assert sent["request"]["title"] == HOSTILE_TITLE
    assert sent["request"]["body"] == HOSTILE_BODY
    assert (sent["request"]["id"], sent["request"]["run"]) == (request.request_id, run.id)
    assert (sent["request"]["kind"], sent["request"]["assignees"]) == ("approval", ["alice"])
    assert sent["recipients"] == ["alice"]
    assert sent["decision"] is None
    testing.wait_until(
        lambda: ("notified", "webhook: requested to alice") in history_of(run.id),
        timeout=30,
        message="the history line",
    )

    hitl.respond(request.request_id, approve=True, by="alice", comment="<b>ok</b>")
    assert run.result(timeout=30) == "approved:alice"
    decided = testing.wait_until(
        lambda: [b for b in webhook.bodies() if b["event"] == "decided"], timeout=30
    )[0]
    assert decided["key"] == f"{request.request_id}:decided:1"
    assert decided["decision"]["by"] == "alice"
    assert decided["decision"]["comment"] == "<b>ok</b>"
    assert decided["request"]["state"] == "decided"


@pytest.mark.usefixtures("unconfigured")
def test_a_channel_failing_every_time_ends_not_notified_and_never_fails_the_run(
    runtime: Runtime,
) -> None:
    """A receiver that always answers 503 is tried MAX_ATTEMPTS times with backoff (the clock
    compressed), then the history says "not notified"; the run still takes its answer."""
    always_down = HttpReceiver(statuses=[503] * 100)
    try:
        channels.configure([channels.Webhook(always_down.url, secret="plain secret")])
        run = Announced.start("Deploy?", "to prod", ["webhook"])
        request = testing.wait_for_request(run)
        not_notified = testing.wait_until(
            lambda: (
                fire(runtime, ahead_ms=HOUR_MS // 4)
                or [d for s, d in history_of(run.id) if s == "not notified"]
            ),
            timeout=60,
            message="not notified",
        )
        assert not_notified[0].startswith(f"webhook: gave up after {MAX_ATTEMPTS} tries")
        assert "503" in not_notified[0]
        keys = {got.headers["webhook-id"] for got in always_down.received}
        notify_posts = [g for g in always_down.received if g.json()["event"] == "requested"]
        assert len(notify_posts) == MAX_ATTEMPTS
        assert keys >= {f"{request.request_id}:notify:1"}
        assert hitl.store().request(request.request_id).is_open
        hitl.respond(request.request_id, approve=False, by="alice")
        assert run.result(timeout=30) == "rejected:alice"
    finally:
        always_down.close()


@pytest.mark.usefixtures("unconfigured")
def test_slack_posts_then_updates_the_message_when_decided_elsewhere(runtime: Runtime) -> None:
    """With a bot token: chat.postMessage with escaped text, a mention from the directory and
    Approve/Reject buttons; answered in Python, the same message is updated without buttons."""
    slack = FakeSlack("xoxb-test-token")
    try:
        channels.configure(
            [channels.Slack(token="xoxb-test-token", channel="C0HITL", api_url=slack.url + "/api")],
            directory={"alice": {"slack": "U0ALICE"}},
        )
        run = Announced.start(HOSTILE_TITLE, HOSTILE_BODY, ["slack"])
        request = testing.wait_for_request(run)
        posted = testing.wait_until(lambda: slack.calls("chat.postMessage"), timeout=30)[0]
        assert posted["channel"] == "C0HITL"
        assert posted["metadata"]["event_payload"]["key"] == f"{request.request_id}:notify:1"
        blocks = posted["blocks"]
        assert blocks[0] == {  # plain_text: never formatted, shown as it is
            "type": "header",
            "text": {"type": "plain_text", "text": HOSTILE_TITLE, "emoji": False},
        }
        shown = " ".join([posted["text"], *mrkdwn_texts(blocks)])
        for hostile in ("<!channel>", "<https://evil", "<@U0EVIL>", "<script>", "<img"):
            assert hostile not in shown
        assert "&lt;!channel&gt;" in posted["text"]
        body = next(b for b in blocks if b["type"] == "section")
        assert body["text"]["text"] == (
            "&lt;img src=x onerror=alert(1)&gt; &lt;@U0EVIL&gt; &amp;amp; `rm -rf`\n"
            "Bcc: victim@example.org"
        )
        assert "*For* <@U0ALICE>" in shown
        actions = next(b for b in blocks if b["type"] == "actions")["elements"]
        assert [(a["action_id"], a["value"]) for a in actions] == [
            ("hitl:approve", request.request_id),
            ("hitl:reject", request.request_id),
        ]
        ts = next(iter(slack.messages))

        hitl.respond(request.request_id, approve=True, by="alice")
        assert run.result(timeout=30) == "approved:alice"
        updated = testing.wait_until(lambda: slack.calls("chat.update"), timeout=30)[0]
        assert (updated["channel"], updated["ts"]) == ("C0HITL", ts)
        assert all(b["type"] != "actions" for b in updated["blocks"])
        assert "Approved by alice (python)" in json.dumps(updated["blocks"])
        assert len(slack.calls("chat.postMessage")) == 1
    finally:
        slack.close()


@pytest.mark.usefixtures("unconfigured")
def test_slack_reminders_go_in_the_thread_and_a_choice_has_a_button_per_option(
    runtime: Runtime,
) -> None:
    """A choice gets one button per option; the message's receipt threads what follows."""
    slack = FakeSlack("xoxb-t")
    try:
        channels.configure(
            [channels.Slack(token="xoxb-t", channel="C0HITL", api_url=slack.url + "/api")]
        )
        run = Picker.start(["slack"])
        request = testing.wait_for_request(run)
        posted = testing.wait_until(lambda: slack.calls("chat.postMessage"), timeout=30)[0]
        actions = next(b for b in posted["blocks"] if b["type"] == "actions")["elements"]
        assert [a["action_id"] for a in actions] == [
            "hitl:choose:eu-west",
            "hitl:choose:us-east",
            "hitl:choose:ap-south",
        ]
        assert {a["value"] for a in actions} == {request.request_id}
        assert "*For* alice" in json.dumps(posted["blocks"])  # nobody in the directory: a name
        hitl.respond(request.request_id, choice="us-east", by="alice")
        assert run.result(timeout=30) == "us-east"
        updated = testing.wait_until(lambda: slack.calls("chat.update"), timeout=30)[0]
        assert "Chose us-east by alice" in json.dumps(updated["blocks"])
    finally:
        slack.close()


@pytest.mark.usefixtures("unconfigured")
def test_slack_incoming_webhook_posts_a_message_per_notification(
    runtime: Runtime, webhook: HttpReceiver
) -> None:
    """Through an incoming webhook: the message, then the decision as a message of its own."""
    channels.configure([channels.Slack(webhook_url=webhook.url + "/services/T0/B0/x")])
    run = Announced.start("Refund?", "42 EUR", ["slack"])
    request = testing.wait_for_request(run)
    first = testing.wait_until(webhook.bodies, timeout=30)[0]
    assert [b["type"] for b in first["blocks"]][:2] == ["header", "context"]
    hitl.respond(request.request_id, approve=False, by="alice")
    run.result(timeout=30)
    bodies = testing.wait_until(lambda: len(webhook.bodies()) >= 2 and webhook.bodies())
    assert "Rejected by alice" in json.dumps(bodies[1]["blocks"])


@pytest.mark.usefixtures("unconfigured")
def test_email_reaches_each_person_with_their_links_and_html_as_text(runtime: Runtime) -> None:
    """aiosmtpd gets one message per recipient: Message-ID from the key, Auto-Submitted, the text
    and the escaped HTML part, that person's links only; reminders and the escalation to the
    lead (at 1 h and 2 h of a compressed clock) thread under the first message."""
    mailbox = Mailbox()
    try:
        channels.configure(
            [channels.Email("127.0.0.1", mailbox.port, "HITL <hitl@example.org>")],
            directory={
                "alice": {"email": "alice@example.org"},
                "lead": {"email": "lead@example.org"},
            },
            links=lambda request, person: {
                "approve": f"https://hitl.example/a/{person}/yes?r={request.request_id}&x=1",
                "reject": f"https://hitl.example/a/{person}/no",
            },
        )
        run = Announced.start(HOSTILE_TITLE, HOSTILE_BODY, ["email"], "1h")
        request = testing.wait_for_request(run)
        first = testing.wait_until(lambda: mailbox.to("alice@example.org"), timeout=30)[0]
        assert first["Subject"] == f"[Announced] {HOSTILE_TITLE}"
        key_id = f"{request.request_id}:notify:1".replace(":", ".")
        assert first["Message-ID"].strip() == f"<{key_id}.alice@example.org>"
        assert first["Auto-Submitted"] == "auto-generated"
        assert "Bcc" not in first
        assert mailbox.envelopes[0] == ("hitl@example.org", ["alice@example.org"])
        text = first.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
        page = first.get_body(preferencelist=("html",)).get_content()
        assert HOSTILE_TITLE in text and HOSTILE_BODY in text
        assert f"Approve: https://hitl.example/a/alice/yes?r={request.request_id}&x=1" in text
        for hostile in ("<script>", "<img", "<!channel>"):
            assert hostile not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert f"href='https://hitl.example/a/alice/yes?r={request.request_id}&amp;x=1'" in page
        assert "/a/lead/" not in page

        fire(runtime, ahead_ms=HOUR_MS + 1_000)
        reminder = testing.wait_until(
            lambda: [m for m in mailbox.to("alice@example.org") if "Reminder" in m["Subject"]]
        )[0]
        assert reminder["In-Reply-To"].strip() == first["Message-ID"].strip()
        fire(runtime, ahead_ms=2 * HOUR_MS + 1_000)  # the escalation, then its message to lead
        testing.wait_until(lambda: fire(runtime) or mailbox.to("lead@example.org"), timeout=30)
        escalated = mailbox.to("lead@example.org")[0]
        assert escalated["Subject"].startswith("Escalated: [Announced]")
        assert "/a/lead/no" in escalated.get_body(preferencelist=("plain",)).get_content()
        hitl.respond(request.request_id, approve=True, by="lead")
        assert run.result(timeout=30) == "approved:lead"
        testing.wait_until(
            lambda: [m for m in mailbox.to("alice@example.org") if "Decided" in m["Subject"]]
        )
        kinds = [s for s, _ in history_of(run.id)]
        assert kinds.count("reminded") == 2  # at 1 h and at 2 h
        assert kinds.count("escalated") == 1
        reminders = [m for m in mailbox.to("alice@example.org") if "Reminder" in m["Subject"]]
        assert len({m["Message-ID"] for m in reminders}) == 2
    finally:
        mailbox.close()


@pytest.mark.usefixtures("unconfigured")
def test_email_without_an_address_is_not_notified_at_once(runtime: Runtime) -> None:
    """Nobody to send to is a failure for good: no retries, "not notified" in the history."""
    mailbox = Mailbox()
    try:
        channels.configure([channels.Email("127.0.0.1", mailbox.port, "hitl@example.org")])
        run = Announced.start("Ship?", "", ["email"])
        request = testing.wait_for_request(run)
        line = testing.wait_until(
            lambda: [d for s, d in history_of(run.id) if s == "not notified"], timeout=30
        )[0]
        assert "email: gave up after 1 tries" in line and "alice" in line
        assert mailbox.messages == []
        hitl.respond(request.request_id, approve=True, by="alice")
        assert run.result(timeout=30) == "approved:alice"
    finally:
        mailbox.close()


@pytest.mark.usefixtures("unconfigured")
def test_apprise_reaches_a_local_json_receiver(runtime: Runtime, webhook: HttpReceiver) -> None:
    """apprise's json:// URL gets the title and the plain text; a failing URL is RetryLater."""
    channels.configure([channels.Apprise(f"json://127.0.0.1:{webhook.url.rsplit(':', 1)[1]}/in")])
    run = Announced.start("Rotate keys?", "all of them", ["apprise"])
    request = testing.wait_for_request(run)
    got = testing.wait_until(webhook.bodies, timeout=30)[0]
    assert got["title"] == "[Announced] Rotate keys?"
    assert "Rotate keys?\n\nall of them" in got["message"]
    hitl.respond(request.request_id, approve=True, by="alice")
    run.result(timeout=30)

    down = HttpReceiver(statuses=[500] * 10)
    try:
        failing = channels.Apprise(f"json://127.0.0.1:{down.url.rsplit(':', 1)[1]}/in")
        stored = hitl.store().request(request.request_id)
        note = channels.Notification(
            key="k:notify:1", event="requested", request=stored, recipients=(), links={}, attempt=1
        )
        with pytest.raises(channels.RetryLater):
            failing.send(note)
    finally:
        down.close()


def test_worker_channels_come_from_the_environment_and_dbos_config(tmp_path: Path) -> None:
    """HITL_* variables and the notify: section of dbos-config.yaml make the channels and the
    directory; a variable wins over the file; a wrong section says what is wrong."""
    (tmp_path / "people.yaml").write_text("alice: {email: alice@example.org, slack: U0ALICE}\n")
    config = tmp_path / "dbos-config.yaml"
    config.write_text(
        "name: app\n"
        "notify:\n"
        "  email: {host: smtp.example.org, port: 2525, sender: hitl@example.org,"
        " password: '${SMTP_PASSWORD}', username: hitl, starttls: true}\n"
        "  slack: {webhook_url: 'https://hooks.slack.invalid/services/x'}\n"
        "  directory: people.yaml\n"
    )
    env = {
        "HITL_WEBHOOK_URL": "http://127.0.0.1:9/hooks",
        "HITL_WEBHOOK_SECRET": SECRET,
        "HITL_SMTP_PORT": "587",
        "SMTP_PASSWORD": "s3cret",
    }
    found, directory = channels_from_environment(env, config)
    by_name = {channel.name: channel for channel in found}
    assert sorted(by_name) == ["email", "slack", "webhook"]
    mail = by_name["email"]
    assert isinstance(mail, channels.Email)
    assert (mail.host, mail.port, mail.starttls) == ("smtp.example.org", 587, True)
    assert directory.address("alice", "slack") == "U0ALICE"
    assert "s3cret" not in repr(found)

    directory_file = tmp_path / "dir.json"
    directory_file.write_text(json.dumps({"bob": {"email": "bob@example.org"}}))
    empty = tmp_path / "empty" / "dbos-config.yaml"
    empty.parent.mkdir()
    empty.write_text("name: app\n")
    found, directory = channels_from_environment({"HITL_DIRECTORY": str(directory_file)}, empty)
    assert found == [] and directory.address("bob", "email") == "bob@example.org"
    with pytest.raises(hitl.ConfigurationError, match="channel="):
        channels_from_environment({"HITL_SLACK_TOKEN": "xoxb-1"}, empty)
    config.write_text("notify:\n  pager: {url: x}\n")
    with pytest.raises(hitl.ConfigurationError, match="not a channel"):
        channels_from_environment({}, config)


def test_channels_refuse_what_cannot_work() -> None:
    """Constructors say what is missing before anything is sent."""
    with pytest.raises(ValueError, match="http"):
        channels.Webhook("ftp://example.org/x", secret=SECRET)
    with pytest.raises(ValueError, match="either"):
        channels.Slack()
    with pytest.raises(ValueError, match="sender"):
        channels.Email("smtp.example.org", 25, "nobody")
    with pytest.raises(ValueError, match="apprise does not take"):
        channels.Apprise("nosuchscheme://x")


WORKER_AGENTS = """
import hitl_notebook as hitl


class Notified(hitl.Agent):
    notify = hitl.Notify()  # every channel the sending process has

    def run(self) -> str:
        return str(self.request_approval("Rotate the keys?", assignees=["alice"]).by)
"""


@pytest.mark.slow
def test_a_worker_sends_through_the_channels_its_environment_names(
    db_url: str, webhook: HttpReceiver, tmp_path: Path
) -> None:
    """`hitl worker` with HITL_WEBHOOK_URL and HITL_WEBHOOK_SECRET set says which channels it
    notifies through, and its runs' requests reach the webhook, signed."""
    with testing.launched(db_url, executor="setup"):
        pass
    agents = tmp_path / "notified_agents.py"
    agents.write_text(WORKER_AGENTS)
    children = ChildProcesses(db_url, tmp_path)
    env = {**os.environ, "HITL_WEBHOOK_URL": webhook.url + "/w", "HITL_WEBHOOK_SECRET": SECRET}
    worker = subprocess.Popen(
        [str(Path(sys.executable).with_name("hitl")), "worker", str(agents), "--db", db_url],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    children.processes.append(worker)
    try:
        assert worker.stdout is not None
        ready = next(line for line in worker.stdout if re.search(r"hitl worker \S+ ready", line))
        assert ready.rstrip().endswith("notifying through webhook")
        store = hitl.connect(db_url)
        [run_id] = store.enqueue_many("Notified", [((), {})])
        sent = testing.wait_until(lambda: webhook.received, timeout=60, message="the notification")[
            0
        ]
        assert channels.verify_signature(SECRET, sent.headers, sent.body)
        assert sent.json()["request"]["title"] == "Rotate the keys?"
        store.respond(sent.json()["request"]["id"], approve=True, by="alice")
        assert store.result(run_id, timeout=60) == "alice"
    finally:
        children.close()
