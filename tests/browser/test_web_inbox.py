"""The inbox as a web page, in headless Chromium with no Jupyter: ``hitl serve`` on 127.0.0.1, the
runs in this process, one page.

The page asks for a token and shows nothing else until one is accepted; with a ``#token=`` link
it shows the waiting requests (hostile text as text, no script runs), answers one (the run
resumes) and follows an answer given from Python without a reload; under its strict CSP nothing
is refused. Screenshots of the light and the dark page land in test-artifacts/.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Dialog, Page, expect

import hitl_notebook as hitl
from hitl_notebook import testing
from tests.agents import Asker, Writer
from tests.browser.conftest import ARTIFACTS

TOKENS = {"bob": "bob-token-4567", "alice": "alice-token-123"}
HOSTILE_TITLE = "<img src=x onerror=alert(1)>"
HOSTILE_BODY = "<script>alert(2)</script> **bold** [link](javascript:alert(3))"
HOSTILE_OPTION = "<b onmouseover=alert(4)>yes</b>"


@pytest.fixture
def serve(runtime: hitl.Runtime, db_url: str, tmp_path: Path) -> Iterator[str]:
    """``hitl serve`` on the test's database; its base URL."""
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("".join(f"{who}:{token}\n" for who, token in TOKENS.items()))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(Path(sys.executable).with_name("hitl")), "serve", "--db", db_url]
    server = subprocess.Popen(
        [*command, "--tokens", str(tokens), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/inbox", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        testing.wait_until(up, timeout=60, message="hitl serve listening")
        yield base
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
        assert all(token not in output for token in TOKENS.values())  # never logged


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_web_inbox_answers_and_follows_other_channels(serve: str, page: Page) -> None:
    """Sign-in first; then rows, an answer that resumes its run, a live update, hostile text."""
    dialogs: list[str] = []
    refused: list[str] = []
    requests: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            refused.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("request", lambda request: requests.append(request.url))

    answered_here = Writer.start()
    answered_elsewhere = Writer.start()
    hostile = Asker.start(HOSTILE_TITLE, [HOSTILE_OPTION, "no"], HOSTILE_BODY)
    here_id = answered_here.wait_for_request().request_id
    elsewhere_id = answered_elsewhere.wait_for_request().request_id
    hostile_id = hostile.wait_for_request().request_id

    # Without a token: the form, nothing else; a wrong token is refused and nothing shows.
    page.goto(f"{serve}/")
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#inbox")).to_be_hidden()
    page.fill("#token", "not-a-token-at-all")
    page.click("#sign-in button[type=submit]")
    expect(page.locator("#sign-in-message")).to_have_text(
        "That token was not accepted. Paste a valid one."
    )
    expect(page.locator("#inbox")).to_be_hidden()
    assert page.locator(".hitl-row, .hitl-inbox").count() == 0
    assert page.evaluate("sessionStorage.length") == 0

    # A #token= link: the rows, as bob; the token leaves the address bar at once.
    page.goto(f"{serve}/inbox#token={TOKENS['bob']}")
    expect(page.locator(".hitl-inbox[data-ready='1']")).to_be_visible()
    assert TOKENS["bob"] not in page.url
    assert all(TOKENS["bob"] not in url for url in requests)  # never in a URL the server sees
    expect(page.locator("#sign-in")).to_be_hidden()
    expect(page.locator(".hitl-responder")).to_have_text("answering as bob")
    for request_id in (here_id, elsewhere_id, hostile_id):
        expect(page.locator(f'tr.hitl-row[data-id="{request_id}"]')).to_be_visible()
    expect(page.locator(".hitl-badge")).to_have_text("3 waiting")

    # Hostile text is shown as text: no element made from it, no script run.
    hostile_row = page.locator(f'tr.hitl-row[data-id="{hostile_id}"]')
    expect(hostile_row.locator(".hitl-title > div").first).to_have_text(HOSTILE_TITLE)
    expect(hostile_row.get_by_role("button", name=HOSTILE_OPTION)).to_be_visible()
    assert "<script>alert(2)</script>" in hostile_row.locator(".hitl-preview").inner_text()
    assert page.locator(".hitl-inbox img, .hitl-inbox script").count() == 0
    assert hostile_row.locator("b").count() == 0
    hostile_row.get_by_role("button", name="Details").click()
    details = page.locator(f'.hitl-panel-details[data-id="{hostile_id}"]')
    expect(details).to_contain_text("bold")
    assert details.locator("script, img, a[href^='javascript']").count() == 0
    _screenshot(page, "web_inbox_light")

    # Answer one from the page: the run resumes with it, recorded as bob on the web channel.
    here = page.locator(f'tr.hitl-row[data-id="{here_id}"]')
    here.get_by_role("button", name="Answer").click()
    page.locator(f'.hitl-panel-answer[data-id="{here_id}"] textarea').fill("from the web page")
    page.get_by_role("button", name="Send answer").click()
    assert answered_here.result(timeout=60) == "from the web page"
    (decision,) = answered_here.decisions()
    assert (decision.by, decision.channel) == ("bob", "web")
    expect(here).to_have_count(0)
    expect(page.locator(".hitl-notice")).to_contain_text("answered by bob")

    # Answered from Python: the page follows without a reload.
    page.evaluate("window.__sameDocument = true")
    hitl.respond(elsewhere_id, text="from Python", by="alice")
    expect(page.locator(f'tr.hitl-row[data-id="{elsewhere_id}"]')).to_have_count(0)
    expect(page.locator(".hitl-badge")).to_have_text("1 waiting")
    assert page.evaluate("window.__sameDocument") is True
    assert answered_elsewhere.result(timeout=60) == "from Python"

    # Dark screens get the dark page.
    page.emulate_media(color_scheme="dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(17, 17, 17)"
    _screenshot(page, "web_inbox_dark")

    # The token lives in this tab's sessionStorage: a reload stays signed in; signing out asks.
    page.reload()
    expect(page.locator(".hitl-inbox[data-ready='1']")).to_be_visible()
    page.click("#sign-out")
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#inbox")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0

    assert dialogs == []
    assert refused == []


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
