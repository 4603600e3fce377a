"""Browser tests: a real daphne process, Debian's Chromium driven by Playwright, two browser
contexts (a visitor on the demo host page, an agent in the workspace)."""

import os

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still
# plain synchronous code, so let Django allow them.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

import re  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from django.conf import settings  # noqa: E402

from playwright.sync_api import expect  # noqa: E402

from merchants.models import Membership  # noqa: E402
from tests import factories  # noqa: E402

AGENT_PASSWORD = "correct horse battery 9"
# expect() has its own 5 s default; two browsers, daphne, MariaDB and Redis share 2 cores here.
expect.set_options(timeout=15_000)


@pytest.fixture
def shop(daphne_server):
    """A merchant whose widget may be embedded on the daphne server's own origin."""
    return factories.merchant(
        "墨中商城", allowed_origins=daphne_server.url, welcome_message="欢迎光临！有问题随时问我们。"
    )


@pytest.fixture
def agent(shop):
    return factories.member(
        shop, "xiaomei", Membership.Role.AGENT, password=AGENT_PASSWORD, display_name="小美"
    )


@pytest.fixture
def screenshots() -> Path:
    path = Path(settings.VAR_DIR) / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


class PageWatch:
    """Console errors and uncaught exceptions of one page, for assertions and failure output."""

    def __init__(self, page):
        self.console: list[str] = []
        self.errors: list[str] = []
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))


@pytest.fixture
def new_page(browser, daphne_server):
    """new_page(locale) -> (page, PageWatch), each in its own context (own cookies/storage)."""
    contexts, watches = [], []

    def make(locale: str = "zh-CN"):
        context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 800})
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        watches.append(PageWatch(page))
        return page, watches[-1]

    yield make
    for context in contexts:
        context.close()
    # Shown by pytest only when the test failed.
    for number, watch in enumerate(watches, 1):
        print(f"--- page {number} console ---", *watch.console, *watch.errors, sep="\n")
    # Read the file: a test may have stopped the server (which closes its log handle).
    print("--- daphne log ---", daphne_server.log_path.read_text(errors="replace")[-5000:], sep="\n")


def login(page, base_url: str, username: str, password: str = AGENT_PASSWORD) -> None:
    """Sign in through the real form, starting from a protected page (so `next` is used)."""
    page.goto(f"{base_url}/workspace/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("form[action$='/accounts/login/'] button[type=submit]")
    page.wait_for_url(re.compile(r"/workspace/\d+/"))
