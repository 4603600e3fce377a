"""Browser tests: a real daphne process, Debian's Chromium driven by Playwright, two browser
contexts (a visitor on the demo host page, an agent in the workspace).

A folder of their own rather than one per app: most tests drive the widget and the workspace at
once (the visitor's page against the agent's), through the whole running system. One Chromium
serves the folder; every test gets fresh contexts (own cookies and storage) from `new_page`.
One daphne serves the folder too (`e2e_daphne`): starting one per test, then one per module,
cost seconds of CPU each (Django's start and the bot's warm-up); `daphne_server` gives each
test its isolation back (see there). Both live as long as a worker runs this folder's files one
after another, which the order of tests/conftest.py (heaviest_files_first) arranges."""

import os

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still
# plain synchronous code, so let Django allow them.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

import json
import re
import time
import urllib.parse
import urllib.request
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from merchants.models import Membership
from tests import factories
from tests.conftest import DaphneProcess, child_env, free_port, launch_chromium, require_chromium

AGENT_PASSWORD = "correct horse battery 9"
# expect() has its own 5 s default; two browsers, daphne, MariaDB and Redis share 2 cores here.
expect.set_options(timeout=15_000)


class SharedDaphne:
    """One test's view of the folder's daphne: DaphneProcess's attributes, and `log()` from
    this test's start on (the file holds every earlier test it served too)."""

    def __init__(self, process: DaphneProcess):
        self.process = process
        self.port, self.url, self.ws_url = process.port, process.url, process.ws_url
        self.proc, self.log_path = process.proc, process.log_path
        self.offset = self.log_path.stat().st_size

    def log(self) -> str:
        # Read the file, not through the process's handle: a test may have stopped the server.
        return self.log_path.read_bytes()[self.offset :].decode(errors="replace")

    def stop(self) -> None:
        self.process.stop()

    def settle(self, timeout: float = 15.0) -> bool:
        """Wait until the server runs none of the test's work any more (sockets closed and
        their handlers finished, post-commit steps done), and let it drop its per-process
        state (tests/e2e/asgi.py). False if it did not get there in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/__tests__/settle", timeout=5) as answer:
                    if json.load(answer)["busy"] == 0:
                        return True
            except OSError:
                return False
            time.sleep(0.05)
        return False


@pytest.fixture(scope="package")
def e2e_daphne(django_db_setup, tmp_path_factory):
    """current() -> the folder's daphne process, started again if a test stopped it. It serves
    tests/e2e/asgi.py: the product's application plus the path `daphne_server` settles it by."""
    held: list[DaphneProcess] = []

    def current() -> DaphneProcess:
        if held and held[-1].proc.poll() is None:
            return held[-1]
        if held:
            held.pop().stop()  # closes its log
        log = tmp_path_factory.mktemp("daphne") / "daphne.log"
        held.append(DaphneProcess(free_port(), log, child_env(), app="tests.e2e.asgi:application"))
        return held[-1]

    yield current
    for process in held:
        process.stop()


@pytest.fixture
def daphne_server(transactional_db, e2e_daphne, chromium):
    """The folder's daphne, as isolated per test as a process of its own would be: after the
    test its browser contexts are closed and the server settles (nothing of the test still
    running in it, its per-process state dropped) before pytest-django flushes the database;
    a server that does not settle, or that the test stopped, is replaced for the next test."""
    server = SharedDaphne(e2e_daphne())
    yield server
    for context in list(chromium.contexts):
        context.close()
    if server.proc.poll() is None and not server.settle():
        print("--- daphne did not settle: stopped; the next test starts another ---")
        server.stop()


@pytest.fixture
def shop(daphne_server):
    """A merchant whose widget may be embedded on the daphne server's own origin."""
    return factories.merchant(
        "墨中商城",
        allowed_origins=daphne_server.url,
        welcome_message="欢迎光临！有问题随时问我们。",
    )


@pytest.fixture
def agent(shop):
    return factories.member(
        shop, "xiaomei", Membership.Role.AGENT, password=AGENT_PASSWORD, display_name="小美"
    )


@pytest.fixture(scope="package")
def chromium():
    """One Chromium for every test of this folder: launching one per test cost about a second
    each. Only browser tests live here, so Playwright's loop running in this thread between
    them (see tests.conftest.browser) disturbs nothing."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = launch_chromium(pw)
        yield instance
        instance.close()


@pytest.fixture
def browser(chromium):
    """The shared Chromium; whatever contexts a test leaves open are closed after it."""
    yield chromium
    for context in list(chromium.contexts):
        context.close()


def shots_folder(name: str) -> Path | None:
    """Where a test's screenshots for people to look at go: `$KEFU_SHOTS/<name>/` when
    KEFU_SHOTS is set, else nowhere (a screenshot costs Chromium CPU in every run; the few a
    run always keeps go to the `screenshots` fixture's folder)."""
    root = os.environ.get("KEFU_SHOTS")
    if not root:
        return None
    path = Path(root) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_shot(page, folder: Path | None, name: str, **options) -> None:
    """page.screenshot into `folder` (from shots_folder), when there is one."""
    if folder is not None:
        page.screenshot(path=str(folder / name), **options)


@pytest.fixture
def screenshots() -> Path:
    path = Path(settings.VAR_DIR) / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


class PageWatch:
    """Console errors and uncaught exceptions of one page, for assertions and failure output,
    and the last frames of its sockets (docs/testing.md, "When a browser test fails")."""

    FRAMES_KEPT = 80

    def __init__(self, page):
        self.console: list[str] = []
        self.errors: list[str] = []
        self.frames: deque[str] = deque(maxlen=self.FRAMES_KEPT)
        self.started = time.monotonic()
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("websocket", self._socket)

    def _socket(self, ws) -> None:
        path = urllib.parse.urlsplit(ws.url).path
        self._frame(path, "open", "")
        ws.on("framesent", lambda payload: self._frame(path, ">", payload))
        ws.on("framereceived", lambda payload: self._frame(path, "<", payload))
        ws.on("close", lambda _ws: self._frame(path, "closed", ""))

    def _frame(self, path: str, way: str, payload) -> None:
        text = payload if isinstance(payload, str) else f"<{len(payload)} bytes>"
        at = time.monotonic() - self.started
        self.frames.append(f"{at:7.2f} {path} {way} {text[:300]}")


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
        print(f"--- page {number} socket frames (the last {len(watch.frames)}) ---")
        print(*watch.frames, sep="\n")
    print("--- daphne log ---", daphne_server.log()[-5000:], sep="\n")


def in_thread(fn, *args, **kwargs):
    """fn(*args, **kwargs) off this thread, for service calls and seeding: Playwright's event
    loop runs here, and the services publish after commit through async_to_sync, which refuses
    a thread with a running loop. The thread's database connection is closed after
    (pytest-django's flush would wait for it)."""

    def run():
        from django.db import connection

        try:
            return fn(*args, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def login(page, base_url: str, username: str, password: str = AGENT_PASSWORD) -> None:
    """Sign in through the real form, starting from a protected page (so `next` is used)."""
    page.goto(f"{base_url}/workspace/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("form[action$='/accounts/login/'] button[type=submit]")
    page.wait_for_url(re.compile(r"/workspace/\d+/"))


def open_widget(page, base_url: str, widget_key: str):
    """The demo host page with the chat panel open; returns the widget's locator."""
    page.goto(f"{base_url}/widget/demo/?key={widget_key}")
    widget = page.locator("#kefu-widget")  # Playwright's CSS reaches into the open shadow root
    widget.locator(".launcher").click()
    expect(widget.locator(".panel")).to_be_visible()
    return widget


def widget_say(widget, text: str) -> None:
    widget.locator("textarea").fill(text)
    widget.locator("textarea").press("Enter")


def agent_say(page, text: str) -> None:
    page.fill("#reply-body", text)
    page.press("#reply-body", "Enter")


def open_row(page, visitor_name: str | None = None):
    """Click a conversation in the inbox (the only one, or the visitor's) and wait until its
    messages are loaded."""
    rows = page.locator("#conv-list li")
    row = rows.filter(has_text=visitor_name) if visitor_name else rows
    # One click: a re-render of the list keeps the pressed row's nodes (inbox.js placeRows;
    # tests/e2e/test_desk_first_click.py).
    row.locator("button").click()
    expect(page.locator("#thread")).to_be_visible()
    expect(page.locator("#thread-loading")).to_be_hidden()
    return row


class SocketGate:
    """Every socket of a browser context whose URL contains `path` goes through Playwright:
    frames are recorded both ways; `cut()` closes the live sockets and refuses new ones until
    `restore()`; server frames for which `drop(frame)` is true never reach the page (a lost
    delivery or acknowledgement)."""

    def __init__(self, context, path: str):
        self.open = True
        self.drop = None
        self.sent: list[dict] = []  # page -> server
        self.received: list[dict] = []  # server -> page (dropped ones too)
        self.opened = 0
        self.live = []
        context.route_web_socket(re.compile(re.escape(path)), self._route)

    def _route(self, ws):
        self.opened += 1
        if not self.open:
            ws.close(code=1011, reason="cut by the test")  # as if the server were down
            return
        server = ws.connect_to_server()

        def from_page(message):
            self.sent.append(json.loads(message))
            server.send(message)

        def from_server(message):
            frame = json.loads(message)
            self.received.append(frame)
            if not (self.drop and self.drop(frame)):
                ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)
        self.live.append((ws, server))

    def cut(self):
        self.open = False
        for ws, server in self.live:
            for side in (server, ws):
                try:
                    side.close(code=1011, reason="cut by the test")
                except Exception:
                    pass
        self.live.clear()

    def restore(self):
        self.drop = None
        self.open = True

    def sent_of(self, kind: str) -> list[dict]:
        return [f for f in self.sent if f.get("type") == kind]

    def ids_sent_for(self, body: str) -> set[str]:
        return {f["client_msg_id"] for f in self.sent_of("message.send") if f["body"] == body}

    def acks_for(self, client_msg_id: str) -> list[dict]:
        return [
            f
            for f in self.received
            if f.get("type") == "message.ack" and f["client_msg_id"] == client_msg_id
        ]


def wait_until(page, expression: str, timeout: float = 15.0) -> None:
    """Poll `expression` until it is true. Not page.wait_for_function: that polls by eval()
    in the page, which the Content-Security-Policy refuses ('unsafe-eval')."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        page.wait_for_timeout(50)
