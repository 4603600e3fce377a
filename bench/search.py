"""Message search latency (conversations/search.py) over a large data set: p50 / p95 / p99 of the
selectors the API calls (`message_search`: the index, then the page of messages with their
conversation and visitor; `conversation_list` with `q`), for a mix of searches an agent makes.

The data set is built once in its own database and reused:
- MariaDB/MySQL (DATABASE_URL=mysql://...): database `kefu_search_bench` (BENCH_SEARCH_DB),
  created and migrated here, so the index is the one the migrations build (Mroonga on MariaDB
  with the plugin, the bigram table on MySQL 8);
- SQLite (no DATABASE_URL): var/bench_search.sqlite3, the FTS5 trigram index.
One merchant holds `--messages` messages (20 per conversation) and a second merchant a tenth
as many with the same words, so every search also proves it is scoped. Bodies are two phrases
out of 200 everyday customer-service sentences (Chinese and English) and, in one message of
ten, an order number: 发票 occurs in about 2 % of messages, an order number in one.

Usage: python bench/search.py [--messages 1000000] [--repeat 30] [--json out.json]
Prints a JSON report (machine, backend, sizes, build times, per-query latencies).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")

PER_CONVERSATION = 20
NAME = "bench-search"

ZH = [
    "您好，请问在吗",
    "我要开发票",
    "发票什么时候寄出",
    "我想退款",
    "退款多久到账",
    "订单还没发货",
    "快递到哪里了",
    "可以改地址吗",
    "商品有质量问题",
    "尺码不合适想换货",
    "优惠券怎么用不了",
    "会员积分怎么查",
    "支付失败了怎么办",
    "能便宜一点吗",
    "什么时候有货",
    "客服电话是多少",
    "包装破损了",
    "少发了一件",
    "颜色和图片不一样",
    "怎么申请售后",
    "可以货到付款吗",
    "运费怎么算",
    "能开增值税专用发票吗",
    "保修期多久",
    "说明书丢了",
    "安装需要收费吗",
    "预约上门时间",
    "取消订单",
    "重复扣款了",
    "账号登录不上",
    "密码忘记了",
    "手机号换了",
    "收不到验证码",
    "活动什么时候结束",
    "能不能加急",
    "周末发货吗",
    "支持七天无理由吗",
    "已经签收但没收到",
    "物流信息不更新",
    "想投诉快递员",
    "谢谢你的帮助",
    "好的明白了",
    "还有别的问题",
    "麻烦尽快处理",
    "等了很久了",
    "太慢了很生气",
    "为什么没人回复",
    "请帮我查一下",
    "我是老客户了",
    "推荐一款适合的",
    "有没有赠品",
    "价格保护怎么申请",
    "可以分期吗",
    "开票抬头写错了",
    "电子发票在哪下载",
    "发货单号是多少",
    "退货地址在哪",
    "退款被拒绝了",
    "商品缺货了吗",
    "能不能换个颜色",
    "质量太差了",
    "非常满意",
    "下次还来",
    "请问营业时间",
    "门店地址在哪里",
    "可以自提吗",
    "快递可以指定吗",
    "能寄到国外吗",
    "需要身份证吗",
    "保价怎么算",
    "礼品卡怎么用",
    "余额怎么提现",
    "发票金额不对",
    "订单被取消了",
    "地址填错了",
    "电话打不通",
    "人工客服",
    "转人工",
    "机器人听不懂",
    "退换货流程",
    "换货要多久",
    "维修进度怎么查",
    "配件单独卖吗",
    "有没有说明视频",
    "包邮吗",
    "满减怎么算",
    "积分兑换",
    "会员到期了",
    "自动续费怎么关",
    "扣费短信",
    "隐私政策",
    "注销账号",
    "修改手机号",
    "绑定邮箱",
    "收货人改名",
    "批量采购有优惠吗",
    "企业采购开票",
    "合同怎么签",
    "对公转账",
]
EN = [
    "hello is anyone there",
    "i need an invoice",
    "when will my invoice be sent",
    "i want a refund",
    "how long does the refund take",
    "my order has not shipped",
    "where is my parcel",
    "can i change the address",
    "the item is broken",
    "wrong size please exchange",
    "coupon does not work",
    "how do i check my points",
    "payment failed",
    "any discount",
    "when is it back in stock",
    "what is your phone number",
    "the box was damaged",
    "one item is missing",
    "colour differs from the picture",
    "how to request after sales service",
    "cash on delivery",
    "shipping cost",
    "vat invoice please",
    "warranty period",
    "lost the manual",
    "is installation free",
    "book a visit",
    "cancel my order",
    "charged twice",
    "cannot log in",
    "forgot password",
    "changed my phone",
    "no verification code",
    "when does the sale end",
    "express delivery",
    "do you ship on weekends",
    "seven day return",
    "signed but not received",
    "tracking not updated",
    "complain about the courier",
    "thanks for your help",
    "ok got it",
    "another question",
    "please hurry",
    "waited a long time",
    "too slow angry",
    "why no reply",
    "please check for me",
    "loyal customer",
    "recommend something",
    "any free gift",
    "price protection",
    "instalments",
    "wrong invoice title",
    "download the e-invoice",
    "tracking number please",
    "return address",
    "refund rejected",
    "out of stock",
    "other colour",
    "poor quality",
    "very satisfied",
    "will come again",
    "opening hours",
    "store address",
    "pick up in store",
    "choose the courier",
    "ship abroad",
    "id card needed",
    "insurance cost",
    "gift card",
    "withdraw balance",
    "invoice amount wrong",
    "order was cancelled",
    "wrong address",
    "phone unreachable",
    "human agent",
    "talk to a person",
    "the bot does not understand",
    "return process",
    "exchange time",
    "repair status",
    "spare parts",
    "tutorial video",
    "free shipping",
    "bundle discount",
    "redeem points",
    "membership expired",
    "stop auto renewal",
    "billing sms",
    "privacy policy",
    "delete my account",
    "update phone number",
    "link my email",
    "change the receiver",
    "bulk order discount",
    "company invoice",
    "sign a contract",
    "bank transfer",
]
PHRASES = (ZH + EN)[:200]

# (label, search text): what agents type. Each is run --repeat times, in a shuffled order.
QUERIES = [
    ("zh 2 chars, common (发票)", "发票"),
    ("zh 5 chars (我要开发票)", "我要开发票"),
    ("zh 1 char (票)", "票"),
    ("en word (refund)", "refund"),
    ("en 2 chars (vo)", "vo"),
    ("two words (退款 order)", "退款 order"),
    ("order number, 1 hit", "ORD424240"),
    ("digits inside a number (42424)", "42424"),
    ("no hit (zzzq)", "zzzq"),
]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def setup_database() -> str:
    """Point Django at the bench database (created if missing) and return a label."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("mysql"):
        import MySQLdb  # mysqlclient, the driver the product uses

        base, _, _ = url.rpartition("/")
        name = os.environ.get("BENCH_SEARCH_DB", "kefu_search_bench")
        from urllib.parse import urlparse

        u = urlparse(url)
        conn = MySQLdb.connect(
            host=u.hostname, port=u.port or 3306, user=u.username, passwd=u.password or ""
        )
        conn.cursor().execute(
            f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 "
            "COLLATE utf8mb4_unicode_ci"
        )
        conn.close()
        os.environ["DATABASE_URL"] = f"{base}/{name}"
        return name
    path = ROOT / "var" / "bench_search.sqlite3"
    path.parent.mkdir(exist_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    return str(path)


def numbers_source(n: int, connection) -> str:
    """A FROM clause yielding column `seq` = 1..n."""
    if connection.vendor == "mysql" and connection.mysql_is_mariadb:
        return f"seq_1_to_{n}"
    return (
        f"(WITH RECURSIVE s(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM s WHERE seq < {n}) "
        "SELECT seq FROM s)"
    )


def build(messages: int, connection) -> dict:
    from django.core.management import call_command

    from conversations.models import Conversation, Message
    from merchants.models import Merchant

    call_command("migrate", verbosity=0)
    sizes = {}
    wanted = {NAME: messages, NAME + "-other": max(messages // 10, PER_CONVERSATION)}
    existing = {
        m.name: Message.objects.filter(merchant=m).count()
        for m in Merchant.objects.filter(name__in=wanted)
    }
    started = time.perf_counter()
    if existing != wanted:
        if existing:
            # Deleting a million rows through the ORM's cascade takes longer than a new build.
            raise SystemExit(
                f"a partial or other-sized data set is in {connection.settings_dict['NAME']}: drop it and run again"
            )
        with connection.cursor() as cursor:
            if connection.vendor == "mysql" and not connection.mysql_is_mariadb:
                # MySQL stops a recursive WITH at 1,000 rows by default (numbers_source).
                cursor.execute("SET SESSION cte_max_recursion_depth = 100000000")
            cursor.execute("DROP TABLE IF EXISTS bench_phrases")
            cursor.execute("CREATE TABLE bench_phrases (i INTEGER PRIMARY KEY, t VARCHAR(200))")
            cursor.executemany(
                "INSERT INTO bench_phrases (i, t) VALUES (%s, %s)", list(enumerate(PHRASES))
            )
        for name, n in wanted.items():
            _load(name, n, connection)
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE bench_phrases")
    build_seconds = time.perf_counter() - started
    for name in wanted:
        m = Merchant.objects.get(name=name)
        sizes[name] = {
            "merchant_id": m.pk,
            "messages": Message.objects.filter(merchant=m).count(),
            "conversations": Conversation.objects.filter(merchant=m).count(),
        }
    return {"sizes": sizes, "build_seconds": round(build_seconds, 1)}


def _load(name: str, n: int, connection) -> None:
    from conversations.models import Conversation
    from conversations.search import TABLE, backend, grams_insert
    from merchants.models import Merchant

    merchant = Merchant.objects.create(name=name, allowed_origins="https://bench.example")
    m = merchant.pk
    conversations = n // PER_CONVERSATION
    now = "NOW(6)" if connection.vendor == "mysql" else "STRFTIME('%Y-%m-%d %H:%M:%f', 'now')"
    concat = (
        (lambda *p: "CONCAT(" + ", ".join(p) + ")")
        if connection.vendor == "mysql"
        else (lambda *p: "(" + " || ".join(p) + ")")
    )
    anon, name_, email, phone = (
        concat("'b'", "seq"),
        concat("'访客 '", "seq"),
        concat("'v'", "seq", "'@example.com'"),
        concat("'138'", "seq"),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO conversations_visitor (merchant_id, anonymous_id, name, email, phone, "
            "external_id, attributes, first_seen_at, last_seen_at, user_agent, page_url, "
            "page_title, block_reason, language, referrer) "
            f"SELECT {m}, {anon}, {name_}, {email}, {phone}, '', '{{}}', "
            f"{now}, {now}, '', '', '', '', '', '' FROM {numbers_source(conversations, connection)} n"
        )
        cursor.execute(
            "INSERT INTO conversations_conversation (merchant_id, visitor_id, status, created_at, "
            "last_seq, agent_last_read_seq, visitor_last_read_seq, visitor_emailed_seq, "
            "unread_agent_count, unread_visitor_count, source, priority, routing_attempts, "
            "bot_active, bot_state, intent, pipeline_seq, pipeline_reopened_seq, "
            "last_message_at, last_message_preview, last_message_sender_kind, rating_comment) "
            f"SELECT {m}, id, 'open', {now}, {PER_CONVERSATION}, 0, 0, 0, 1, 0, 'chat', 0, 0, "
            f"0, '{{}}', '', {PER_CONVERSATION}, 0, {now}, '', 'visitor', '' "
            f"FROM conversations_visitor WHERE merchant_id = {m}"
        )
    lo = Conversation.objects.filter(merchant_id=m).order_by("id").values_list("id", flat=True)[0]
    # Message i of the merchant: conversation lo + i // 20, seq i % 20 + 1; the first phrase
    # picked by i, the second by i and i // 200 (40,000 pairs); an order number in one of ten.
    order = concat("' ORD'", "n.seq")
    body = (
        concat("a.t", "' '", "b.t", f"CASE WHEN n.seq % 10 = 0 THEN {order} ELSE '' END")
        if connection.vendor == "sqlite"
        else concat("a.t", "' '", "b.t", f"IF(MOD(n.seq, 10) = 0, {order}, '')")
    )
    mod = (
        (lambda a, b: f"(({a}) % {b})")
        if connection.vendor == "sqlite"
        else (lambda a, b: f"MOD({a}, {b})")
    )
    chunk = 200_000
    div = "/" if connection.vendor == "sqlite" else "DIV"
    seq_in_conversation = mod("n.seq - 1", PER_CONVERSATION)
    with connection.cursor() as cursor:
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            cursor.execute(
                "INSERT INTO conversations_message (merchant_id, conversation_id, seq, "
                "sender_kind, sender_key, sender_name, body, kind, client_msg_id, is_private, "
                "created_at, sentiment_label, meta) "
                f"SELECT {m}, {lo} + (n.seq - 1) {div} {PER_CONVERSATION}, "
                f"{seq_in_conversation} + 1, 'visitor', 'visitor', '访客', "
                f"{body}, 'text', NULL, 0, {now}, '', '{{}}' "
                f"FROM {numbers_source(stop, connection)} n "
                f"JOIN bench_phrases a ON a.i = {mod('n.seq * 7919', len(PHRASES))} "
                f"JOIN bench_phrases b ON b.i = {mod(f'n.seq {div} 200 * 37 + n.seq * 11', len(PHRASES))} "
                f"WHERE n.seq > {start} AND n.seq <= {stop}"
            )
        # The index, as message_append would have written it row by row.
        kind = backend()
        if kind == "fts5":
            cursor.execute(
                f"INSERT INTO {TABLE} (rowid, body, merchant_id) SELECT id, body, merchant_id "
                f"FROM conversations_message WHERE merchant_id = {m}"
            )
        elif kind in ("mroonga", "ngram", "grams"):
            cursor.execute(
                f"REPLACE INTO {TABLE} (message_id, merchant_id, body) "
                f"SELECT id, merchant_id, body FROM conversations_message WHERE merchant_id = {m}"
            )
        if kind == "grams":
            # MySQL's bigram rows, written by the function message_append calls, 1,000
            # messages a statement.
            last = 0
            while True:
                cursor.execute(
                    "SELECT id, merchant_id, body FROM conversations_message "
                    "WHERE merchant_id = %s AND id > %s ORDER BY id LIMIT 20000",
                    [m, last],
                )
                rows = cursor.fetchall()
                if not rows:
                    break
                last = rows[-1][0]
                for start in range(0, len(rows), 1000):
                    grams_insert(rows[start : start + 1000])


def measure(merchant_id: int, repeat: int, rng: random.Random) -> dict:
    from django.db import reset_queries

    from conversations import search, selectors

    runs = [(label, q) for label, q in QUERIES for _ in range(repeat)]
    rng.shuffle(runs)
    times: dict[str, list[float]] = {label: [] for label, _ in QUERIES}
    conv_times: dict[str, list[float]] = {label: [] for label, _ in QUERIES}
    hits: dict[str, int] = {}
    for label, q in runs:
        terms = search.parse_query(q)
        t0 = time.perf_counter()
        found, _ = selectors.message_search(
            merchant_id=merchant_id, terms=terms, before_id=None, limit=20
        )
        times[label].append((time.perf_counter() - t0) * 1000)
        hits[label] = len(found)
        t0 = time.perf_counter()
        list(selectors.conversation_list(merchant_id=merchant_id, terms=terms)[:50])
        conv_times[label].append((time.perf_counter() - t0) * 1000)
        reset_queries()
    every = [t for ts in times.values() for t in ts]
    return {
        "per_query": {
            label: {
                "page_hits": hits[label],
                "messages_p50_ms": round(pct(times[label], 0.5), 1),
                "messages_p99_ms": round(pct(times[label], 0.99), 1),
                "conversations_p50_ms": round(pct(conv_times[label], 0.5), 1),
                "conversations_p99_ms": round(pct(conv_times[label], 0.99), 1),
            }
            for label, _ in QUERIES
        },
        "messages_all": {
            "n": len(every),
            "p50_ms": round(pct(every, 0.5), 1),
            "p95_ms": round(pct(every, 0.95), 1),
            "p99_ms": round(pct(every, 0.99), 1),
            "mean_ms": round(statistics.fmean(every), 1),
        },
        "conversations_all": {
            "p50_ms": round(pct([t for ts in conv_times.values() for t in ts], 0.5), 1),
            "p99_ms": round(pct([t for ts in conv_times.values() for t in ts], 0.99), 1),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    where = setup_database()

    import django

    django.setup()
    from django.db import connection

    from bench.stack import machine
    from conversations import search, selectors

    report = {"machine": machine(), "database": where, "vendor": connection.vendor}
    report.update(build(args.messages, connection))
    report["backend"] = search.backend()
    merchant_id = report["sizes"][NAME]["merchant_id"]
    # Scoping: the other merchant's messages hold the same words and are never returned.
    found, _ = selectors.message_search(
        merchant_id=merchant_id, terms=["发票"], before_id=None, limit=100
    )
    assert found and all(h.message.merchant_id == merchant_id for h in found)
    measure(merchant_id, 2, random.Random(1))  # warm the caches
    report.update(measure(merchant_id, args.repeat, random.Random(7)))
    report["machine"]["load_after"] = os.getloadavg()
    text = json.dumps(report, ensure_ascii=False, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
