"""Shared fixtures. The cast, as in the house style: alice owns merchant Acme, bob is an agent
of Acme, charlie owns merchant Other and must never see anything of Acme's.

Tests that need MariaDB, Redis or Chromium call `need(...)`: on a laptop without the service
they are skipped with a loud NEEDS line (and a summary banner); with KEFU_REQUIRE_SERVICES=1 (CI)
the same condition is a failure, so nothing passes hollow.

Tests are laid out by app (tests/<app>/test_<topic>.py, tests/kefu/ for project-wide ones), and
two folders by kind, because what they test is the running system rather than one app:
tests/e2e (Chromium driving the widget and the workspace against real daphne processes) and
tests/realtime (the fault model: killed processes, Redis restarts, hundreds of sockets).

`slow` marks a test that starts a process (daphne, Celery, redis-server), a browser, or takes
more than about two seconds; SLOW_FIXTURES below marks most of them, the rest carry the mark
in their module. `make test-fast` leaves them out.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from kefu.celery import app as celery_app
from kefu.processes import stop_processes
from merchants.models import Membership
from tests import factories
from tests.celery_worker import worker_factory

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_SERVICES = os.environ.get("KEFU_REQUIRE_SERVICES") == "1"
CHROMIUM = "/usr/bin/chromium"
_NEEDS: list[str] = []


def need(service: str, reason: str) -> None:
    message = f"NEEDS {service}: {reason}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (KEFU_REQUIRE_SERVICES=1 makes a missing service a failure)")
    _NEEDS.append(message)
    pytest.skip(message)


def require_mysql() -> None:
    if connection.vendor != "mysql":
        need("MariaDB/MySQL", "set DATABASE_URL=mysql://user:pass@127.0.0.1:3306/kefu")


def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        need("Redis", "set REDIS_URL=redis://127.0.0.1:6379/0")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:
        need("Redis", f"REDIS_URL={url} is not reachable: {exc}")
    return url


def require_chromium():
    if not Path(CHROMIUM).exists():
        need("Chromium", f"install Debian's chromium ({CHROMIUM})")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        need("Chromium", "pip install playwright (the Python package; no browser download)")


def require_node() -> str:
    """Node runs the browser-side socket core under test (Debian's `nodejs`)."""
    path = shutil.which("node")
    if path is None:
        need("node", "install Debian's nodejs")
    return path


def pytest_terminal_summary(terminalreporter):
    if _NEEDS:
        terminalreporter.write_sep("!", "SKIPPED FOR MISSING SERVICES", red=True, bold=True)
        for line in sorted(set(_NEEDS)):
            terminalreporter.write_line(line, red=True)
        terminalreporter.write_line(
            "These tests did not run. CI sets KEFU_REQUIRE_SERVICES=1, where they fail instead.",
            red=True,
        )


def pytest_runtest_logreport(report):
    # Under pytest-xdist need() runs in a worker process; the banner is written by the
    # controller, which sees the skip only as this report.
    if report.skipped and "NEEDS " in str(report.longrepr):
        reason = str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr)
        _NEEDS.append(reason.removeprefix("Skipped: "))


def pytest_configure(config):
    # Each pytest run has its id (KEFU_TEST_RUN, set by tests/settings.py with its Redis key
    # prefix); each pytest-xdist worker gets its own within the run (the workers inherit the
    # controller's), for the channel layer's prefix and the Celery queue below.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker and not os.environ["KEFU_TEST_RUN"].endswith(worker):
        os.environ["KEFU_TEST_RUN"] += worker
    # pytest-xdist's controller: hand out the files in the workers' order, heaviest first
    # (heaviest_files_first below), not re-sorted by their number of tests.
    if getattr(config.option, "loadscopereorder", None):
        config.option.loadscopereorder = False
    # The flush after each transactional test puts post_migrate's rows back as rows
    # (tests/dbsnapshot.py, PostMigrateRows) instead of running its receivers again.
    from django.core.management.commands import flush

    from tests.dbsnapshot import PostMigrateRows

    if not isinstance(flush.emit_post_migrate_signal, PostMigrateRows):
        flush.emit_post_migrate_signal = PostMigrateRows(flush.emit_post_migrate_signal)


# Fixtures that start a process or a browser: a test using any of them (directly or through
# another fixture) is slow. tests/kefu/test_markers.py checks the rule on every collected test.
SLOW_FIXTURES = frozenset(
    {
        "daphne_server",
        "start_celery_worker",
        "browser",
        "chromium",
        "servers",
        "session_redis",
        "s3_server",  # tests/conversations/test_attachments_s3.py
        "fuzz_daphne",  # tests/conversations/test_ws_fuzz.py
        "e2e_daphne",  # tests/e2e/conftest.py: one daphne for the browser tests
        "probe_server",  # tests/kefu/test_daphne_sockets.py
    }
)
SLOW_MARKS = frozenset({"live", "browser"})


def is_slow(item) -> bool:
    return bool(SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ()))) or any(
        item.get_closest_marker(name) for name in SLOW_MARKS
    )


# Seconds a test costs, roughly, in a serial run on CI (docs/testing.md, "Where the time
# goes"): one that starts a process or a browser, and one that does not. A test far from its
# guess says its own with @pytest.mark.cost(seconds): the guess started the schemathesis run
# (6 s guessed, minutes measured) and the tenant matrix among the last files.
SLOW_TEST_SECONDS, TEST_SECONDS = 6.0, 0.15


def estimated_seconds(item) -> float:
    marker = item.get_closest_marker("cost")
    if marker is not None:
        return float(marker.args[0])
    return SLOW_TEST_SECONDS if item.get_closest_marker("slow") else TEST_SECONDS


@pytest.hookimpl(trylast=True)  # after pytest-django's ordering (transactional tests last)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if is_slow(item) and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        heaviest_files_first(items)


def heaviest_files_first(items) -> None:
    """Under pytest-xdist, whose `--dist loadfile` hands out whole files in the order the
    workers collected them, the files that cost most come first, so the last ones handed out
    are short and no worker is left with a long file while the others have finished (xdist's
    own reorder, by the number of tests, put a file of two one-minute tests last;
    pytest_configure turns it off). A file's tests keep their order; a serial run keeps pytest's.

    The files of a folder in SHARED_PROCESS_FOLDERS come one after another, as one block
    ranked by its whole cost: a worker then runs them in a row and keeps the folder's
    package-scoped Chromium and daphne between them (pytest tears a package's fixtures down
    whenever the next test is outside it; interleaved with other files, every browser-test
    module started both again: about 6 s of CPU each on CI's two cores).

    The WAIT_BOUND_FILES come before everything, as one unit of work (`work_unit`): the first
    worker runs them while the others run the browser tests."""
    cost: dict[str, float] = {}
    for item in items:
        name = item.nodeid.split("::")[0]
        cost[name] = cost.get(name, 0.0) + estimated_seconds(item)
    block_cost: dict[str, float] = {}
    for name, seconds in cost.items():
        block_cost[_block(name)] = block_cost.get(_block(name), 0.0) + seconds

    def order(item) -> tuple[bool, float, str, float]:
        name = item.nodeid.split("::")[0]
        block = _block(name)
        return (block != WAIT_BOUND, -block_cost[block], block, -cost[name])

    # sorted() is stable: the files' own order breaks ties, and a file's tests keep theirs.
    items.sort(key=order)


# Folders whose tests share processes through package-scoped fixtures (tests/e2e/conftest.py).
SHARED_PROCESS_FOLDERS = ("tests/e2e/",)


# Files that mostly wait: for the silence that shows a frame did not leak to another tenant,
# for the bench's phases. Over their run they keep 7-25 % of one core busy. After the browser
# tests they came to the three workers together, and the two cores were 16-40 % busy for a
# minute; as one unit handed out first, one worker runs them beside the browser tests, which
# keep the cores busy (docs/testing.md, "5 December 2026, later"). Files with timing bounds
# (tests/realtime/test_sockets.py) stay out: they would run on a saturated machine. Its
# 32 s idle-socket wait, which has none, is a file here of its own (test_idle_sockets.py).
WAIT_BOUND_FILES = frozenset(
    {
        "tests/conversations/test_tenant_frames_visitors.py",
        "tests/conversations/test_tenant_frames.py",
        "tests/conversations/test_realtime_frames.py",
        "tests/conversations/test_presence.py",
        "tests/kefu/test_bench_smoke.py",
        "tests/realtime/test_idle_sockets.py",
    }
)
WAIT_BOUND = "wait-bound files"


def _block(name: str) -> str:
    if name in WAIT_BOUND_FILES:
        return WAIT_BOUND
    return next((folder for folder in SHARED_PROCESS_FOLDERS if name.startswith(folder)), name)


def work_unit(nodeid: str) -> str:
    """The unit pytest-xdist hands out a test in: its file (--dist loadfile), or WAIT_BOUND for
    every test of the WAIT_BOUND_FILES."""
    name = nodeid.split("::", 1)[0]
    return WAIT_BOUND if name in WAIT_BOUND_FILES else name


def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile with the units of `work_unit` (the controller sees node ids only)."""
    if config.getoption("dist") != "loadfile":
        return None  # pytest-xdist's own
    from xdist.scheduler import LoadFileScheduling

    class Scheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return Scheduling(config, log)


# --- People and merchants -------------------------------------------------------------------


@pytest.fixture
def acme(db):
    return factories.merchant("Acme 商城")


@pytest.fixture
def other(db):
    return factories.merchant("Other Shop")


@pytest.fixture
def alice(acme):
    """Owner of Acme, may use the admin."""
    return factories.member(
        acme, "alice", Membership.Role.OWNER, is_staff=True, display_name="Alice 客服"
    )


@pytest.fixture
def bob(acme):
    """Agent of Acme."""
    return factories.member(acme, "bob", Membership.Role.AGENT, display_name="Bob")


@pytest.fixture
def charlie(other):
    """Owner of Other: the outsider for every Acme object."""
    return factories.member(other, "charlie", Membership.Role.OWNER, is_staff=True)


@pytest.fixture
def online():
    """online(membership): give the agent a live socket in conversations.presence (memory or
    Redis, whichever the settings use), removed again after the test."""
    from asgiref.sync import async_to_sync

    from conversations import presence

    up = []

    def bring(membership, socket_id="test-socket"):
        async_to_sync(presence.agent_socket_up)(
            membership.merchant_id, membership.user_id, socket_id
        )
        up.append((membership.merchant_id, membership.user_id, socket_id))
        return membership

    yield bring
    for merchant_id, user_id, socket_id in up:
        async_to_sync(presence.agent_socket_down)(merchant_id, user_id, socket_id)


# --- Celery ------------------------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="session")
def own_celery_queue():
    """Celery messages the code under test sends (assignment timeouts, escalations) go to a
    queue of this run's own, so no stray worker of another run picks them up."""
    queue = f"kefutest-{os.environ['KEFU_TEST_RUN']}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    yield queue
    celery_app.conf.task_default_queue = previous
    if settings.CELERY_BROKER_URL.startswith("redis"):
        import redis

        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(queue)


# --- Channel layers ---------------------------------------------------------------------------


def _reset_layers():
    from channels.layers import channel_layers

    channel_layers.backends.clear()


@pytest.fixture(params=["memory", "redis"])
def channel_layer_kind(request, settings):
    """Run a consumer test once with the in-process layer and once with the Redis layer the
    product uses when REDIS_URL is set."""
    if request.param == "memory":
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    else:
        url = redis_url()
        layers = dict(settings.CHANNEL_LAYERS) if os.environ.get("REDIS_URL") else {}
        config = (layers.get("default") or {}).get("CONFIG") or {"hosts": [{"address": url}]}
        config = dict(config, prefix=f"kefutest{os.environ['KEFU_TEST_RUN']}")
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "kefu.channel_layer.RedisPubSubChannelLayer",
                "CONFIG": config,
            }
        }
    _reset_layers()
    yield request.param
    _reset_layers()


# --- Real server processes ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url_for_subprocess() -> str:
    """A DATABASE_URL naming the test database this run created, so a child process sees the
    same rows (tests that use it need `transactional_db`)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    from urllib.parse import quote

    return (
        f"mysql://{quote(db['USER'])}:{quote(db['PASSWORD'])}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 3306}/{db['NAME']}"
    )


def child_env(**extra) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url_for_subprocess(),
        SECRET_KEY=settings.SECRET_KEY,
        KEFU_VAR_DIR=str(settings.VAR_DIR),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def wait_for_http(url: str, timeout: float = 30.0, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


class DaphneProcess:
    def __init__(
        self, port: int, log_path: Path, env: dict[str, str], app: str = "kefu.asgi:application"
    ):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "--websocket_connect_timeout",
                "20",  # docs/realtime.md pitfall 11
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                app,
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_http(self.url + "/healthz", proc=self.proc)
        except Exception:
            self.stop()
            raise RuntimeError("daphne did not start:\n" + self.log()) from None

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        # daphne waits up to 10 s for open sockets' applications on SIGTERM; a finished test's
        # server has nothing left worth waiting for (the kill tests use SIGKILL on purpose).
        stop_processes([self.proc], timeout=2)
        self._log.close()


@pytest.fixture
def daphne_server(transactional_db, tmp_path):
    """A real daphne process on a free loopback port, sharing this test's database."""
    if shutil.which("daphne") is None and not (Path(sys.executable).parent / "daphne").exists():
        pytest.fail("daphne is not installed (pip install -r requirements.txt)")
    server = DaphneProcess(free_port(), tmp_path / "daphne.log", child_env())
    yield server
    server.stop()


@pytest.fixture
def start_celery_worker(transactional_db, tmp_path):
    """Factory: start_celery_worker(**env) starts a real Celery worker process on a queue of its
    own (see tests/celery_worker.py), sharing this test's database; stopped after the test."""
    yield from worker_factory(tmp_path, child_env)


# Playwright's own --disable-features (playwright-core's chromiumSwitches.ts, 1.65). Chromium
# reads only the last --disable-features it is given, so ours must repeat them;
# tests/kefu/test_chromium.py fails when an upgrade of Playwright changes its list.
PLAYWRIGHT_DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "TcpPortRandomizationWin",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
    "msForceBrowserSignIn",
    "msEdgeUpdateLaunchServicesPreferredVersion",
)
# Headless Chromium is the whole browser since version 132: every window, so every browser
# context, gets the address bar's suggestion popups, built as WebUI pages in renderer processes
# of their own. They took more CPU than the pages under test (tests/e2e/test_widget_ui.py run
# alone: 15.3 s of Chromium's 44 s; docs/testing.md), and no test types into an address bar.
NO_OMNIBOX_POPUPS = ("WebUIOmniboxPopup", "WebUIOmniboxAimPopup")


def launch_chromium(pw):
    return pw.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-features=" + ",".join(PLAYWRIGHT_DISABLED_FEATURES + NO_OMNIBOX_POPUPS),
        ],
    )


@pytest.fixture
def browser():
    """Headless Debian Chromium through Playwright; never a downloaded browser.

    Per test: while Playwright's sync API is started, its event loop counts as running in this
    thread (asyncio.run and async_to_sync refuse to work), so it must not outlive the test
    here. tests/e2e, where every test drives a browser, shares one per package instead."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = launch_chromium(pw)
        yield instance
        instance.close()
