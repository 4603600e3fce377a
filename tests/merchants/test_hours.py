"""merchants.hours: weekly intervals (several a day), holidays (closed or special hours), the
merchant's time zone and DST, and next_opening for "we open again Monday 09:00"."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from merchants.hours import is_open, next_opening
from merchants.models import BusinessHours, Holiday
from tests import factories

SH = ZoneInfo("Asia/Shanghai")
T = dt.time


def at(y, m, d, hh, mm=0, tz=SH):
    return dt.datetime(y, m, d, hh, mm, tzinfo=tz)


@pytest.fixture
def shop(db):
    """Mon-Fri 09:00-12:00 and 13:30-18:00, Saturday 10:00-14:00, closed Sunday (Shanghai)."""
    merchant = factories.merchant(
        "Hours shop", business_hours_enabled=True, timezone="Asia/Shanghai"
    )
    for weekday in range(5):
        BusinessHours.objects.create(merchant=merchant, weekday=weekday, opens=T(9), closes=T(12))
        BusinessHours.objects.create(
            merchant=merchant, weekday=weekday, opens=T(13, 30), closes=T(18)
        )
    BusinessHours.objects.create(merchant=merchant, weekday=5, opens=T(10), closes=T(14))
    return merchant


# 2026-11-23 is a Monday.
@pytest.mark.parametrize(
    "moment, expected",
    [
        (at(2026, 11, 23, 8, 59), False),
        (at(2026, 11, 23, 9, 0), True),  # opening time is inside
        (at(2026, 11, 23, 11, 59), True),
        (at(2026, 11, 23, 12, 0), False),  # closing time is outside
        (at(2026, 11, 23, 12, 45), False),  # lunch gap between two intervals
        (at(2026, 11, 23, 13, 30), True),
        (at(2026, 11, 23, 17, 59), True),
        (at(2026, 11, 23, 18, 0), False),
        (at(2026, 11, 28, 11, 0), True),  # Saturday's own hours
        (at(2026, 11, 28, 15, 0), False),
        (at(2026, 11, 29, 11, 0), False),  # Sunday: no rows
    ],
)
def test_weekly_intervals(shop, moment, expected):
    assert is_open(shop, moment) is expected


def test_time_zone_is_the_merchant_s(shop):
    # 02:00 UTC Monday is 10:00 in Shanghai: open. 10:00 UTC is 18:00 there: closed.
    utc = dt.UTC
    assert is_open(shop, dt.datetime(2026, 11, 23, 2, 0, tzinfo=utc))
    assert not is_open(shop, dt.datetime(2026, 11, 23, 10, 0, tzinfo=utc))
    # Sunday 23:30 UTC is already Monday 07:30 in Shanghai: closed, opening at 09:00 local.
    assert next_opening(shop, dt.datetime(2026, 11, 22, 23, 30, tzinfo=utc)) == at(2026, 11, 23, 9)
    shop.timezone = "America/Los_Angeles"
    # The same instant, 02:00 UTC Monday, is Sunday 18:00 in Los Angeles: closed.
    assert not is_open(shop, dt.datetime(2026, 11, 23, 2, 0, tzinfo=utc))
    assert is_open(shop, dt.datetime(2026, 11, 23, 18, 0, tzinfo=utc))  # 10:00 Monday there


def test_disabled_hours_mean_always_open(shop):
    shop.business_hours_enabled = False
    assert is_open(shop, at(2026, 11, 29, 3))
    assert next_opening(shop, at(2026, 11, 29, 3)) is None


def test_no_hours_at_all_is_closed_with_no_next_opening(db):
    merchant = factories.merchant(business_hours_enabled=True)
    assert not is_open(merchant, at(2026, 11, 23, 10))
    assert next_opening(merchant, at(2026, 11, 23, 10)) is None


def test_holiday_closed_all_day(shop):
    Holiday.objects.create(merchant=shop, date=dt.date(2026, 11, 23), name="Closed Monday")
    assert not is_open(shop, at(2026, 11, 23, 10))
    # Tuesday is a normal day again.
    assert is_open(shop, at(2026, 11, 24, 10))
    assert next_opening(shop, at(2026, 11, 23, 10)) == at(2026, 11, 24, 9)


def test_holiday_with_special_hours_replaces_the_weekly_ones(shop):
    # Open only 10:00-12:00 on Monday, and on a Sunday that is normally closed.
    Holiday.objects.create(merchant=shop, date=dt.date(2026, 11, 23), opens=T(10), closes=T(12))
    Holiday.objects.create(merchant=shop, date=dt.date(2026, 11, 29), opens=T(20), closes=T(22))
    assert not is_open(shop, at(2026, 11, 23, 9, 30))
    assert is_open(shop, at(2026, 11, 23, 10, 30))
    assert not is_open(shop, at(2026, 11, 23, 14))  # the weekly afternoon does not apply
    assert is_open(shop, at(2026, 11, 29, 21))
    assert next_opening(shop, at(2026, 11, 29, 12)) == at(2026, 11, 29, 20)


def test_other_merchant_s_holiday_does_not_apply(shop, other):
    Holiday.objects.create(merchant=other, date=dt.date(2026, 11, 23))
    assert is_open(shop, at(2026, 11, 23, 10))


@pytest.mark.parametrize(
    "moment, expected",
    [
        (at(2026, 11, 23, 10), at(2026, 11, 23, 10)),  # open now: now
        (at(2026, 11, 23, 7), at(2026, 11, 23, 9)),  # before opening, same day
        (at(2026, 11, 23, 12, 30), at(2026, 11, 23, 13, 30)),  # lunch: the afternoon interval
        (at(2026, 11, 27, 19), at(2026, 11, 28, 10)),  # Friday evening: Saturday 10:00
        (at(2026, 11, 28, 15), at(2026, 11, 30, 9)),  # Saturday after close: Monday 09:00
        (at(2026, 11, 29, 12), at(2026, 11, 30, 9)),  # Sunday
    ],
)
def test_next_opening(shop, moment, expected):
    found = next_opening(shop, moment)
    assert found == expected
    assert found.utcoffset() == dt.timedelta(hours=8)  # in the merchant's zone, for display


def test_next_opening_skips_a_long_closure(shop):
    for day in range(1, 31):
        Holiday.objects.create(merchant=shop, date=dt.date(2026, 12, day), name="closed")
    assert next_opening(shop, at(2026, 11, 30, 19)) == at(2026, 12, 31, 9)


def test_interval_ending_23_59_runs_to_midnight(db):
    merchant = factories.merchant(business_hours_enabled=True, timezone="Asia/Shanghai")
    BusinessHours.objects.create(merchant=merchant, weekday=0, opens=T(20), closes=T(23, 59))
    assert is_open(merchant, dt.datetime(2026, 11, 23, 23, 59, 30, tzinfo=SH))
    assert not is_open(merchant, at(2026, 11, 24, 0, 0))


@pytest.fixture
def berlin(db):
    merchant = factories.merchant(business_hours_enabled=True, timezone="Europe/Berlin")
    for weekday in range(7):
        BusinessHours.objects.create(merchant=merchant, weekday=weekday, opens=T(9), closes=T(17))
    # 02:00-04:00 on Sunday 2026-03-29 crosses the spring-forward jump 02:00 -> 03:00.
    Holiday.objects.create(
        merchant=merchant, date=dt.date(2026, 3, 29), opens=T(2, 30), closes=T(4)
    )
    return merchant


def test_dst_the_wall_clock_opening_holds_on_both_sides(berlin):
    berlin_tz = ZoneInfo("Europe/Berlin")
    utc = dt.UTC
    # Saturday before the change (UTC+1): 09:00 local is 08:00 UTC.
    assert is_open(berlin, dt.datetime(2026, 3, 28, 8, 0, tzinfo=utc))
    assert not is_open(berlin, dt.datetime(2026, 3, 28, 7, 59, tzinfo=utc))
    # Monday after the change (UTC+2): 09:00 local is 07:00 UTC.
    assert is_open(berlin, dt.datetime(2026, 3, 30, 7, 0, tzinfo=utc))
    assert not is_open(berlin, dt.datetime(2026, 3, 30, 6, 59, tzinfo=utc))
    monday = next_opening(berlin, dt.datetime(2026, 3, 29, 20, 0, tzinfo=utc))
    assert monday == dt.datetime(2026, 3, 30, 9, 0, tzinfo=berlin_tz)
    assert monday.astimezone(utc) == dt.datetime(2026, 3, 30, 7, 0, tzinfo=utc)
    # Autumn: the last Sunday of October, clocks go back 03:00 -> 02:00; 09:00 is 08:00 UTC.
    assert next_opening(berlin, dt.datetime(2026, 10, 25, 0, 30, tzinfo=utc)).astimezone(utc) == (
        dt.datetime(2026, 10, 25, 8, 0, tzinfo=utc)
    )


def test_dst_opening_inside_the_skipped_hour(berlin):
    utc = dt.UTC
    # 02:30 does not exist that night; the opening is the jump itself, 03:00 local (01:00
    # UTC), the first moment is_open() says yes, and it lasts until 04:00 local (02:00 UTC).
    opening = next_opening(berlin, dt.datetime(2026, 3, 28, 23, 0, tzinfo=utc))
    assert opening.astimezone(utc) == dt.datetime(2026, 3, 29, 1, 0, tzinfo=utc)
    assert is_open(berlin, opening)
    assert not is_open(berlin, opening.astimezone(utc) - dt.timedelta(seconds=1))
    assert is_open(berlin, dt.datetime(2026, 3, 29, 1, 45, tzinfo=utc))  # 03:45 local
    assert not is_open(berlin, dt.datetime(2026, 3, 29, 2, 0, tzinfo=utc))  # 04:00 local


def test_naive_datetime_is_taken_in_the_server_zone(shop, settings):
    settings.TIME_ZONE = "UTC"
    # 02:00 naive = 02:00 UTC = 10:00 Shanghai Monday.
    assert is_open(shop, dt.datetime(2026, 11, 23, 2, 0))


def test_prefetched_weekly_hours_cost_no_extra_query(shop, django_assert_num_queries):
    from merchants.models import Merchant

    merchant = Merchant.objects.prefetch_related("business_hours").get(pk=shop.pk)
    with django_assert_num_queries(1):  # the holiday lookup only
        assert is_open(merchant, at(2026, 11, 23, 10))
