"""Reports benchmark: a year of conversations rolled up, then the report requests timed.

    DATABASE_URL=mysql://kefu:kefu@127.0.0.1:3306/kefu_reports_bench \\
        .venv/bin/python -m bench.reports [--conversations 100000] [--requests 200]

1. Data: one merchant, 365 local days, `--conversations` conversations spread over the days and
   hours as visitors do (more in the afternoon and on weekdays), 20 agents, 5 teams, 8 labels,
   40 pages, the bot on a third of them; each with the facts the services record (created,
   first reply, hand-over, resolve) and some rated. Written with bulk inserts (the services'
   per-message work is not what this measures).
2. Rollup: `reports.rollup.merchant_rebuild` over the year (what a first sweep or a time-zone
   change costs), timed.
3. Requests: the reports API as the page calls it (an API token, the full Django + DRF stack
   in-process, no network): the year's summary and each breakdown, `--requests` times each;
   p50 / p99 / max per request. Goal: p99 <= 200 ms for the year.

Results with the machine named: docs/reports.md, "Performance". The database is emptied of
this merchant's rows first, so the script can run again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import time
import zoneinfo

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from conversations.models import (  # noqa: E402
    Conversation,
    ConversationEvent,
    Label,
    Visitor,
    VisitorPageView,
)
from merchants.models import ApiToken, Membership, Merchant, Team  # noqa: E402
from merchants.services import api_token_create, membership_add  # noqa: E402
from reports import rollup, selectors  # noqa: E402
from reports.models import DayFigures  # noqa: E402

NAME = "bench-reports"
Kind = ConversationEvent.Kind
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 13, 10, 12, 14, 14, 13, 12, 10, 9, 9, 8, 5, 3]
REASONS = ["visitor_request", "low_confidence", "negative", "action"]


def bench_token(merchant: Merchant) -> str:
    """An API token whose per-minute limit does not stop 200 requests per case: this measures
    the reports, not the rate limiter."""
    token, raw = api_token_create(merchant=merchant, name="bench")
    ApiToken.objects.filter(pk=token.pk).update(rate_limit=1_000_000)
    return raw


def build(n: int, rnd: random.Random) -> tuple[Merchant, str]:
    Merchant.objects.filter(name=NAME).delete()
    merchant = Merchant.objects.create(name=NAME, timezone="Asia/Shanghai")
    tz = zoneinfo.ZoneInfo(merchant.timezone)
    agents = [
        membership_add(
            merchant=merchant,
            username=f"bench-reports-{i}-{rnd.randrange(10**9)}",
            password="x" * 20,
            role=Membership.Role.AGENT,
            display_name=f"客服 {i}",
        )
        for i in range(20)
    ]
    teams = [Team.objects.create(merchant=merchant, name=f"组 {i}") for i in range(5)]
    labels = [Label.objects.create(merchant=merchant, name=f"标签 {i}") for i in range(8)]
    pages = [f"https://shop.example.com/p/{i}" for i in range(40)]
    visitors = Visitor.objects.bulk_create(
        [Visitor(merchant=merchant, anonymous_id=f"v{i}") for i in range(n // 4)], batch_size=2000
    )
    first_day = dt.date.today() - dt.timedelta(days=365)
    weekday_weight = [10, 10, 10, 10, 9, 6, 5]
    days = [first_day + dt.timedelta(days=i) for i in range(365)]
    day_weights = [weekday_weight[d.weekday()] for d in days]
    starts = []
    for day in rnd.choices(days, day_weights, k=n):
        hour = rnd.choices(range(24), HOUR_WEIGHTS)[0]
        local = dt.datetime.combine(day, dt.time(hour), tzinfo=tz)
        starts.append(local + dt.timedelta(seconds=rnd.randrange(3600)))
    starts.sort()
    through = Conversation.labels.through
    # The rows carry their real instants: auto_now_add would stamp them all "now".
    for model, name in ((Conversation, "created_at"), (VisitorPageView, "viewed_at")):
        model._meta.get_field(name).auto_now_add = False
    try:
        _insert(merchant, n, rnd, starts, visitors, agents, teams, labels, pages, through)
    finally:
        for model, name in ((Conversation, "created_at"), (VisitorPageView, "viewed_at")):
            model._meta.get_field(name).auto_now_add = True
    raw = bench_token(merchant)
    return merchant, raw


def _insert(merchant, n, rnd, starts, visitors, agents, teams, labels, pages, through):
    for chunk in range(0, n, 5000):
        rows, facts, views, tags = [], [], [], []
        for created in starts[chunk : chunk + 5000]:
            visitor = rnd.choice(visitors)
            bot = rnd.random() < 0.33
            handed = bot and rnd.random() < 0.4
            answered = (not bot or handed) and rnd.random() < 0.85
            ended = rnd.random() < 0.9
            c = Conversation(
                merchant=merchant,
                visitor=visitor,
                assignee_id=rnd.choice(agents).user_id if answered else None,
                team=rnd.choice(teams),
                source=rnd.choice(["chat"] * 8 + ["offline_form", "api"]),
                status="resolved" if ended else "open",
                bot_active=bot and not handed,
                handed_over_at=created if handed else None,
                rating=rnd.randint(1, 5) if ended and rnd.random() < 0.3 else None,
            )
            c._facts = [(Kind.CONVERSATION_CREATED, created, {})]
            if handed:
                c._facts.append(
                    (
                        Kind.HANDED_OVER,
                        created + dt.timedelta(seconds=20),
                        {"reason": rnd.choice(REASONS)},
                    )
                )
            if answered:
                reply = created + dt.timedelta(seconds=int(rnd.lognormvariate(3.5, 1.0)))
                c.first_response_at = reply
                c._facts.append((Kind.FIRST_REPLY, reply, {}))
            if ended:
                resolved = created + dt.timedelta(seconds=int(rnd.lognormvariate(6.5, 1.2)) + 30)
                c.resolved_at = resolved
                c._facts.append((Kind.CONVERSATION_RESOLVED, resolved, {}))
            c.created_at = created
            c._labels = rnd.sample(labels, rnd.choice([0, 1, 1, 2]))
            views.append(
                VisitorPageView(
                    merchant=merchant, visitor=visitor, url=rnd.choice(pages) + "?from=ad"
                )
            )
            views[-1].viewed_at = created - dt.timedelta(seconds=30)
            rows.append(c)
        with transaction.atomic():
            Conversation.objects.bulk_create(rows, batch_size=1000)
            for c in rows:
                facts += [
                    ConversationEvent(
                        merchant=merchant,
                        conversation_id=c.pk,
                        visitor_id=c.visitor_id,
                        kind=kind,
                        at=at,
                        data=data,
                    )
                    for kind, at, data in c._facts
                ]
                tags += [through(conversation_id=c.pk, label_id=label.pk) for label in c._labels]
            ConversationEvent.objects.bulk_create(facts, batch_size=2000)
            through.objects.bulk_create(tags, batch_size=2000)
            VisitorPageView.objects.bulk_create(views, batch_size=2000)


def timed(client, path, params, repeat):
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        response = client.get(path, params)
        samples.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.content[:300]
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p99_ms": round(samples[max(0, int(len(samples) * 0.99) - 1)], 1),
        "max_ms": round(samples[-1], 1),
    }


def cost(client, path, params, merchant) -> tuple[int, int]:
    """(queries, rollup rows read) of one request: figures that do not depend on the load."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path, params).status_code == 200
    period = selectors.Period(
        dt.date.fromisoformat(params["from"]), dt.date.fromisoformat(params["to"])
    )
    if "by" in params:
        rows = len(list(selectors._breakdown_rows(merchant.pk, period, params["by"])))
    else:  # the "all" day rows of the period and of the previous one
        rows = DayFigures.objects.filter(
            merchant=merchant,
            dimension="all",
            day__gte=period.previous().start,
            day__lte=period.end,
        ).count()
    return len(queries), rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--keep-data", action="store_true", help="reuse the conversations of an earlier run"
    )
    parser.add_argument(
        "--skip-rollup", action="store_true", help="with --keep-data: time the requests only"
    )
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    rnd = random.Random(args.seed)
    t0 = time.perf_counter()
    merchant = Merchant.objects.filter(name=NAME).first() if args.keep_data else None
    if merchant is not None:
        raw = bench_token(merchant)
        args.conversations = Conversation.objects.filter(merchant=merchant).count()
    else:
        merchant, raw = build(args.conversations, rnd)
    built = time.perf_counter() - t0
    t0 = time.perf_counter()
    if not args.skip_rollup:
        counted = rollup.merchant_rebuild(merchant_id=merchant.pk)
        assert counted == args.conversations, counted
    rolled = time.perf_counter() - t0
    client = APIClient(SERVER_NAME="127.0.0.1")  # an allowed host by default
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    today = dt.date.today()
    year = {"from": (today - dt.timedelta(days=365)).isoformat(), "to": today.isoformat()}
    month = {"from": (today - dt.timedelta(days=29)).isoformat(), "to": today.isoformat()}
    print(
        f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()}"
    )
    print(
        f"database: {connection.vendor} {connection.mysql_server_info if connection.vendor == 'mysql' else ''}"
    )
    print(
        f"conversations: {args.conversations}, data built in {built:.0f} s, "
        f"rollup of the year in {rolled:.1f} s ({rolled / 365 * 1000:.0f} ms per day)"
    )
    print("| request | range | p50 ms | p99 ms | max ms | queries | rollup rows read |")
    print("|---|---|---|---|---|---|---|")
    cases = [("summary/", {}, "year"), ("summary/", {}, "30 days")]
    cases += [
        ("breakdown/", {"by": by}, "year") for by in ("agent", "team", "label", "source", "page")
    ]
    for path, extra, span in cases:
        params = {**(year if span == "year" else month), **extra}
        out = timed(client, f"/api/v1/reports/{path}", params, args.requests)
        queries, rows = cost(client, f"/api/v1/reports/{path}", params, merchant)
        name = path.rstrip("/") + (f" by {extra['by']}" if extra else "")
        print(
            f"| {name} | {span} | {out['p50_ms']} | {out['p99_ms']} | {out['max_ms']} "
            f"| {queries} | {rows} |"
        )


if __name__ == "__main__":
    main()
