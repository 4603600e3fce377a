"""The rollups give exactly the figures a direct count of the rows gives (docs/reports.md,
"Definitions"), for every dimension, medians and p90 included; a rebuild is idempotent; the
sweep finds facts whose signal was lost; a time-zone change rebuckets."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps as django_apps
from django.utils import translation

from conversations import events
from conversations.models import Conversation, ConversationEvent
from reports import rollup, samples, selectors
from reports.models import DayFigures, MonthFigures, RollupState
from tests import factories

from . import data

START = dt.date(2026, 3, 2)  # a Monday
DAYS = 6
FIGURES = (
    "started",
    "answered",
    "missed",
    "waiting",
    "bot_handled",
    "bot_resolved",
    "handed_over",
    "resolved",
    "rated",
    "satisfaction",
    "satisfied_share",
    "first_response_median",
    "first_response_p90",
    "resolution_median",
    "resolution_p90",
)

# Most tests build a dataset of 160 conversations (tests/conftest.py, estimated_seconds).
pytestmark = pytest.mark.cost(4)


@pytest.fixture
def dataset(acme, alice, bob):
    built = data.build(acme, [alice, bob], start=START, days=DAYS, n=160)
    rollup.merchant_rebuild(merchant_id=acme.pk)
    return built


def pick(figures: dict) -> dict:
    return {name: figures.get(name) for name in FIGURES}


def test_summary_matches_a_direct_count_and_compares_with_the_previous_period(acme, dataset):
    period = selectors.Period(START + dt.timedelta(days=3), START + dt.timedelta(days=DAYS - 1))
    summary = selectors.report_summary(merchant_id=acme.pk, period=period)
    current = data.direct(acme, period.start, period.end)[""]
    previous_period = period.previous()
    assert previous_period == selectors.Period(START, START + dt.timedelta(days=2))
    previous = data.direct(acme, previous_period.start, previous_period.end)[""]
    assert pick(summary["current"]) == pick(current)
    assert pick(summary["previous"]) == pick(previous)
    # The partition every figure relies on, and the data really exercises each part.
    c = summary["current"]
    assert c["started"] == c["answered"] + c["bot_resolved"] + c["missed"] + c["waiting"]
    assert min(c["answered"], c["bot_resolved"], c["missed"], c["waiting"]) > 0
    assert c["handover_rate"] == round(100 * c["handed_over"] / c["bot_handled"], 1)
    # Daily series and heat map add up; the heat map is by local weekday and hour.
    assert sum(d["started"] for d in summary["daily"]) == c["started"]
    assert [d["day"] for d in summary["daily"]] == [
        period.start + dt.timedelta(days=i) for i in range(period.days)
    ]
    hours = data.direct(acme, period.start, period.end, by="hour")
    for weekday in range(7):
        for hour in range(24):
            expected = hours.get(f"{weekday}:{hour}", {}).get("started", 0)
            assert summary["heatmap"][weekday][hour] == expected
    assert {r["reason"]: r["count"] for r in summary["reasons"]} == current["reasons"]


@pytest.mark.parametrize("by", ["agent", "team", "label", "source", "page"])
def test_breakdowns_match_a_direct_count(acme, dataset, by):
    period = selectors.Period(START, START + dt.timedelta(days=DAYS - 1))
    with translation.override("en"):
        rows = selectors.report_breakdown(merchant_id=acme.pk, period=period, by=by)
    expected = data.direct(acme, period.start, period.end, by=by)
    assert {row["key"]: pick(row) for row in rows} == {
        key: pick(figures) for key, figures in expected.items()
    }
    assert len(rows) > 1
    names = {row["key"]: row["name"] for row in rows}
    if by == "agent":
        assert "Alice 客服" in names.values() and names["-"] == "Unassigned"
    if by == "label":
        assert "=SUM(A1)" in names.values()
    if by == "page":
        assert names["https://shop.example.com/cart"] == "https://shop.example.com/cart"


def test_a_rebuild_is_idempotent_and_the_partial_range_rebuild_too(acme, dataset):
    def snapshot():
        fields = ("day", "dimension", "key", "started", "answered", "missed", "rating_sum")
        return sorted(
            (*row[:-2], bytes(row[-2]), bytes(row[-1]))
            for row in DayFigures.objects.filter(merchant=acme).values_list(*fields, "frt", "res")
        )

    before = snapshot()
    assert before and any(row[-1] for row in before)
    rollup.merchant_rebuild(merchant_id=acme.pk)
    rollup.days_rollup(merchant_id=acme.pk, start=START, end=START + dt.timedelta(days=2))
    assert snapshot() == before


def test_a_later_fact_changes_its_start_day_only_and_the_sweep_finds_it(acme, bob, dataset):
    conversation = Conversation.objects.filter(merchant=acme, rating=None).order_by("id").first()
    tz = rollup.merchant_zone(acme)
    day = conversation.created_at.astimezone(tz).date()
    period = selectors.Period(day, day)
    before = selectors.report_summary(merchant_id=acme.pk, period=period)["current"]
    Conversation.objects.filter(pk=conversation.pk).update(rating=5)
    events.record_event(
        ConversationEvent.Kind.RATED,
        merchant_id=acme.pk,
        conversation=conversation,
        data={"rating": 5},
    )
    # The signal was lost (no worker here): the sweep rebuilds that day from the row.
    assert rollup.rollup_sweep() >= 1
    after = selectors.report_summary(merchant_id=acme.pk, period=period)["current"]
    assert after["rated"] == before["rated"] + 1
    assert pick(after) == pick(data.direct(acme, day, day)[""])


def test_a_time_zone_change_rebuckets_every_day(acme, dataset):
    period = selectors.Period(START, START + dt.timedelta(days=DAYS - 1))
    shanghai = selectors.report_summary(merchant_id=acme.pk, period=period)["heatmap"]
    acme.timezone = "America/New_York"
    acme.save(update_fields=["timezone"])
    rollup.rollup_sweep()
    assert RollupState.objects.get(merchant=acme).time_zone == "America/New_York"
    summary = selectors.report_summary(merchant_id=acme.pk, period=period)
    assert summary["heatmap"] != shanghai
    assert pick(summary["current"]) == pick(data.direct(acme, period.start, period.end)[""])


def test_an_empty_range_has_no_figures_and_no_division_by_zero(acme):
    factories.visitor(acme)
    summary = selectors.report_summary(merchant_id=acme.pk, period=selectors.Period(START, START))
    assert summary["current"]["started"] == 0
    assert summary["current"]["answer_rate"] is None
    assert summary["current"]["first_response_median"] is None


def test_quantile_is_nearest_rank_over_joined_days():
    days = [samples.pack([4, 1]), b"", samples.pack([3, 2])]
    assert samples.quantile(samples.join(days), 0.5) == 2
    assert samples.quantile(samples.join([samples.pack([5] * 9 + [100])]), 0.9) == 5
    assert samples.quantile(samples.join([samples.pack([5] * 8 + [100] * 2)]), 0.9) == 100
    assert samples.quantile(samples.join([]), 0.5) is None


# --- Month rows: whole months from MonthFigures, the edge days from DayFigures -----------------

EDGE_START = dt.date(2026, 3, 29)  # the data runs to 5 April, a few hours either side


@pytest.fixture
def across_months(acme, alice, bob):
    built = data.build(acme, [alice, bob], start=EDGE_START, days=8, n=160, seed=11)
    rollup.merchant_rebuild(merchant_id=acme.pk)
    return built


def _breakdown_matches(acme, period, by="page"):
    rows = selectors.report_breakdown(merchant_id=acme.pk, period=period, by=by)
    expected = data.direct(acme, period.start, period.end, by=by)
    assert {row["key"]: pick(row) for row in rows} == {
        key: pick(figures) for key, figures in expected.items()
    }
    return rows


@pytest.mark.parametrize(
    "start, end, months",
    [
        # Two whole months, no edge days.
        (dt.date(2026, 3, 1), dt.date(2026, 4, 30), [(2026, 3, 1), (2026, 4, 1)]),
        # Edge days before a whole month.
        (dt.date(2026, 3, 30), dt.date(2026, 4, 30), [(2026, 4, 1)]),
        # A whole month, then edge days.
        (dt.date(2026, 3, 1), dt.date(2026, 4, 3), [(2026, 3, 1)]),
        # Edge days either side of a whole month.
        (dt.date(2026, 2, 27), dt.date(2026, 4, 2), [(2026, 3, 1)]),
        # No whole month: the day rows only.
        (dt.date(2026, 3, 31), dt.date(2026, 4, 2), []),
        (dt.date(2026, 4, 1), dt.date(2026, 4, 1), []),
    ],
)
def test_a_breakdown_from_month_and_edge_day_rows_matches_a_direct_count(
    acme, across_months, start, end, months
):
    period = selectors.Period(start, end)
    whole = selectors.whole_months(period)
    if months:
        assert whole == (
            dt.date(*months[0]),
            rollup.month_of(dt.date(*months[-1]) + dt.timedelta(days=31)) - dt.timedelta(days=1),
        )
    else:
        assert whole is None
    for by in ("page", "agent", "label"):
        rows = _breakdown_matches(acme, period, by)
    assert sum(row["started"] for row in rows) > 0


def test_month_rows_are_the_sum_of_their_days_and_follow_every_rollup(acme, bob, across_months):
    march = (
        MonthFigures.objects.filter(merchant=acme, month=dt.date(2026, 3, 1), dimension="page")
        .order_by("-started")
        .first()
    )
    days = DayFigures.objects.filter(merchant=acme, day__month=3, dimension="page", key=march.key)
    assert march.started == sum(d.started for d in days) > 0
    assert bytes(march.frt) == samples.merge(d.frt for d in days)
    assert not MonthFigures.objects.filter(merchant=acme, dimension="all").exists()
    # A later fact about a March conversation: its day's rollup rebuilds March too.
    tz = rollup.merchant_zone(acme)
    conversation = next(
        c
        for c in Conversation.objects.filter(merchant=acme, rating=None).order_by("id")
        if c.created_at.astimezone(tz).date() == dt.date(2026, 3, 30)
    )
    Conversation.objects.filter(pk=conversation.pk).update(rating=2)
    rollup.day_rollup(merchant_id=acme.pk, day=dt.date(2026, 3, 30))
    _breakdown_matches(acme, selectors.Period(dt.date(2026, 3, 1), dt.date(2026, 3, 31)))


def test_month_rows_follow_the_merchants_time_zone(acme, across_months):
    """A conversation just after local midnight on 1 April in Shanghai is still in March in
    New York: the months are the merchant's local months, rebuilt with the days."""
    period = selectors.Period(dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    shanghai = _breakdown_matches(acme, period)
    acme.timezone = "America/New_York"
    acme.save(update_fields=["timezone"])
    rollup.rollup_sweep()
    new_york = _breakdown_matches(acme, period)
    assert sum(r["started"] for r in new_york) > sum(r["started"] for r in shanghai)
    assert not MonthFigures.objects.filter(merchant=acme, month=dt.date(2026, 2, 1)).exists()
    _breakdown_matches(acme, selectors.Period(dt.date(2026, 4, 1), dt.date(2026, 4, 30)))


def test_the_migration_fills_month_rows_from_existing_day_rows(acme, across_months):
    before = sorted(
        MonthFigures.objects.filter(merchant=acme).values_list(
            "month", "dimension", "key", "started"
        )
    )
    MonthFigures.objects.all().delete()
    fill = importlib.import_module("reports.migrations.0002_month_rollup").fill_months
    fill(django_apps, None)
    after = sorted(
        MonthFigures.objects.filter(merchant=acme).values_list(
            "month", "dimension", "key", "started"
        )
    )
    assert after == before and before
