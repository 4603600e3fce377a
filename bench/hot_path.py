"""The persisted message path without sockets: what one batch of visitor messages costs in the
process's database thread (`batching._store`) and in its event loop (`realtime.apublish_events`
plus the JSON of each delivered frame), per message.

It needs a migrated database (DATABASE_URL; MariaDB for figures that mean anything) and, for the
publish half, the settings' channel layer (REDIS_URL). It creates a throwaway merchant with one
agent and `--visitors` visitors whose conversations are assigned (the saturation phase's steady
state: no bot or router step), then stores `--batches` batches of `--batch` messages, one per
visitor, as the consumer process does. Reported: CPU microseconds per message in the database
thread (thread CPU time, so other processes on the machine do not count; and wall time, which
includes the waits for MariaDB) and in the loop, SQL
statements per message, and with `--profile` the top functions of the database thread
(cProfile, cumulative).

Usage: python bench/hot_path.py [--visitors 40] [--batch 40] [--batches 30] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from conversations import batching, realtime, services  # noqa: E402
from conversations.models import Conversation, Message  # noqa: E402
from merchants.models import Merchant  # noqa: E402
from merchants.services import membership_add  # noqa: E402


def world(visitors: int):
    tag = uuid.uuid4().hex[:8]
    merchant = Merchant.objects.create(name=f"hot-path {tag}")
    agent = membership_add(
        merchant=merchant, username=f"hot-{tag}", password="x", role="agent", display_name="A"
    )
    ids = []
    for i in range(visitors):
        visitor = services.visitor_touch(merchant=merchant, anonymous_id=f"{tag}-{i}")
        services.message_send_by_visitor(
            merchant_id=merchant.pk, visitor_id=visitor.pk, client_msg_id=f"{tag}-0-{i}", body="hi"
        )
        ids.append(visitor.pk)
    Conversation.objects.filter(merchant=merchant).update(
        assignee_id=agent.user_id, bot_active=False, queued_at=None
    )
    return merchant, ids, tag


class Counter:
    def __init__(self):
        self.n = 0

    def __call__(self, execute, sql, params, many, context):
        self.n += 1
        return execute(sql, params, many, context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visitors", type=int, default=40)
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-publish", action="store_true")
    args = parser.parse_args()
    merchant, ids, tag = world(args.visitors)
    counter = Counter()
    profile = cProfile.Profile() if args.profile else None
    db_cpu = loop_cpu = db_wall = 0.0
    stored = 0
    loop = asyncio.new_event_loop()
    try:
        for b in range(args.batches):
            sends = [
                {
                    "merchant_id": merchant.pk,
                    "visitor_id": ids[i % len(ids)],
                    "client_msg_id": f"{tag}-{b + 1}-{i}",
                    "body": f"message {b} {i} 你好",
                }
                for i in range(args.batch)
            ]
            with connection.execute_wrapper(counter):
                t, wall = time.thread_time(), time.perf_counter()
                if profile:
                    profile.enable()
                results, events, steps = batching._store(sends)
                if profile:
                    profile.disable()
                db_cpu += time.thread_time() - t
                db_wall += time.perf_counter() - wall
            assert all(isinstance(r, tuple) for r in results), results
            stored += len(results)
            t = time.thread_time()
            if not args.no_publish:
                loop.run_until_complete(realtime.apublish_events(events))
            # What the receiving sockets do with them: one JSON text per frame and socket
            # (one agent and one visitor socket per message here).
            for _group, frame in events:
                json.dumps(frame)
            loop_cpu += time.thread_time() - t
    finally:
        loop.close()
    assert Message.objects.filter(merchant=merchant).count() == args.visitors + stored
    print(
        f"{stored} messages in batches of {args.batch}: "
        f"database thread {db_cpu / stored * 1e6:.0f} us/message CPU, "
        f"{db_wall / stored * 1e6:.0f} us/message wall, "
        f"event loop {loop_cpu / stored * 1e6:.0f} us/message, "
        f"SQL {counter.n / stored:.2f} per message ({counter.n / args.batches:.1f} per batch)"
    )
    if profile:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue())
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(20)
        print(out.getvalue())


if __name__ == "__main__":
    main()
