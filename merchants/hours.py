"""Business hours: is a merchant open now, and when does it open next.

Hours are wall-clock times in the merchant's time zone (BusinessHours: several intervals per
weekday allowed; Holiday: a date closed all day or open only at special hours). Everything is
compared in local wall-clock time and only converted to an instant at the end, so a DST change
moves the instant of "09:00" but never the opening itself.

A TimeField cannot say 24:00, so an interval closing at 23:59 counts as open until midnight.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.utils import timezone

from .models import Holiday, Merchant

END_OF_DAY = dt.time(23, 59)
# How far next_opening looks ahead: a year of holidays is the longest closure it can skip.
LOOKAHEAD_DAYS = 370

Interval = tuple[dt.time, dt.time]


def _tz(merchant: Merchant) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(merchant.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        # The model validates the name; a bad row must not take the widget down.
        return dt.UTC


def _local_now(merchant: Merchant, at: dt.datetime | None) -> dt.datetime:
    at = at or timezone.now()
    if timezone.is_naive(at):
        at = timezone.make_aware(at)
    return at.astimezone(_tz(merchant))


def _weekly(merchant: Merchant) -> dict[int, list[Interval]]:
    """{weekday: [(opens, closes), ...] sorted}. Uses a prefetched `business_hours` if there."""
    by_day: dict[int, list[Interval]] = {}
    for row in merchant.business_hours.all():
        if row.closes > row.opens:  # the model's clean() says so; the database does not
            by_day.setdefault(row.weekday, []).append((row.opens, row.closes))
    for intervals in by_day.values():
        intervals.sort()
    return by_day


def _holidays(merchant: Merchant, first: dt.date, last: dt.date) -> dict[dt.date, list[Interval]]:
    """{date: intervals} for holidays in [first, last]; an empty list means closed all day."""
    found = {}
    for row in Holiday.objects.filter(merchant=merchant, date__range=(first, last)):
        if row.opens is not None and row.closes is not None and row.closes > row.opens:
            found[row.date] = [(row.opens, row.closes)]
        else:
            found[row.date] = []
    return found


def _contains(interval: Interval, t: dt.time) -> bool:
    opens, closes = interval
    return opens <= t and (t < closes or closes >= END_OF_DAY)


def is_open(merchant: Merchant, at: dt.datetime | None = None) -> bool:
    """Whether `merchant` is within business hours at `at` (default now), in its time zone,
    holidays included. Always True when business hours are not enabled."""
    if not merchant.business_hours_enabled:
        return True
    local = _local_now(merchant, at)
    day = local.date()
    holiday = _holidays(merchant, day, day)
    intervals = holiday[day] if day in holiday else _weekly(merchant).get(day.weekday(), [])
    return any(_contains(i, local.time()) for i in intervals)


def _instant(day: dt.date, t: dt.time, tz: dt.tzinfo) -> dt.datetime:
    """The moment the wall clock first reads `t` or later on `day`. A time skipped by a
    spring-forward change (02:30 on the night clocks jump from 02:00 to 03:00) gives the moment
    of the jump, which is also when is_open() starts to say yes."""
    wall = dt.datetime.combine(day, t)
    moment = wall.replace(tzinfo=tz).astimezone(dt.UTC)
    if moment.astimezone(tz).replace(tzinfo=None) == wall:
        return moment.astimezone(tz)
    # In a gap: the jump lies between the readings with the offsets before and after it.
    other = wall.replace(tzinfo=tz, fold=1).astimezone(dt.UTC)
    lo, hi = min(moment, other), max(moment, other)
    while hi - lo > dt.timedelta(microseconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return hi.astimezone(tz)


def next_opening(merchant: Merchant, at: dt.datetime | None = None) -> dt.datetime | None:
    """When the merchant is open next, as an aware datetime in its time zone: `at` itself when
    open now; None when business hours are off (always open) or no opening is found within
    about a year (no weekly hours at all)."""
    if not merchant.business_hours_enabled:
        return None
    tz = _tz(merchant)
    local = _local_now(merchant, at)
    weekly = _weekly(merchant)
    first = local.date()
    holidays = _holidays(merchant, first, first + dt.timedelta(days=LOOKAHEAD_DAYS))
    if not weekly and not any(holidays.values()):
        return None
    for offset in range(LOOKAHEAD_DAYS + 1):
        day = first + dt.timedelta(days=offset)
        intervals = holidays[day] if day in holidays else weekly.get(day.weekday(), [])
        for interval in intervals:
            if offset == 0 and _contains(interval, local.time()):
                return local
            start = _instant(day, interval[0], tz)
            if start > local:
                return start
    return None
