"""Writes of the reports app: aggregate a merchant's recorded facts into the rollup tables.

The unit of work is one (merchant, local day): every figure of a conversation is counted on the
day it started, in the merchant's time zone, so a later fact (a reply, a resolve, a rating)
changes only that day's rows. A rollup reads that day's conversations and their events, deletes
the day's rows and writes them again in one transaction: running it twice, late or for a range
gives the same rows. It never reads messages. The definitions: docs/reports.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations.models import (
    Conversation,
    ConversationEvent,
    VisitorPageView,
)
from merchants.models import Merchant

from . import samples
from .models import DayFigures, Dimension, MonthFigures, PendingRollup, RollupState

logger = logging.getLogger(__name__)

Kind = ConversationEvent.Kind
ENDED = (Conversation.Status.RESOLVED, Conversation.Status.CLOSED)
# Facts a rollup reads; the others (messages, labels, visitor identified) change no figure, or
# change one through a field read here (labels through the conversation's labels).
ROLLUP_KINDS = (Kind.FIRST_REPLY, Kind.CONVERSATION_RESOLVED, Kind.HANDED_OVER)
# Kinds whose signal queues a rollup (the rest cannot move a figure).
TRIGGER_KINDS = frozenset(
    {
        Kind.CONVERSATION_CREATED,
        Kind.CONVERSATION_ASSIGNED,
        Kind.CONVERSATION_TRANSFERRED,
        Kind.CONVERSATION_RESOLVED,
        Kind.CONVERSATION_REOPENED,
        Kind.FIRST_REPLY,
        Kind.HANDED_OVER,
        Kind.RATED,
        Kind.LABELS_CHANGED,
    }
)
NONE_KEY = "-"
PAGE_KEY_LENGTH = 255
# Dimensions with month rows: the breakdowns (the summary reads the "all" rows day by day).
MONTH_DIMENSIONS = (
    Dimension.AGENT,
    Dimension.TEAM,
    Dimension.LABEL,
    Dimension.SOURCE,
    Dimension.PAGE,
)
COUNTS = (
    "started",
    "answered",
    "missed",
    "waiting",
    "bot_handled",
    "bot_resolved",
    "handed_over",
    "resolved",
    "rated",
    "rating_sum",
    "satisfied",
)


def local_day_bounds(day: dt.date, tz: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a local calendar day as aware datetimes (23 or 25 hours long on a
    daylight-saving change)."""
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start, end


def page_key(url: str) -> str:
    """The page a conversation started on, without query string or fragment (those carry
    tracking ids and would split one page into thousands)."""
    if not url:
        return NONE_KEY
    parts = urlsplit(url)
    if parts.scheme and parts.netloc:
        url = f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"
    return url[:PAGE_KEY_LENGTH]


@dataclass
class Outcome:
    """What the figures say about one conversation (docs/reports.md, "Definitions")."""

    answered: bool
    bot_handled: bool
    bot_resolved: bool
    handed_over: bool
    ended: bool
    missed: bool
    waiting: bool
    frt: int | None  # whole seconds from start to the first agent reply
    res: int | None  # whole seconds from start to the resolve that ended it
    reason: str | None  # the first hand-over's reason code
    rating: int | None


def outcome(conversation: Conversation, facts: list[ConversationEvent]) -> Outcome:
    """Classify one conversation from its row and its recorded facts (oldest first)."""
    first_reply = next((e for e in facts if e.kind == Kind.FIRST_REPLY), None)
    if first_reply is not None:
        replied_at = first_reply.at
    else:
        # Replies from before events were recorded: the field the store sets with the reply.
        replied_at = conversation.first_response_at
    answered = replied_at is not None
    handover = next((e for e in facts if e.kind == Kind.HANDED_OVER), None)
    handed_over = handover is not None or conversation.handed_over_at is not None
    bot_handled = handed_over or conversation.bot_active
    ended = conversation.status in ENDED
    res = None
    if ended:
        resolves = [e.at for e in facts if e.kind == Kind.CONVERSATION_RESOLVED]
        resolved_at = resolves[-1] if resolves else conversation.resolved_at
        if resolved_at is not None:
            res = _seconds(resolved_at - conversation.created_at)
    bot_resolved = ended and not answered and bot_handled and not handed_over
    missed = ended and not answered and not bot_resolved
    return Outcome(
        answered=answered,
        bot_handled=bot_handled,
        bot_resolved=bot_resolved,
        handed_over=handed_over,
        ended=ended,
        missed=missed,
        waiting=not ended and not answered,
        frt=_seconds(replied_at - conversation.created_at) if answered else None,
        res=res,
        reason=(handover.data.get("reason") or NONE_KEY) if handover is not None else None,
        rating=conversation.rating,
    )


def _seconds(delta: dt.timedelta) -> int:
    # Whole seconds, floored; never negative (clock skew between processes).
    return max(0, int(delta.total_seconds()))


@dataclass
class _Bucket:
    counts: Counter = field(default_factory=Counter)
    frt: list = field(default_factory=list)
    res: list = field(default_factory=list)

    def add(self, o: Outcome) -> None:
        c = self.counts
        c["started"] += 1
        c["answered"] += o.answered
        c["missed"] += o.missed
        c["waiting"] += o.waiting
        c["bot_handled"] += o.bot_handled
        c["bot_resolved"] += o.bot_resolved
        c["handed_over"] += o.handed_over
        c["resolved"] += o.res is not None
        if o.rating is not None:
            c["rated"] += 1
            c["rating_sum"] += o.rating
            c["satisfied"] += o.rating >= 4
        if o.frt is not None:
            self.frt.append(o.frt)
        if o.res is not None:
            self.res.append(o.res)


def _state_lock(merchant_id: int) -> RollupState:
    RollupState.objects.get_or_create(merchant_id=merchant_id)
    return RollupState.objects.select_for_update().get(merchant_id=merchant_id)


def merchant_zone(merchant: Merchant) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(merchant.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("Asia/Shanghai")


@transaction.atomic
def day_rollup(*, merchant_id: int, day: dt.date, months: bool = True) -> int:
    """Rebuild the rows of one local day of a merchant, and its month's rows in the same
    transaction (so a breakdown never sees the two disagree); returns the conversations
    counted. `months=False`: the caller rebuilds the months once after many days."""
    state = _state_lock(merchant_id)
    merchant = Merchant.objects.get(pk=merchant_id)
    tz = merchant_zone(merchant)
    if not state.time_zone:
        # A changed zone is left to merchant_rebuild (the sweep notices it): it rebuckets
        # every day, where this rollup fixes one.
        state.time_zone = merchant.timezone
        state.save(update_fields=["time_zone"])
    start, end = local_day_bounds(day, tz)
    conversations = list(
        Conversation.objects.filter(
            merchant_id=merchant_id, created_at__gte=start, created_at__lt=end
        )
        .order_by("id")
        .only(
            "id",
            "visitor_id",
            "created_at",
            "status",
            "assignee_id",
            "team_id",
            "source",
            "bot_active",
            "handed_over_at",
            "first_response_at",
            "resolved_at",
            "rating",
        )
    )
    ids = [c.pk for c in conversations]
    facts: dict[int, list[ConversationEvent]] = defaultdict(list)
    labels: dict[int, list[int]] = defaultdict(list)
    pages: dict[int, str] = {}
    if ids:
        for event in (
            # By the day's ids: the conversation foreign key's index finds them directly.
            ConversationEvent.objects.filter(
                merchant_id=merchant_id, conversation_id__in=ids, kind__in=ROLLUP_KINDS
            )
            .order_by("at", "id")
            .only("conversation_id", "kind", "data", "at")
        ):
            facts[event.conversation_id].append(event)
        through = Conversation.labels.through
        for conversation_id, label_id in through.objects.filter(
            conversation_id__in=ids
        ).values_list("conversation_id", "label_id"):
            labels[conversation_id].append(label_id)
        pages = _start_pages(merchant_id, conversations, end)
    buckets: dict[tuple[str, str], _Bucket] = defaultdict(_Bucket)
    hours = [0] * 24
    reasons: Counter = Counter()
    for conversation in conversations:
        o = outcome(conversation, facts[conversation.pk])
        local = timezone.localtime(conversation.created_at, tz)
        keys = [
            (Dimension.ALL, ""),
            (Dimension.AGENT, _key(conversation.assignee_id)),
            (Dimension.TEAM, _key(conversation.team_id)),
            (Dimension.SOURCE, conversation.source),
            (Dimension.PAGE, pages.get(conversation.pk, NONE_KEY)),
        ]
        keys += [(Dimension.LABEL, str(label_id)) for label_id in labels[conversation.pk]] or [
            (Dimension.LABEL, NONE_KEY)
        ]
        hours[local.hour] += 1
        if o.reason is not None:
            reasons[o.reason] += 1
        for key in keys:
            buckets[key].add(o)
    DayFigures.objects.filter(merchant_id=merchant_id, day=day).delete()
    DayFigures.objects.bulk_create(
        [
            DayFigures(
                merchant_id=merchant_id,
                day=day,
                dimension=dim,
                key=key,
                frt=samples.pack(b.frt),
                res=samples.pack(b.res),
                **({"hours": hours, "reasons": dict(reasons)} if dim == Dimension.ALL else {}),
                **b.counts,
            )
            for (dim, key), b in buckets.items()
        ],
        batch_size=500,
    )
    if months:
        month_rollup(merchant_id=merchant_id, month=day)
    return len(conversations)


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_rollup(
    *, merchant_id: int, month: dt.date, day_model=DayFigures, month_model=MonthFigures
) -> int:
    """Rebuild the month rows of the local month holding `month` from its day rows (the
    caller holds the merchant's rollup lock, or is the migration that fills the table): counts
    add up, duration samples are merged, so a month row says exactly what its days say.
    The models are parameters for that migration's historical models. Returns the rows."""
    first = month_of(month)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    blobs: dict[tuple[str, str], dict[str, list]] = defaultdict(lambda: {"frt": [], "res": []})
    for row in day_model.objects.filter(
        merchant_id=merchant_id,
        dimension__in=MONTH_DIMENSIONS,
        day__gte=first,
        day__lt=following,
    ).values_list("dimension", "key", "frt", "res", *COUNTS):
        group = (row[0], row[1])
        for name, value in zip(COUNTS, row[4:], strict=True):
            counts[group][name] += value
        blobs[group]["frt"].append(row[2])
        blobs[group]["res"].append(row[3])
    month_model.objects.filter(merchant_id=merchant_id, month=first).delete()
    month_model.objects.bulk_create(
        [
            month_model(
                merchant_id=merchant_id,
                month=first,
                dimension=dim,
                key=key,
                frt=samples.merge(blobs[(dim, key)]["frt"]),
                res=samples.merge(blobs[(dim, key)]["res"]),
                **group,
            )
            for (dim, key), group in counts.items()
        ],
        batch_size=500,
    )
    return len(counts)


def months_rollup(*, merchant_id: int, days) -> None:
    """Rebuild the months of these days, one transaction each under the rollup lock."""
    for month in sorted({month_of(day) for day in days}):
        with transaction.atomic():
            _state_lock(merchant_id)
            month_rollup(merchant_id=merchant_id, month=month)


def _key(value: int | None) -> str:
    return NONE_KEY if value is None else str(value)


def _start_pages(merchant_id: int, conversations: list, end: dt.datetime) -> dict[int, str]:
    """The page each conversation started on: the visitor's last page view at or before the
    start (the widget records one per page load)."""
    by_visitor: dict[int, list] = defaultdict(list)
    for conversation in conversations:
        by_visitor[conversation.visitor_id].append(conversation)
    views: dict[int, list[tuple[dt.datetime, str]]] = defaultdict(list)
    for visitor_id, viewed_at, url in (
        VisitorPageView.objects.filter(
            merchant_id=merchant_id, visitor_id__in=list(by_visitor), viewed_at__lt=end
        )
        .order_by("viewed_at", "id")
        .values_list("visitor_id", "viewed_at", "url")
    ):
        views[visitor_id].append((viewed_at, url))
    pages = {}
    for visitor_id, convs in by_visitor.items():
        for conversation in convs:
            url = ""
            for viewed_at, candidate in views[visitor_id]:
                if viewed_at > conversation.created_at:
                    break
                url = candidate
            pages[conversation.pk] = page_key(url)
    return pages


def days_rollup(*, merchant_id: int, start: dt.date, end: dt.date) -> int:
    """Rebuild every day of [start, end] (inclusive), one transaction per day."""
    counted = 0
    day = start
    while day <= end:
        counted += day_rollup(merchant_id=merchant_id, day=day, months=False)
        day += dt.timedelta(days=1)
    months_rollup(merchant_id=merchant_id, days=_month_starts(start, end))
    return counted


def _month_starts(start: dt.date, end: dt.date) -> list[dt.date]:
    months, month = [], month_of(start)
    while month <= end:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return months


def merchant_rebuild(*, merchant_id: int) -> int:
    """Rebuild every day that has conversations, and drop the rows of days that no longer do
    (after a time-zone change the old buckets are all wrong)."""
    merchant = Merchant.objects.get(pk=merchant_id)
    tz = merchant_zone(merchant)
    days = _days_of(
        merchant_id,
        tz,
        Conversation.objects.filter(merchant_id=merchant_id).values_list("created_at", flat=True),
    )
    with transaction.atomic():
        state = _state_lock(merchant_id)
        state.time_zone = merchant.timezone
        state.save(update_fields=["time_zone"])
        DayFigures.objects.filter(merchant_id=merchant_id).exclude(day__in=days).delete()
        MonthFigures.objects.filter(merchant_id=merchant_id).exclude(
            month__in={month_of(day) for day in days}
        ).delete()
    counted = sum(
        day_rollup(merchant_id=merchant_id, day=day, months=False) for day in sorted(days)
    )
    months_rollup(merchant_id=merchant_id, days=days)
    return counted


def _days_of(merchant_id: int, tz, instants) -> set[dt.date]:
    return {timezone.localtime(at, tz).date() for at in instants}


def _start_day(merchant_id: int, conversation_id: int) -> dt.date | None:
    """The merchant's local day the conversation started (None: no such conversation)."""
    conversation = (
        Conversation.objects.filter(merchant_id=merchant_id, pk=conversation_id)
        .select_related("merchant")
        .only("created_at", "merchant__timezone")
        .first()
    )
    if conversation is None:
        return None
    return timezone.localtime(conversation.created_at, merchant_zone(conversation.merchant)).date()


def day_rollup_request(*, merchant_id: int, conversation_id: int) -> bool:
    """A fact about this conversation was recorded: have the day it started rebuilt once for
    the facts that come before that rebuild starts (docs/reports.md, "Incremental"). Returns
    whether this call queued the rebuild (False: one is queued and has not started)."""
    day = _start_day(merchant_id, conversation_id)
    if day is None:
        return False
    try:
        with transaction.atomic():
            PendingRollup.objects.create(merchant_id=merchant_id, day=day)
    except IntegrityError:
        return False
    try:
        # By name: tasks.py imports this module.
        current_app.send_task(
            PENDING_TASK,
            kwargs={"merchant_id": merchant_id, "day": day.isoformat()},
            countdown=settings.REPORTS_ROLLUP_DELAY,
        )
    except Exception:  # the broker is down: the row stays, and the sweep rebuilds the day
        logger.exception("reports: could not queue the rollup of %s for %s", day, merchant_id)
    return True


@transaction.atomic
def pending_rollup(*, merchant_id: int, day: dt.date) -> bool:
    """The queued rebuild of a pending day; its row goes first, before the reads, in the same
    transaction (why: docs/reports.md, "Incremental"). False: no longer pending (the sweep)."""
    _state_lock(merchant_id)
    deleted, _ = PendingRollup.objects.filter(merchant_id=merchant_id, day=day).delete()
    if not deleted:
        return False
    day_rollup(merchant_id=merchant_id, day=day)
    return True


# A transaction may commit this long after its event's `at` was taken; the sweep looks back
# this far past its mark so such an event is still found (a rebuild is idempotent, so looking
# twice costs time, not correctness).
SWEEP_OVERLAP = dt.timedelta(minutes=30)
# The one rebuild of a day whose facts came meanwhile (day_rollup_request), queued by name.
PENDING_TASK = "reports.tasks.pending_rollup"
# How long past its delay a pending day waits for its own task before the sweep rebuilds it.
PENDING_GRACE = dt.timedelta(minutes=1)


def rollup_sweep(*, now: dt.datetime | None = None) -> int:
    """The periodic catch-up: for every merchant, rebuild the days of conversations with facts
    recorded since the last sweep (a lost signal, a worker that died mid-task), and rebuild a
    merchant whose time zone changed. Returns the days rebuilt."""
    now = now or timezone.now()
    rebuilt = 0
    # Pending days whose rebuild should have run by now (its task lost, or never queued).
    late = now - dt.timedelta(seconds=settings.REPORTS_ROLLUP_DELAY) - PENDING_GRACE
    for merchant_id, day in PendingRollup.objects.filter(requested_at__lt=late).values_list(
        "merchant_id", "day"
    ):
        try:
            rebuilt += pending_rollup(merchant_id=merchant_id, day=day)
        except Exception:  # one bad day must not stop every merchant's catch-up below
            logger.exception("reports: the rollup of pending day %s of %s failed", day, merchant_id)
    for merchant in Merchant.objects.only("id", "timezone"):
        state, _ = RollupState.objects.get_or_create(merchant_id=merchant.pk)
        if state.time_zone and state.time_zone != merchant.timezone:
            merchant_rebuild(merchant_id=merchant.pk)
            RollupState.objects.filter(pk=merchant.pk).update(swept_until=now)
            rebuilt += 1
            continue
        instants = ConversationEvent.objects.filter(
            merchant_id=merchant.pk, kind__in=TRIGGER_KINDS
        ).exclude(conversation=None)
        if state.swept_until is not None:
            # The first sweep of a merchant reads its whole history.
            instants = instants.filter(at__gte=state.swept_until - SWEEP_OVERLAP)
        instants = instants.values_list("conversation__created_at", flat=True).distinct()
        tz = merchant_zone(merchant)
        days = sorted(_days_of(merchant.pk, tz, instants))
        for day in days:
            day_rollup(merchant_id=merchant.pk, day=day, months=False)
            rebuilt += 1
        months_rollup(merchant_id=merchant.pk, days=days)
        RollupState.objects.filter(pk=merchant.pk).update(swept_until=now)
    return rebuilt
