"""bench/reports.py works end to end on a small year (the full run is 100,000 conversations,
docs/reports.md "Performance")."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from rest_framework.test import APIClient

from bench import reports as bench
from conversations.models import Conversation
from reports import rollup, selectors


@pytest.mark.slow
def test_the_bench_builds_a_year_rolls_it_up_and_times_the_requests(db):
    merchant, raw = bench.build(400, random.Random(0))
    assert Conversation.objects.filter(merchant=merchant).count() == 400
    assert rollup.merchant_rebuild(merchant_id=merchant.pk) == 400
    today = dt.date.today()
    period = selectors.Period(today - dt.timedelta(days=365), today)
    summary = selectors.report_summary(merchant_id=merchant.pk, period=period)
    assert summary["current"]["started"] == 400
    assert summary["current"]["first_response_median"] is not None
    client = APIClient(SERVER_NAME="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    out = bench.timed(
        client,
        "/api/v1/reports/breakdown/",
        {"from": period.start.isoformat(), "to": period.end.isoformat(), "by": "page"},
        3,
    )
    assert 0 < out["p50_ms"] <= out["p99_ms"] <= out["max_ms"]
    params = {"from": period.start.isoformat(), "to": period.end.isoformat(), "by": "page"}
    queries, rows = bench.cost(client, "/api/v1/reports/breakdown/", params, merchant)
    # The page breakdown reads the year's whole months as month rows: far fewer rows than
    # one per day and page.
    day_rows = rollup.DayFigures.objects.filter(merchant=merchant, dimension="page").count()
    assert 0 < rows < day_rows and queries <= 5
