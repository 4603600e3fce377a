"""The large data set for the API figures: one merchant with 100,000 conversations (one visitor
each) and 1,000,000 messages, in its own MariaDB database (kefu_bench by default), loaded once
with INSERT ... SELECT from MariaDB's sequence tables (seq_1_to_N) and kept for later runs.

Run by bench/suite.py as a child process with DATABASE_URL pointing at that database:
    python bench/dataset.py [--conversations 100000] [--per-conversation 10]
prints one JSON line: {"merchant_id", "token", "conversations", "messages", "load_seconds"}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, models  # noqa: E402

from conversations.models import Conversation, Message, Visitor  # noqa: E402
from merchants.models import Membership, Merchant  # noqa: E402
from merchants.services import api_token_create, membership_add  # noqa: E402

NAME = "bench-1m"
CHUNK = 10_000  # conversations per INSERT ... SELECT of messages (100,000 rows)


def insert_select(model, exprs: dict[str, str], source: str) -> int:
    """INSERT INTO model's table (every column) SELECT exprs/defaults FROM source.

    Columns not in `exprs` get their Django default (Django keeps defaults in Python, not in
    the schema, so the SQL must name them all)."""
    cols, values, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        cols.append(connection.ops.quote_name(field.column))
        name = field.attname
        if name in exprs:
            values.append(exprs[name])
        elif getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
            values.append("NOW(6)")
        elif field.has_default():
            values.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
        elif field.null:
            values.append("NULL")
        elif isinstance(field, (models.CharField, models.TextField)):
            values.append("''")
        else:
            raise ValueError(f"no value for {model.__name__}.{name}")
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(cols)}) "
        f"SELECT {', '.join(values)} FROM {source}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def load(conversations: int, per_conversation: int) -> Merchant:
    merchant = Merchant.objects.create(name=NAME, allowed_origins="https://bench.example")
    membership_add(
        merchant=merchant,
        username=f"{NAME}-agent",
        password=None,
        role=Membership.Role.AGENT,
        display_name="Bench",
    )
    m = merchant.pk
    insert_select(
        Visitor,
        {
            "merchant_id": str(m),
            "anonymous_id": "CONCAT('b', seq)",
            "name": "CONCAT('访客 ', seq)",
            "last_seen_at": "NOW(6) - INTERVAL seq SECOND",
        },
        f"seq_1_to_{conversations}",
    )
    # Every third conversation resolved, the rest open; last activity spread over time so the
    # inbox order is a real sort.
    insert_select(
        Conversation,
        {
            "merchant_id": str(m),
            "visitor_id": "v.id",
            "status": "IF(MOD(v.id, 3) = 0, 'resolved', 'open')",
            "last_seq": str(per_conversation),
            "last_message_at": "NOW(6) - INTERVAL v.id SECOND",
            "last_message_preview": "'最后一条消息 last message'",
            "last_message_sender_kind": "'visitor'",
            "unread_agent_count": "1",
        },
        f"conversations_visitor v WHERE v.merchant_id = {m}",
    )
    lo, hi = (
        Conversation.objects.filter(merchant_id=m)
        .aggregate(lo=models.Min("id"), hi=models.Max("id"))
        .values()
    )
    for start in range(lo, hi + 1, CHUNK):
        insert_select(
            Message,
            {
                "merchant_id": str(m),
                "conversation_id": "c.id",
                "seq": "s.seq",
                "sender_kind": "IF(MOD(s.seq, 2) = 1, 'visitor', 'agent')",
                "sender_key": "IF(MOD(s.seq, 2) = 1, 'visitor', 'agent:1')",
                "sender_name": "IF(MOD(s.seq, 2) = 1, '访客', 'Bench')",
                "body": "CONCAT('压测历史消息 history message ', s.seq, ' 😀')",
                "client_msg_id": "CONCAT('h', c.id, '-', s.seq)",
                "created_at": "NOW(6) - INTERVAL (c.id * 100 - s.seq) SECOND",
            },
            f"conversations_conversation c JOIN seq_1_to_{per_conversation} s "
            f"WHERE c.merchant_id = {m} AND c.id BETWEEN {start} AND {start + CHUNK - 1}",
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE TABLE conversations_conversation, conversations_message, conversations_visitor"
        )
        cursor.fetchall()
    return merchant


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--per-conversation", type=int, default=10)
    args = parser.parse_args()
    started = time.perf_counter()
    merchant = Merchant.objects.filter(name=NAME).first()
    want = args.conversations * args.per_conversation
    if merchant is not None and Message.objects.filter(merchant=merchant).count() != want:
        merchant.delete()  # a partial load (interrupted run): start again
        merchant = None
    if merchant is None:
        merchant = load(args.conversations, args.per_conversation)
    _, token = api_token_create(merchant=merchant, name=f"bench-{int(time.time())}")
    ids = list(
        Conversation.objects.filter(merchant=merchant)
        .order_by("?")
        .values_list("id", flat=True)[:500]
    )
    print(
        json.dumps(
            {
                "merchant_id": merchant.pk,
                "token": token,
                "sample": ids,
                "conversations": Conversation.objects.filter(merchant=merchant).count(),
                "messages": Message.objects.filter(merchant=merchant).count(),
                "load_seconds": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
