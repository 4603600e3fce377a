"""Real processes for the realtime proofs: daphne servers sharing the test database, and Redis.

Redis here is a private `redis-server` per test session (and per fault test that restarts it),
started from the same Debian package CI installs, and only when the run has Redis at all
(tests.conftest.redis_url(): a loud skip on a laptop, a failure in CI). Why not the REDIS_URL
server itself: these tests kill Redis, flush it and count its keys and subscribers, which must
not touch, or be disturbed by, other runs on the same server. Without REDIS_URL the
single-process tests use the in-process layer.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.conftest import DaphneProcess, child_env, free_port, need, redis_url
from tests.realtime.clients import SITE_ORIGIN
from tests.wsclient import session_cookie


class RedisServer:
    """A throwaway redis-server on a free loopback port: no persistence, so a restart starts
    empty, exactly like a crashed cache node."""

    def __init__(self, workdir: Path):
        binary = shutil.which("redis-server")
        if binary is None:
            need("redis-server", "apt-get install redis-server (CI installs it)")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: nothing is saved, every connection drops at once
            self.proc.wait(5)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)


@pytest.fixture(scope="session")
def session_redis(tmp_path_factory):
    redis_url()  # skip loudly (laptop) or fail (CI) when the run has no Redis
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_server(session_redis):
    """The private Redis, emptied for each test."""
    session_redis.client().flushall()
    return session_redis


@pytest.fixture
def layer_url(request) -> str:
    """REDIS_URL for a single-process test: the private Redis when the run has Redis, else ""
    (the in-process layer), so the test also runs on a laptop with SQLite only."""
    if not os.environ.get("REDIS_URL"):
        return ""
    return request.getfixturevalue("redis_server").url


# REDIS_KEY_PREFIX of the servers started here: presence keys are "kefu:pres:...", group
# channels "kefu__group__...".
KEY_PREFIX = "kefu"
ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL)\b|Traceback")


class Servers:
    """Daphne processes started by one test; stopped (and their logs kept) at teardown."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.all: list[DaphneProcess] = []

    def start(self, redis_url: str = "", **env) -> DaphneProcess:
        settings = {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": KEY_PREFIX, **env}
        log = self.tmp_path / f"daphne-{len(self.all)}.log"
        server = DaphneProcess(free_port(), log, child_env(**settings))
        self.all.append(server)
        return server

    def stop(self) -> None:
        for server in self.all:
            server.stop()


@pytest.fixture
def servers(transactional_db, tmp_path):
    group = Servers(tmp_path)
    yield group
    group.stop()


def error_lines(server: DaphneProcess, allowed: tuple[str, ...] = ()) -> list[str]:
    """ERROR/CRITICAL/Traceback lines of a server's log, minus lines containing `allowed`."""
    return [
        line
        for line in server.log().splitlines()
        if ERROR_LINE.search(line) and not any(a in line for a in allowed)
    ]


@pytest.fixture
def shop(acme, bob):
    """Acme with the site that embeds the widget, and bob's session cookie."""
    acme.allowed_origins = SITE_ORIGIN
    acme.save()
    return {
        "merchant": acme,
        "key": acme.widget_key,
        "cookie": session_cookie(bob.user).decode(),
        "bob": bob,
    }


def run(coro, timeout: float = 120):
    return asyncio.run(asyncio.wait_for(coro, timeout))
