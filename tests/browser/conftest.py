"""Fixtures of the browser tests: one Jupyter server and one Chromium for this package.

Package-scoped, not session-scoped: Playwright's sync API keeps an event loop running on the main
thread while it is open, which later tests that call ``asyncio.run`` must not see.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.jupyter import REPO, Lab, jupyter_server, launch_chromium, page_errors

ARTIFACTS = REPO / "test-artifacts"

expect.set_options(timeout=30_000)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)
            # One pytest-xdist worker runs them all: one Jupyter server and one Chromium.
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="package")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A Jupyter server on 127.0.0.1 with its own HITL_HOME."""
    with jupyter_server(tmp_path_factory.mktemp("lab")) as running:
        yield running


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page; a screenshot is saved when the test fails; page errors fail the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.set_default_timeout(30_000)
    yield opened
    report: Any = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        opened.screenshot(path=str(ARTIFACTS / f"failure_{request.node.name}.png"), full_page=True)
        cells = opened.locator(".jp-Cell").all_inner_texts()
        (ARTIFACTS / f"failure_{request.node.name}.txt").write_text("\n----\n".join(cells))
    context.close()
    assert page_errors(errors) == []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def screenshot(page: Page, name: str) -> None:
    """Keep a picture of the widgets (of the page when none shows) in test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    widgets = page.locator(".hitl-inbox, .hitl-run")
    if widgets.count():
        widgets.last.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
