"""Browser tests: Playwright driving Debian's headless chromium against the live server.

Never downloads a browser: it uses the `chromium` on PATH. Without one the tests skip with a
reason, except under CI=true, where a missing browser fails the run.
"""

import os
import shutil
from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


def _chromium_path():
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium_path():
    path = _chromium_path()
    if path is None:
        message = "no chromium on PATH: install Debian's package (apt-get install chromium) to run the browser tests"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def browser(chromium_path, monkeypatch):
    """A headless chromium for one test.

    Playwright's sync API runs an event loop in this thread while the test (and its fixtures)
    also query the database here, which Django refuses by default in an async context. The
    database work is ordinary blocking code between browser steps, so allowing it is safe.
    """
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path, headless=True)
        try:
            yield instance
        finally:
            instance.close()
            # Connections opened while Playwright's loop ran belong to that context: close them
            # here, so the test database can be dropped at the end of the run.
            from django.db import connections

            connections.close_all()


@pytest.fixture
def screenshot():
    """screenshot(page, name) saves a full-page PNG under tests/browser/screenshots/."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(page, name):
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take
