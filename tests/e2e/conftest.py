"""Browser fixtures: Debian's Chromium driven by Playwright's sync API.

Tests marked ``@pytest.mark.browser`` are skipped, with the reason shown, when Chromium or the
``playwright`` package is missing, unless GATEHOUSE_REQUIRE_BROWSER=1 (CI sets it): then they fail,
so a CI run cannot pass without the browser tests having run.
"""

import importlib.util
import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def _missing_browser_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"Debian chromium not installed ({CHROMIUM} missing): apt-get install chromium"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed: .venv/bin/pip install -r requirements-dev.txt"
    return None


def pytest_runtest_setup(item):
    if item.get_closest_marker("browser") is None:
        return
    reason = _missing_browser_reason()
    if reason is None:
        return
    if os.environ.get("GATEHOUSE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"GATEHOUSE_REQUIRE_BROWSER=1 but the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def playwright():
    # Playwright's sync API runs an asyncio event loop in this (the test) thread, so Django's
    # async_unsafe guard would refuse every ORM call made here (DB setup and flush, the test's own
    # queries) with SynchronousOnlyOperation. Nothing here is actually async: the loop only drives
    # the browser, and Django's code never runs on it. The flag is set only while Playwright runs
    # (module scope, restored afterwards), so the rest of the suite keeps Django's guard.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    try:
        yield manager
    finally:
        manager.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def browser(playwright):
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def browser_context(browser, live_server):
    """A fresh context (cookies, storage) per test, pointed at the live server."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(10_000)
    context.set_default_navigation_timeout(15_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    try:
        yield page
    finally:
        page.close()


@pytest.fixture
def screenshot(page, request):
    """screenshot("signup") saves artifacts/screenshots/<module name>/NN-signup.png (full page)."""
    folder = SCREENSHOTS / getattr(request.module, "SCREENSHOT_FOLDER", request.module.__name__.rsplit(".", 1)[-1])
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    taken = []

    def take(name: str) -> Path:
        path = folder / f"{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path

    return take
