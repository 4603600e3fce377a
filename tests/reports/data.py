"""A deterministic mess of conversations for the report tests, written as the product writes
them (rows plus ConversationEvent facts), and the figures computed straight from those rows
with the definitions of docs/reports.md, for the rollups to be compared with."""

from __future__ import annotations

import datetime as dt
import math
import random
import zoneinfo
from collections import defaultdict

from conversations import events
from conversations.models import Conversation, ConversationEvent, Label, VisitorPageView
from merchants.models import Team
from tests import factories

Kind = ConversationEvent.Kind
REASONS = ["visitor_request", "low_confidence", "negative"]
PAGES = [
    "https://shop.example.com/cart?utm=1",
    "https://shop.example.com/item/42#top",
    "https://shop.example.com/",
    '=HYPERLINK("http://evil")',
]


def build(merchant, members, *, start: dt.date, days: int, n: int, seed: int = 7, tag=""):
    """`n` conversations whose starts spread over `days` local days from `start` (and a few
    hours either side, to cross local midnight)."""
    rnd = random.Random(seed)
    tz = zoneinfo.ZoneInfo(merchant.timezone)
    teams = [Team.objects.create(merchant=merchant, name=f"{tag}组 {i}") for i in range(2)]
    labels = [
        Label.objects.create(merchant=merchant, name=tag + name) for name in ("售后", "=SUM(A1)")
    ]
    visitors = [factories.visitor(merchant, name=f"访客 {i}") for i in range(8)]
    first = dt.datetime.combine(start, dt.time.min, tzinfo=tz) - dt.timedelta(hours=3)
    span = (days * 24 + 6) * 3600
    for visitor in visitors:
        for _ in range(3):
            view = VisitorPageView.objects.create(
                merchant=merchant, visitor=visitor, url=rnd.choice(PAGES)
            )
            at = first + dt.timedelta(seconds=rnd.randrange(span))
            VisitorPageView.objects.filter(pk=view.pk).update(viewed_at=at)
    for _ in range(n):
        created = first + dt.timedelta(seconds=rnd.randrange(span))
        visitor = rnd.choice(visitors)
        conversation = Conversation.objects.create(
            merchant=merchant,
            visitor=visitor,
            source=rnd.choice(["chat", "chat", "offline_form", "api"]),
            team=rnd.choice([None, *teams]),
            assignee_id=rnd.choice([None, *(m.user_id for m in members)]),
        )
        Conversation.objects.filter(pk=conversation.pk).update(created_at=created)
        conversation.created_at = created
        record = lambda kind, seconds, **data: events.record_event(
            kind,
            merchant_id=merchant.pk,
            conversation=conversation,
            data=data,
            at=created + dt.timedelta(seconds=seconds),
        )
        record(Kind.CONVERSATION_CREATED, 0)
        fields = {}
        bot = rnd.random() < 0.4
        if bot:
            fields["bot_active"] = True
            if rnd.random() < 0.5:
                fields["bot_active"] = False
                fields["handed_over_at"] = created + dt.timedelta(seconds=5)
                record(Kind.HANDED_OVER, 5, reason=rnd.choice(REASONS))
        if rnd.random() < 0.6:
            # Repeated values on purpose: medians over ties.
            seconds = rnd.choice([0, 7, 7, 30, 61.9, 95, 300, 1800, rnd.randrange(4000)])
            record(Kind.FIRST_REPLY, seconds)
            if rnd.random() < 0.2:
                record(Kind.FIRST_REPLY, seconds + 50)  # a duplicate fact: the first counts
            fields["first_response_at"] = created + dt.timedelta(seconds=seconds)
        ending = rnd.random()
        if ending < 0.6:
            fields["status"] = rnd.choice(["resolved", "resolved", "closed"])
            resolves = sorted(rnd.randrange(10, 20000) for _ in range(rnd.choice([1, 1, 2])))
            for seconds in resolves:
                record(Kind.CONVERSATION_RESOLVED, seconds)
            fields["resolved_at"] = created + dt.timedelta(seconds=resolves[-1])
        elif ending < 0.7:
            record(Kind.CONVERSATION_RESOLVED, 100)
            record(Kind.CONVERSATION_REOPENED, 200)  # reopened: not ended
        if rnd.random() < 0.4:
            fields["rating"] = rnd.randint(1, 5)
        if fields:
            Conversation.objects.filter(pk=conversation.pk).update(**fields)
        conversation.labels.set(rnd.sample(labels, rnd.choice([0, 1, 1, 2])))
    return {"teams": teams, "labels": labels}


# --- The figures, straight from the rows -------------------------------------------------------


def nearest_rank(values: list[int], q: float):
    if not values:
        return None
    return sorted(values)[math.ceil(q * len(values)) - 1]


def direct(merchant, start: dt.date, end: dt.date, by: str | None = None) -> dict:
    """{key: figures} (key "" without `by`) for conversations started on [start, end] local."""
    tz = zoneinfo.ZoneInfo(merchant.timezone)
    facts = defaultdict(list)
    for event in ConversationEvent.objects.filter(merchant=merchant).order_by("at", "id"):
        facts[event.conversation_id].append(event)
    groups = defaultdict(list)
    for c in Conversation.objects.filter(merchant=merchant).prefetch_related("labels"):
        local = c.created_at.astimezone(tz)
        if not start <= local.date() <= end:
            continue
        if by is None:
            keys = [""]
        elif by == "agent":
            keys = [str(c.assignee_id) if c.assignee_id else "-"]
        elif by == "team":
            keys = [str(c.team_id) if c.team_id else "-"]
        elif by == "label":
            keys = [str(label.pk) for label in c.labels.all()] or ["-"]
        elif by == "source":
            keys = [c.source]
        elif by == "page":
            views = VisitorPageView.objects.filter(
                visitor=c.visitor, viewed_at__lte=c.created_at
            ).order_by("-viewed_at", "-id")
            url = views[0].url if views else ""
            keys = [url.split("?")[0].split("#")[0] if url.startswith("http") else url or "-"]
        elif by == "hour":
            keys = [f"{local.weekday()}:{local.hour}"]
        for key in keys:
            groups[key].append(c)
    return {key: _figures(cs, facts) for key, cs in groups.items()}


def _figures(conversations, facts) -> dict:
    out = defaultdict(int)
    frt, res, ratings, reasons = [], [], [], defaultdict(int)
    for c in conversations:
        fs = facts[c.pk]
        replies = [e.at for e in fs if e.kind == Kind.FIRST_REPLY]
        answered = bool(replies)
        handovers = [e for e in fs if e.kind == Kind.HANDED_OVER]
        handed = bool(handovers)
        bot = handed or c.bot_active
        ended = c.status in ("resolved", "closed")
        out["started"] += 1
        out["answered"] += answered
        out["bot_handled"] += bot
        out["handed_over"] += handed
        out["bot_resolved"] += ended and not answered and bot and not handed
        out["missed"] += ended and not answered and not (bot and not handed)
        out["waiting"] += not ended and not answered
        if answered:
            frt.append(int((replies[0] - c.created_at).total_seconds()))
        if ended:
            last = [e.at for e in fs if e.kind == Kind.CONVERSATION_RESOLVED][-1]
            res.append(int((last - c.created_at).total_seconds()))
        if c.rating is not None:
            ratings.append(c.rating)
        if handed:
            reasons[handovers[0].data["reason"]] += 1
    out["resolved"] = len(res)
    out["rated"] = len(ratings)
    out["satisfaction"] = round(sum(ratings) / len(ratings), 2) if ratings else None
    out["satisfied_share"] = (
        round(100 * sum(r >= 4 for r in ratings) / len(ratings), 1) if ratings else None
    )
    out["first_response_median"] = nearest_rank(frt, 0.5)
    out["first_response_p90"] = nearest_rank(frt, 0.9)
    out["resolution_median"] = nearest_rank(res, 0.5)
    out["resolution_p90"] = nearest_rank(res, 0.9)
    out["reasons"] = dict(reasons)
    return dict(out)
