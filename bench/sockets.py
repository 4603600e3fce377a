"""Sockets and processes, measured on their own (issue 12), faster than the whole suite:

- `idle`: N authenticated idle visitor sockets on one server process: KB per socket (RSS
  slope), then all dropped at once: seconds until every disconnect handler ran, ERROR lines in
  the server's log, pub/sub channels left subscribed in Redis. `--tracemalloc 6` also prints
  what grew in the process between 0 and N sockets, by allocation site and by object type
  (bench/asgi_counted.py).
- `scaling`: closed-loop persisted saturation with 1 server process pinned to 1 core, then 2
  processes on 2 cores (taskset), and their ratio.

Both take `--server daphne|uvicorn`. Like bench/suite.py they use DATABASE_URL / REDIS_URL, or
start throwaway MariaDB and Redis when those are unset.

Usage: python bench/sockets.py idle [--sockets 2000] [--server uvicorn] [--tracemalloc 6]
                                    [--concurrency 100]
       python bench/sockets.py scaling [--server uvicorn] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import suite  # noqa: E402
from bench.stack import Stack, raise_fd_limit, require_services  # noqa: E402


def redis_clients(redis_url: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return client.info("clients")["connected_clients"]
    finally:
        client.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def subscribed_channels(redis_url: str, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return len(client.pubsub_channels(f"{prefix}*"))
    finally:
        client.close()


async def idle(stack: Stack, args, redis_url: str) -> dict:
    from bench import load

    made = await asyncio.to_thread(suite.make_merchants, 1, f"s{stack.prefix}")
    merchant = made[0][0]
    minted = await asyncio.to_thread(suite.mint_visitors, merchant.pk, args.sockets)
    base = stack.bases[0]
    await asyncio.sleep(1)
    if args.tracemalloc:
        urllib.request.urlopen(f"{base}/__bench/tracemalloc?base=1", timeout=600).read()
    before = stack.stats(0)
    url = f"{stack.ws_bases[0]}/ws/visitor/?key={merchant.widget_key}"
    clients = [load.VisitorClient(url, token) for _, token in minted]
    ping = asyncio.ensure_future(suite.pinger(clients))
    # tracemalloc slows the server several times: fewer handshakes at once.
    seconds = await load.open_all(clients, concurrency=10 if args.tracemalloc else args.concurrency)
    await asyncio.sleep(2)
    after = stack.stats(0)
    channels_open = await asyncio.to_thread(subscribed_channels, redis_url, stack.prefix)
    clients_open = await asyncio.to_thread(redis_clients, redis_url)
    report = None
    if args.tracemalloc:
        report = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"{base}/__bench/tracemalloc", timeout=900).read()
        )
    ping.cancel()
    alive = sum(1 for c in clients if not c.closed.is_set())
    errors_before = len(stack.errors())
    # Every socket dropped at once (RST), as when a proxy or a network goes away.
    await load.close_all(clients)
    start = time.perf_counter()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and stack.stats(0)["sockets"] > before["sockets"]:
        await asyncio.sleep(0.1)
    closed_in = time.perf_counter() - start
    # The subscriptions of the closed sockets go in batches after their handlers ran.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and await asyncio.to_thread(
        subscribed_channels, redis_url, stack.prefix
    ):
        await asyncio.sleep(0.2)
    unsubscribed_in = time.perf_counter() - start
    await asyncio.sleep(1)
    result = {
        "server": stack.server,
        "sockets": args.sockets,
        "alive": alive,
        "open_seconds": round(seconds, 1),
        "kb_per_socket": round((after["rss_kb"] - before["rss_kb"]) / args.sockets, 1),
        "rss_mb": round(after["rss_kb"] / 1024),
        "pubsub_channels_open": channels_open,
        "redis_clients_open": clients_open,
        "all_closed_in_s": round(closed_in, 1),
        "all_unsubscribed_in_s": round(unsubscribed_in, 1),
        "errors_after_close": len(stack.errors()) - errors_before,
        "pubsub_channels_left": await asyncio.to_thread(
            subscribed_channels, redis_url, stack.prefix
        ),
    }
    if report:
        print(report.decode())
    await asyncio.to_thread(suite.cleanup, f"s{stack.prefix}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["idle", "scaling"])
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--tracemalloc", type=int, default=0)
    # Handshakes at once; fewer on a loaded machine, where 100 waiting ones time out.
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    database_url, redis_url = require_services()
    raise_fd_limit()
    suite.setup_django()
    from django.conf import settings

    logdir = Path(settings.VAR_DIR) / "bench-sockets"
    env = {"SECRET_KEY": settings.SECRET_KEY}
    if args.what == "idle":
        if args.tracemalloc:
            env["BENCH_TRACEMALLOC"] = str(args.tracemalloc)
        with Stack(
            processes=1,
            database_url=database_url,
            redis_url=redis_url,
            logdir=logdir,
            worker=False,
            env=env,
            server=args.server,
        ) as stack:
            print(asyncio.run(idle(stack, args, redis_url)))
        return
    cfg = dict(suite.QUICK, sat_seconds=args.seconds)
    # The quick suite's 40 visitors in a closed loop would meet the per-socket rate limit
    # (WS_RATE_PER_SECOND, 10 a second) at 400-520 msg/s in all, whatever the processes: this
    # measures the servers, so the limit is lifted.
    env.update(WS_RATE_PER_SECOND="100000", WS_RATE_BURST="100000")
    rates = {}
    from bench.stack import PRIVATE_SERVICES

    # CPU of the private MariaDB and Redis (only when this run started them: a shared server's
    # CPU would include everyone else's work).
    services = {
        Path(p.args[0]).name: p.pid
        for p in PRIVATE_SERVICES
        if Path(p.args[0]).name != "mariadb-install-db"
    }
    for processes, cpus in ((1, ["0"]), (2, ["0", "1"])):
        with Stack(
            processes=processes,
            database_url=database_url,
            redis_url=redis_url,
            logdir=logdir,
            env=env,
            server=args.server,
            cpus=cpus,
        ) as stack:
            pids = {f"server-{i}": p.pid for i, p in enumerate(stack.procs)} | services
            cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
            out = asyncio.run(suite.kefu_phase(stack, cfg, only={"saturation"}))
            cpu = {name: cpu_seconds(pid) - cpu[name] for name, pid in pids.items()}
        sat = out["saturation"]
        messages = sat["sent"] + out["warmup"]["sent"]
        print(
            "  CPU microseconds per message (whole phase incl. set-up, an upper bound): "
            + ", ".join(f"{name} {cpu[name] / messages * 1e6:.0f}" for name in sorted(cpu))
        )
        rates[processes] = sat["throughput"]
        print(
            f"{args.server}: {processes} process(es) on cores {','.join(cpus)}: "
            f"{sat['throughput']:.0f} msg/s, loss check {'OK' if sat['ok'] else 'MISMATCH'}, "
            f"{len(out['server_errors'])} ERROR lines"
        )
    print(f"{args.server}: 2 processes / 1 process = {rates[2] / rates[1]:.2f}")


if __name__ == "__main__":
    main()
