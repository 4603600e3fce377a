"""Chat-path benchmark: visitors send, agents receive, through a real daphne process.

Starts daphne on a free loopback port with the current settings (DATABASE_URL / REDIS_URL as in
the environment; run migrations first), creates a throwaway merchant with one agent per
`--agents` and `--pairs` visitors, then each visitor sends `--messages` messages closed-loop
(wait for the ack, send the next). It measures:

- persisted throughput: acknowledged (= committed) messages per second;
- ack latency: send -> message.ack on the visitor socket;
- delivery latency: send -> message.created on an agent socket;
- loss accounting: sent = acknowledged = stored = delivered, duplicates = 0.

Usage: python bench/chat_path.py [--pairs 20] [--messages 50] [--write docs/performance.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")

import django  # noqa: E402

django.setup()

import websockets  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from conversations.models import Message  # noqa: E402
from kefu.processes import stop_processes  # noqa: E402
from merchants.models import Membership, Merchant  # noqa: E402
from merchants.services import membership_add  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_daphne(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "kefu.asgi:application",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, LOG_LEVEL="WARNING"),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("daphne did not start")


def bootstrap(base: str, key: str) -> dict:
    request = urllib.request.Request(
        f"{base}/widget/api/bootstrap?key={key}",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json", "Origin": base},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def run(
    base: str,
    ws_base: str,
    merchant: Merchant,
    cookies: list[str],
    boots: list[dict],
    messages: int,
) -> dict:
    sent_at: dict[str, float] = {}
    ack_lat: list[float] = []
    delivery_lat: list[float] = []
    delivered: dict[str, int] = {}
    done = asyncio.Event()
    total = len(boots) * messages

    async def agent(cookie: str):
        async with websockets.connect(
            f"{ws_base}/ws/agent/{merchant.pk}/",
            origin=base,
            additional_headers={"Cookie": cookie},
            max_queue=None,
        ) as ws:
            ready.set_result(None) if not ready.done() else None
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] != "message.created":
                    continue
                cid = frame["message"]["client_msg_id"]
                if cid in sent_at:
                    delivered[cid] = delivered.get(cid, 0) + 1
                    if delivered[cid] == 1:
                        delivery_lat.append(time.perf_counter() - sent_at[cid])
                    if len(delivery_lat) >= total:
                        done.set()

    async def visitor(boot: dict):
        async with websockets.connect(ws_base + boot["ws_path"], origin=base) as ws:
            await ws.send(json.dumps({"type": "auth", "token": boot["token"]}))
            while json.loads(await ws.recv())["type"] != "session.ready":
                pass
            for i in range(messages):
                cid = f"{boot['visitor_id']}-{i}-{uuid.uuid4().hex[:6]}"
                sent_at[cid] = time.perf_counter()
                await ws.send(
                    json.dumps(
                        {"type": "message.send", "client_msg_id": cid, "body": f"压测消息 {i} 😀"}
                    )
                )
                while True:
                    frame = json.loads(await ws.recv())
                    if frame["type"] == "message.ack" and frame["client_msg_id"] == cid:
                        ack_lat.append(time.perf_counter() - sent_at[cid])
                        break

    ready = asyncio.get_running_loop().create_future()
    agents = [asyncio.create_task(agent(c)) for c in cookies[:1]]
    await ready
    await asyncio.sleep(0.5)
    started = time.perf_counter()
    await asyncio.gather(*(visitor(b) for b in boots))
    acked_in = time.perf_counter() - started
    try:
        await asyncio.wait_for(done.wait(), 30)
    except TimeoutError:
        pass
    for task in agents:
        task.cancel()
    return {
        "sent": len(sent_at),
        "acked": len(ack_lat),
        "delivered": len(delivery_lat),
        "duplicates": sum(n - 1 for n in delivered.values() if n > 1),
        "seconds": acked_in,
        "throughput": len(ack_lat) / acked_in,
        "ack_p50": pct(ack_lat, 50) * 1000,
        "ack_p99": pct(ack_lat, 99) * 1000,
        "del_p50": pct(delivery_lat, 50) * 1000,
        "del_p99": pct(delivery_lat, 99) * 1000,
        "del_max": max(delivery_lat, default=float("nan")) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--write", help="append the result table to this markdown file")
    args = parser.parse_args()

    port = free_port()
    base, ws_base = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    merchant = Merchant.objects.create(name=f"bench-{uuid.uuid4().hex[:6]}", allowed_origins=base)
    membership = membership_add(
        merchant=merchant,
        username=f"bench-{merchant.pk}",
        password=None,
        role=Membership.Role.AGENT,
        display_name="bench",
    )
    client = Client()
    client.force_login(membership.user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    proc = start_daphne(port)
    try:
        boots = [bootstrap(base, merchant.widget_key) for _ in range(args.pairs)]
        result = asyncio.run(run(base, ws_base, merchant, [cookie], boots, args.messages))
    finally:
        stop_processes([proc])
    stored = Message.objects.filter(merchant=merchant).count()
    merchant.delete()  # the bench leaves no rows behind
    membership.user.delete()
    layer = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    table = (
        f"| database | layer | pairs x messages | sent | acked | stored | delivered | dup | "
        f"msg/s | ack p50/p99 ms | delivery p50/p99/max ms |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
        f"| {connection.vendor} | {layer} | {args.pairs} x {args.messages} | {result['sent']} | "
        f"{result['acked']} | {stored} | {result['delivered']} | {result['duplicates']} | "
        f"{result['throughput']:.0f} | {result['ack_p50']:.1f} / {result['ack_p99']:.1f} | "
        f"{result['del_p50']:.1f} / {result['del_p99']:.1f} / {result['del_max']:.1f} |\n"
    )
    print(f"machine: {machine}")
    print(table)
    ok = (
        result["sent"] == result["acked"] == stored == result["delivered"]
        and not result["duplicates"]
    )
    print("loss accounting:", "OK" if ok else "MISMATCH")
    if args.write:
        with open(args.write, "a", encoding="utf-8") as fh:
            fh.write(f"\n### Run of {time.strftime('%Y-%m-%d %H:%M')} ({machine})\n\n{table}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
