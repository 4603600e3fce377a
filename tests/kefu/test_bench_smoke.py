"""Smoke test of the benchmark suite (bench/): bench-quick-sized pieces against the real stack
(daphne + Celery worker + MariaDB + Redis), so the suite cannot silently report numbers it did
not measure.

- every phase's counts come from real sockets and real rows: sent = acked = stored = delivered;
- an injected lost delivery and an injected missing row are both reported as a mismatch;
- idle sockets, the reconnect storm and the raw relay give real, plausible figures;
- without DATABASE_URL / REDIS_URL the runner refuses loudly instead of measuring SQLite.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from bench import suite
from bench.stack import ROOT, Stack
from tests.conftest import database_url_for_subprocess, need, redis_url, require_mysql

pytestmark = pytest.mark.slow  # the benchmark stack: daphne, Celery, private MariaDB/Redis

TINY = dict(
    merchants=1,
    visitors=4,
    loads=[20],
    load_seconds=1,
    sat_seconds=1,
    idle=20,
    storm=20,
    api=False,
    drain=20,
)


@pytest.fixture
def stack(transactional_db, tmp_path, settings):
    require_mysql()
    url = redis_url()
    server = Stack(
        processes=1,
        database_url=database_url_for_subprocess(),
        redis_url=url,
        logdir=tmp_path,
        env={"SECRET_KEY": settings.SECRET_KEY},
    )
    server.start()
    yield server
    server.stop()


@pytest.mark.cost(10)
def test_phases_account_for_every_message_through_the_real_stack(stack):
    out = asyncio.run(suite.kefu_phase(stack, TINY, only={"saturation", "load20", "idle", "storm"}))
    for name in ("warmup", "saturation", "load20"):
        row = out[name]
        assert row["ok"], (name, row)
        assert row["sent"] >= TINY["visitors"]
        assert row["sent"] == row["acked"] == row["stored"] == row["delivered"]
        assert row["duplicates"] == 0 and row["closed_sockets"] == 0
        assert 0 < row["p50"] <= row["p99"] <= row["max"] < 20_000  # measured, not NaN
    assert out["load20"]["sent"] == 20  # 20 msg/s offered for 1 s
    # The timed phases start once the router's step has routed every first message (it runs
    # after the acks), and a steady stream to assigned conversations needs no step at all:
    # the message path's statements alone (docs/performance.md, "Latest run").
    assert out["warmup"]["unrouted"] == 0
    assert out["load20"]["queries_per_msg"] <= 10, out["load20"]
    idle = out["idle"]
    assert idle["alive"] == idle["server_sockets"] == 20  # the server counted them too
    assert 0 < idle["kb_per_socket"] < 1000
    storm = out["storm"]
    assert storm["shown_before"] == 20  # each socket showed seq 1 before the drop
    assert (storm["missed"], storm["duplicated"], storm["failed"]) == (0, 0, 0)
    assert storm["queries_per_reconnect"] >= 1  # auth reads the visitor: counted in the server
    assert out["worker_alive"]
    assert out["server_errors"] == []


@pytest.mark.cost(25)
def test_a_lost_delivery_and_a_missing_row_are_reported(stack):
    # Each phase waits out its drain for the delivery the hook pretends lost: the warm-up 5 s
    # instead of TINY's 20, load20 the 10 s floor of bench/suite.py's drain_for instead of 20.
    # Ample for the real deliveries at 20 msg/s.
    lossy = dict(TINY, drain=5)
    out = asyncio.run(suite.kefu_phase(stack, lossy, drop_deliveries=1, only={"load20"}))
    row = out["load20"]
    assert row["delivered"] == row["sent"] - 1 and row["acked"] == row["stored"] == row["sent"]
    assert not row["ok"]
    out = asyncio.run(suite.kefu_phase(stack, TINY, delete_rows=2, only={"load20"}))
    row = out["load20"]
    assert row["stored"] == row["sent"] - 2 and row["delivered"] == row["acked"] == row["sent"]
    assert not row["ok"]


def test_raw_relay_baseline_is_measured():
    out = asyncio.run(suite.raw_phase(TINY))
    sat = out["saturation"]
    assert sat["sent"] > 0 and sat["sent"] == sat["acked"] == sat["delivered"]
    assert sat["throughput"] > 0 and out["load20"]["sent"] == 20
    assert out["idle"]["sockets"] == 20 and out["storm_seconds"] > 0


def test_the_runner_refuses_without_services_or_their_binaries(monkeypatch, capsys):
    from bench import stack

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(stack, "ROOT", ROOT / "no-such-dir")  # no .env either
    monkeypatch.setattr(stack, "find_binary", lambda name: None)
    with pytest.raises(SystemExit) as exc:
        stack.require_services()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "BENCHMARK NOT RUN" in err
    assert "DATABASE_URL" in err and "REDIS_URL" in err


@pytest.mark.cost(15)
def test_without_urls_the_runner_starts_private_mariadb_and_redis(tmp_path):
    from bench import stack

    missing = [
        b for b in ("mariadbd", "mariadb-install-db", "redis-server") if not stack.find_binary(b)
    ]
    if missing:
        need(f"binaries {missing}", "install the Debian packages mariadb-server and redis-server")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["KEFU_VAR_DIR"] = str(tmp_path)
    # Start them, check both answer and the schema is migrated, then exit: they must go away.
    code = (
        "import MySQLdb, redis, sys, urllib.parse\n"
        "from bench import stack\n"
        "db, r = stack.require_services()\n"
        "u = urllib.parse.urlparse(db)\n"
        "c = MySQLdb.connect(host=u.hostname, port=u.port, user='root', db='kefu')\n"
        "cur = c.cursor(); cur.execute('SELECT COUNT(*) FROM merchants_merchant')\n"
        "assert redis.Redis.from_url(r).ping()\n"
        "print(db, r, cur.fetchone()[0], stack.PRIVATE_SERVICES[0].pid, stack.PRIVATE_SERVICES[1].pid)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    db, redis_url_, merchants, *pids = done.stdout.split()
    assert db.startswith("mysql://root@127.0.0.1:") and redis_url_.startswith("redis://127.0.0.1:")
    assert merchants == "0"
    for pid in pids:  # stopped at exit
        assert (
            not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
        )
