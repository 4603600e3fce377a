"""Routing benchmark: decisions per second and latency with a full house.

Creates throwaway data in the configured database (DATABASE_URL; MariaDB when set, SQLite
otherwise; migrations are applied first): `--merchants` merchants with `--agents` agents each,
all online (presence in Redis when REDIS_URL is set, in memory otherwise), and `--queued`
visitors waiting in the queues. Then it times, one decision at a time, through the product's
own functions (row locks, RoutingEvent rows, after-commit publishing of `routing.event`,
`conversation.updated`, `queue.changed` and every queued visitor's `conversation.state` on the
configured channel layer):

1. drain: agents come online with `--capacity` slots each and the queues are served
   oldest-first (one assignment = one decision);
2. arrive: new visitors write while every agent is full: each is queued (one decision, which
   also publishes the new positions to everyone waiting in that merchant's queue);
3. resolve: an agent resolves a conversation, which frees a slot and serves the head of the
   queue (resolve + drain of one = one decision).

As in daphne, the decisions run in a worker thread and publish through the process's one event
loop. Decisions are made one at a time (no concurrency): the figures are per-decision costs.

Usage: python bench/routing.py [--merchants 50] [--agents 4] [--queued 5000] [--capacity 10]
       [--write docs/performance.md]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")

import django  # noqa: E402

django.setup()

from asgiref.sync import async_to_sync, sync_to_async  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from conversations import presence, realtime, routing, selectors, services, timeline  # noqa: E402
from conversations.models import Conversation, Visitor  # noqa: E402
from merchants.models import Membership, Merchant  # noqa: E402
from merchants.services import membership_add  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(name: str, latencies: list[float], wall: float) -> dict:
    return {
        "phase": name,
        "decisions": len(latencies),
        "per_second": len(latencies) / wall if wall else 0,
        "p50": pct(latencies, 50) * 1000,
        "p99": pct(latencies, 99) * 1000,
        "max": max(latencies) * 1000,
        "mean": statistics.mean(latencies) * 1000,
    }


def setup(tag: str, merchants: int, agents: int, queued: int):
    created = []
    now = timezone.now()
    per_merchant = queued // merchants
    for i in range(merchants):
        merchant = Merchant.objects.create(
            name=f"bench-routing-{tag}-{i}", accept_timeout_seconds=0, sticky_agent=False
        )
        members = [
            membership_add(
                merchant=merchant,
                username=f"br-{tag}-{i}-{a}",
                password=None,
                role=Membership.Role.AGENT,
                display_name=f"Agent {a}",
            )
            for a in range(agents)
        ]
        Membership.objects.filter(merchant=merchant).update(max_concurrent=0)
        visitors = Visitor.objects.bulk_create(
            [
                Visitor(merchant=merchant, anonymous_id=f"{tag}-{i}-{v}", name=f"访客{v}")
                for v in range(per_merchant)
            ]
        )
        Conversation.objects.bulk_create(
            [
                Conversation(
                    merchant=merchant,
                    visitor=v,
                    queued_at=now - timedelta(seconds=per_merchant - n),
                    last_message_at=now,
                    last_seq=1,
                    awaiting_reply_since=now,
                )
                for n, v in enumerate(visitors)
            ]
        )
        created.append((merchant, members))
    return created


def go_online(created) -> None:
    # An hour's TTL: nothing refreshes these entries while the benchmark runs.
    for merchant, members in created:
        for m in members:
            async_to_sync(presence.store().add)(
                presence._agent_key(merchant.pk, m.user_id), "bench-socket", 3600
            )


def run(args) -> dict:
    call_command("migrate", verbosity=0)
    tag = uuid.uuid4().hex[:6]
    print(f"setting up {args.merchants} merchants x {args.agents} agents, {args.queued} queued ...")
    created = setup(tag, args.merchants, args.agents, args.queued)
    go_online(created)
    results = []
    try:
        # 1. Capacity appears: every merchant's queue is drained one decision at a time.
        Membership.objects.filter(merchant__name__startswith=f"bench-routing-{tag}-").update(
            max_concurrent=args.capacity
        )
        latencies = []
        started = time.perf_counter()
        for merchant, _ in created:
            for conversation_id in list(
                selectors.queued(merchant_id=merchant.pk)
                .order_by(*selectors.QUEUE_ORDER)
                .values_list("id", flat=True)[: args.agents * args.capacity]
            ):
                candidates = selectors.eligible_agents(merchant_id=merchant.pk)
                t = time.perf_counter()
                with realtime.one_hop():  # as queue_drain publishes
                    assert routing._drain_one(merchant, conversation_id, candidates)
                latencies.append(time.perf_counter() - t)
            with realtime.one_hop():
                timeline.publish_queue(merchant.pk)
        results.append(
            summary("drain (assign from the queue)", latencies, time.perf_counter() - started)
        )

        # 2. Full house: new visitors are queued; each decision republishes the merchant's queue.
        rng = random.Random(7)
        latencies = []
        started = time.perf_counter()
        for n in range(args.arrivals):
            merchant, _ = rng.choice(created)
            visitor = Visitor.objects.create(merchant=merchant, anonymous_id=f"{tag}-new-{n}")
            conversation = Conversation.objects.create(
                merchant=merchant, visitor=visitor, last_message_at=timezone.now(), last_seq=1
            )
            t = time.perf_counter()
            routing.visitor_message_received(
                merchant_id=merchant.pk,
                conversation_id=conversation.pk,
                message_id=0,
                started=True,
                reopened=False,
            )
            latencies.append(time.perf_counter() - t)
        results.append(
            summary(
                "arrive (queued, positions republished)", latencies, time.perf_counter() - started
            )
        )

        # 3. Resolve one, the head of the queue is served.
        latencies = []
        started = time.perf_counter()
        for _ in range(args.resolves):
            merchant, members = rng.choice(created)
            m = rng.choice(members)
            conversation_id = (
                Conversation.objects.filter(merchant=merchant, assignee_id=m.user_id, status="open")
                .values_list("id", flat=True)
                .first()
            )
            t = time.perf_counter()
            services.conversation_set_status(
                merchant_id=merchant.pk,
                conversation_id=conversation_id,
                actor_user_id=m.user_id,
                status="resolved",
            )
            latencies.append(time.perf_counter() - t)
        results.append(
            summary("resolve + serve the queue head", latencies, time.perf_counter() - started)
        )
    finally:
        for merchant, members in created:
            for m in members:
                async_to_sync(presence.store().remove)(
                    presence._agent_key(merchant.pk, m.user_id), "bench-socket"
                )
        Merchant.objects.filter(name__startswith=f"bench-routing-{tag}-").delete()
        from accounts.models import User

        User.objects.filter(username__startswith=f"br-{tag}-").delete()
    return {
        "results": results,
        "db": connection.vendor,
        "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
        "presence": type(presence.store()).__name__,
        "args": vars(args),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load": os.getloadavg()[0],
    }


def markdown(report: dict) -> str:
    a = report["args"]
    lines = [
        "## Routing",
        "",
        "`python bench/routing.py` (conversations.routing, one decision at a time through the "
        "product's functions: row locks, RoutingEvent rows, after-commit `routing.event`, "
        "`conversation.updated`, `queue.changed` and each queued visitor's `conversation.state`).",
        "",
        f"Run of {time.strftime('%Y-%m-%d')} ({report['machine']}; database {report['db']}, "
        f"layer `{report['layer'].rsplit('.', 1)[-1]}`, presence `{report['presence']}`): "
        f"{a['merchants']} merchants x {a['agents']} agents = {a['merchants'] * a['agents']} agents "
        f"online, {a['queued']} queued visitors, capacity {a['capacity']} per agent; load average "
        f"{report['load']:.1f} at the end (the machine was shared with other work).",
        "",
        "| phase | decisions | decisions/s | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['phase']} | {r['decisions']} | {r['per_second']:.0f} | {r['p50']:.1f} | "
            f"{r['p99']:.1f} | {r['max']:.1f} |"
        )
    lines += [
        "",
        "Every decision also sends `queue.changed` to the agents and `conversation.state` to the "
        "visitors whose place changed: one for a newcomer at the back of the queue, everyone "
        "waiting in that merchant's queue (here ~60-100) when its head is served, which is why "
        '"resolve + serve" costs most. Decisions of one merchant serialise on the row locks of '
        "its agents' memberships; merchants do not wait for each other. Included: the "
        "notification rows `notifications.services` writes for each assignment or queued visitor.",
        "",
    ]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace the "## Routing" section (up to the next "## " heading) or append it; the rest of
    the file is left as it is."""
    text = path.read_text() if path.exists() else "# Performance\n"
    start = text.find("\n## Routing\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[: start + 1] + section + (text[end + 1 :] if end != -1 else "")
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--merchants", type=int, default=50)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--queued", type=int, default=5000)
    parser.add_argument("--capacity", type=int, default=10)
    parser.add_argument("--arrivals", type=int, default=500)
    parser.add_argument("--resolves", type=int, default=500)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()

    async def in_server_loop():
        # As in daphne: the routing code runs in a worker thread and its publishes hop to the
        # one event loop, which keeps its channel-layer connection open.
        return await sync_to_async(run, thread_sensitive=False)(args)

    report = asyncio.run(in_server_loop())
    text = markdown(report)
    print(text)
    if args.write:
        write_section(args.write, text)


if __name__ == "__main__":
    main()
