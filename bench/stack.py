"""The real stack on loopback for the benchmark: daphne processes (one per core by default),
a Celery worker, MariaDB and Redis, with production settings (DEBUG off, the pub/sub channel
layer, MySQL with row locks, the same ASGI application).

The services (MariaDB, Redis) are the machine's, named by DATABASE_URL and REDIS_URL, exactly as
in production. When those are not set, private throwaway instances are started from the
machine's own binaries (mariadbd, redis-server: Debian packages mariadb-server and redis-server)
in a temporary directory, so `make bench` runs on a fresh machine. Without the binaries either,
the benchmark says so loudly and stops: numbers from SQLite and the in-process layer would
describe another product.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from kefu.processes import stop_processes

ROOT = Path(__file__).resolve().parent.parent


def require_services() -> tuple[str, str]:
    """DATABASE_URL (MySQL/MariaDB) and REDIS_URL, or exit with a loud explanation."""
    if (ROOT / ".env").exists():  # the same place kefu/settings.py reads them from
        import environ

        environ.Env.read_env(ROOT / ".env")
    db, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    missing = []
    if not db.startswith("mysql"):
        missing.append("DATABASE_URL=mysql://user:pass@127.0.0.1:3306/kefu (MariaDB/MySQL)")
    if not redis_url:
        missing.append("REDIS_URL=redis://127.0.0.1:6379/0")
    if missing:
        private = start_private_services(
            need_db=not db.startswith("mysql"), need_redis=not redis_url
        )
        if private is not None:
            db = private.get("db", db)
            redis_url = private.get("redis", redis_url)
            os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = db, redis_url
            if "db" in private:
                subprocess.run(
                    [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput"],
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
            return db, redis_url
        bar = "!" * 78
        sys.stderr.write(
            f"\n{bar}\nBENCHMARK NOT RUN: it measures the production stack and needs\n"
            + "".join(f"  - {m}\n" for m in missing)
            + "SQLite and the in-process channel layer would measure a different product.\n"
            f"{bar}\n\n"
        )
        raise SystemExit(2)
    return db, redis_url


# The MariaDB and Redis processes this run started (bench/sockets.py reads their CPU).
PRIVATE_SERVICES: list[subprocess.Popen] = []
# Debian installs mariadbd in /usr/sbin, which a normal user's PATH may lack.
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin")


def find_binary(name: str) -> str | None:
    import shutil

    found = shutil.which(name)
    if found:
        return found
    return next((str(Path(d, name)) for d in SBIN_DIRS if Path(d, name).exists()), None)


def start_private_services(*, need_db: bool, need_redis: bool) -> dict | None:
    """Start a throwaway MariaDB and/or Redis on free loopback ports; None when a binary is
    missing. They live in a temporary directory and stop with this process."""
    import atexit
    import tempfile

    binaries = {"mariadbd": need_db, "mariadb-install-db": need_db, "redis-server": need_redis}
    if any(need and not find_binary(b) for b, need in binaries.items()):
        return None
    workdir = Path(tempfile.mkdtemp(prefix="kefu-bench-services-"))
    atexit.register(stop_private_services, workdir)
    urls = {}
    if need_redis:
        port = free_port()
        PRIVATE_SERVICES.append(
            subprocess.Popen(
                [
                    find_binary("redis-server"),
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(workdir),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        urls["redis"] = f"redis://127.0.0.1:{port}/0"
    if need_db:
        datadir, port = workdir / "mariadb", free_port()
        user = ["--user=root"] if os.geteuid() == 0 else []
        subprocess.run(
            [
                find_binary("mariadb-install-db"),
                "--no-defaults",
                f"--datadir={datadir}",
                "--skip-test-db",
                "--auth-root-authentication-method=normal",
                *user,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        mariadbd = find_binary("mariadbd")
        # Grant checks off: the instance listens on loopback only and is deleted afterwards.
        PRIVATE_SERVICES.append(
            subprocess.Popen(
                [
                    mariadbd,
                    "--no-defaults",
                    f"--datadir={datadir}",
                    f"--port={port}",
                    "--bind-address=127.0.0.1",
                    f"--socket={workdir / 'mysqld.sock'}",
                    "--skip-grant-tables",
                    "--character-set-server=utf8mb4",
                    "--collation-server=utf8mb4_unicode_ci",
                    "--max-connections=1000",
                    *user,
                ],
                stdout=subprocess.DEVNULL,
                stderr=(workdir / "mariadb.log").open("w"),
            )
        )
        urls["db"] = f"mysql://root@127.0.0.1:{port}/kefu"
        _wait_mysql(port)
    sys.stderr.write(f"No DATABASE_URL/REDIS_URL: started private services {urls} in {workdir}\n")
    return urls


def _wait_mysql(port: int, timeout: float = 60) -> None:
    import MySQLdb

    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = MySQLdb.connect(host="127.0.0.1", port=port, user="root")
            conn.cursor().execute(
                "CREATE DATABASE IF NOT EXISTS kefu CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
            conn.close()
            return
        except MySQLdb.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def stop_private_services(workdir: Path) -> None:
    import shutil

    stop_processes(PRIVATE_SERVICES, timeout=30)
    shutil.rmtree(workdir, ignore_errors=True)


def raise_fd_limit() -> int:
    """Thousands of sockets per process need more than the usual 1,024 descriptors; children
    inherit the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited ({proc.returncode}) before {url} answered")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def machine() -> dict:
    """What the figures were measured on, and how busy the machine was."""
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    import platform

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "load": os.getloadavg(),
    }


class Stack:
    """N server processes (daphne, or uvicorn with `server="uvicorn"`) and a Celery worker
    sharing one database and one Redis.

    The server serves `bench.asgi_counted:application`: the product's ASGI application unchanged,
    plus a counter of SQL queries and a `/__bench/stats` endpoint, so queries per reconnect and
    per API request are counted by the server that ran them (MariaDB's global counters would
    include every other client of the server).
    """

    def __init__(
        self,
        *,
        processes: int,
        database_url: str,
        redis_url: str,
        logdir: Path,
        worker: bool = True,
        env: dict | None = None,
        server: str = "daphne",
        cpus: list[str] | None = None,
    ):
        self.prefix = f"bench{uuid.uuid4().hex[:6]}"
        self.env = dict(
            os.environ,
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            DEBUG="False",
            LOG_LEVEL="WARNING",
            REDIS_KEY_PREFIX=self.prefix,
            CELERY_QUEUE=self.prefix,
            PYTHONUNBUFFERED="1",
            # Every bench socket and bootstrap comes from 127.0.0.1: the per-address limits
            # (meant for one browser) would refuse the load generator itself with 4429 / 429.
            WS_CONNECT_RATE_PER_ADDRESS="0/60",
            WIDGET_RATE_PER_ADDRESS="0/60",
            **(env or {}),
        )
        self.logdir = logdir
        logdir.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen] = []
        self.ports: list[int] = []
        self.worker: subprocess.Popen | None = None
        self.processes, self.with_worker = processes, worker
        self.server = server
        # cpus[i]: the cores server process i is pinned to (taskset -c), for the scaling
        # measurement; None = wherever the kernel puts it.
        self.cpus = cpus

    def server_command(self, port: int) -> list[str]:
        """The same ASGI application under daphne (the default, as in production) or uvicorn
        (uvloop event loop, httptools HTTP parser, websockets protocol), for the comparison in
        docs/performance.md ("Server")."""
        app = "bench.asgi_counted:application"
        if self.server == "daphne":
            return [
                *(sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)),
                *("--websocket_connect_timeout", "20", app),  # as kefu_serve starts it
            ]
        if self.server == "uvicorn":
            return [
                sys.executable,
                "-m",
                "uvicorn",
                app,
                "--host=127.0.0.1",
                f"--port={port}",
                "--loop=uvloop",
                "--http=httptools",
                "--ws=websockets",
                "--lifespan=off",
                "--no-access-log",
                "--log-level=warning",
                # The clients ping (the product's heartbeat); no second, protocol-level one.
                "--ws-ping-interval=0",
                "--backlog=4096",
            ]
        raise ValueError(f"unknown server {self.server!r}")

    def start(self) -> Stack:
        for i in range(self.processes):
            port = free_port()
            log = open(  # noqa: SIM115 - the child writes to it until stop()
                self.logdir / f"server-{i}.log", "wb"
            )
            command = self.server_command(port)
            if self.cpus:
                command = ["taskset", "-c", self.cpus[i % len(self.cpus)], *command]
            proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            self.procs.append(proc)
            self.ports.append(port)
        if self.with_worker:
            log = open(self.logdir / "celery.log", "wb")  # noqa: SIM115 - open until stop()
            self.worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "kefu",
                    "worker",
                    "--concurrency=1",
                    "--loglevel=WARNING",
                    "-Q",
                    self.prefix,
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        for port, proc in zip(self.ports, self.procs):
            wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        return self

    def stop(self) -> None:
        stop_processes(self.procs + ([self.worker] if self.worker else []))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def bases(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    @property
    def ws_bases(self) -> list[str]:
        return [f"ws://127.0.0.1:{p}" for p in self.ports]

    def stats(self, index: int) -> dict:
        with urllib.request.urlopen(f"{self.bases[index]}/__bench/stats", timeout=30) as r:
            return json.loads(r.read())

    def queries(self) -> int:
        return sum(self.stats(i)["queries"] for i in range(len(self.procs)))

    def errors(self) -> list[str]:
        """ERROR lines and tracebacks in the servers' logs (reported, never hidden)."""
        lines = []
        for path in sorted(self.logdir.glob("server-*.log")):
            for line in path.read_text(errors="replace").splitlines():
                if (
                    " ERROR " in line
                    or " CRITICAL " in line
                    or line.startswith(("Traceback", "ERROR:", "CRITICAL:"))
                ):
                    lines.append(f"{path.name}: {line[:200]}")
        return lines
